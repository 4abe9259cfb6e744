"""Cases: one action = one transaction (``actions``), starting cases, timers, corrections and history
(``lifecycle``), human tasks (``human_tasks``, ``drafts``, ``worklist``), read models with the access log
(``views``), replay and verify (``replay``), moving running cases to a new version (``migration``), the messages a
case throws (``messages``: the contract; owners register the effects) and staff changes (``handover``).

Owns: everything that changes or reads a running case. May import: ``infra``, ``sandbox``, ``forms``, ``engine``,
``people``, ``log``, ``processes``, ``outbox``.
"""
