"""People and what they may do: the roles of domain.md (``roles``), role × jurisdiction rules decided in one
place (``access``), real-name accounts, sign-in and certification (``accounts``).

Owns: who someone is and where they may act. May import: ``infra``. Effects on cases (a leaving worker's tasks)
live in ``cases.handover``, which calls down into this package.
"""
