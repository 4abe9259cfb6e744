"""One file per child (一人一档): the registry with its own hash-chained record (``registry``), a file gathered
from the cases that carry the child (``file_view``), files linked to cases, merged, and written from an approved
identification case (``links``), import and export (``exchange``).

Owns: children's files. May import: every package below it, ``cases`` included.
"""
