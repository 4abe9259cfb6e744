"""Task forms: JSON-schema validators built once per form, with a Chinese message per field (``validator``);
``schemas`` builds them safely (references only inside the version, patterns on RE2, date-times).

Owns: what a person may submit to a user task or a start event (unknown fields refused). May import: ``infra``.
"""
