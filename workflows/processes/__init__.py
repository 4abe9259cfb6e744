"""Process models: versions registered by content hash and parsed once (``registry``), the checks a version must
pass (``validation``, ``validation_content``), labelling terms (``labelling``), administrators' drafts, publishing
and roll-back (``versions``) and comparing two versions (``compare``).

Owns: which model a case runs on. May import: ``infra``, ``sandbox``, ``forms``, ``engine``, ``people``.
"""
