"""Statutory papers: one Jinja2 environment (``rendering``), documents rendered from a case and uploaded
attachments, each recorded in the case log by hash (``documents``).

Owns: what is printed or attached. May import: every package below it.
"""
