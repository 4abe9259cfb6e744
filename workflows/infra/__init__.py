"""Infrastructure every other package stands on: the clock (``clock``), the domain errors (``errors``), settings
from the environment (``settings``), the typed tables (``models``) and the engine/session factory (``db``).

Owns: how time, errors, configuration and persistence are done. May import: the standard library, SQLAlchemy,
pydantic — nothing else of Shouhu.
"""
