"""Operating the system: the ``shouhu`` command (``cli``), preparing a database (``bootstrap``), backups
(``backup``), demo data (``demo``, ``demo_cases``) and the composition root that installs message effects
(``wiring``).

Owns: start-up and administration. May import: everything in ``workflows``.
"""
