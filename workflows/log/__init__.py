"""The case log (``events``): canonical JSON, one append-only sha256 hash chain per case, checked end to end.

Owns: the log's format (docs/architecture.md fixes it) and the chain check. May import: ``infra``.
"""
