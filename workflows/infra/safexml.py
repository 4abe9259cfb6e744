"""Parsing model XML (BPMN, DMN) that administrators upload: no DTD, no entities, nothing fetched.

A BPMN or DMN file never needs a document type: one that declares it (``<!DOCTYPE``, ``<!ENTITY``) is
refused before parsing, so neither an external entity (``file:///etc/passwd``) nor an entity expansion
(billion laughs) can reach the parser. The parser itself resolves no entities, reads no DTD, never uses
the network and keeps libxml2's limits on depth and size (no ``huge_tree``).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
NO_DOCTYPE = "模型文件不得声明 DOCTYPE 或实体（<!DOCTYPE>、<!ENTITY>），请删除后重新上传"


class UnsafeXml(ValueError):
    """The file declares a document type or entities."""


def parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
    )


def parse(text: str | bytes) -> Any:
    """The root element; UnsafeXml for a declaration, etree.XMLSyntaxError for anything malformed."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if _DECLARATION.search(data):
        raise UnsafeXml(NO_DOCTYPE)
    return etree.fromstring(data, parser())
