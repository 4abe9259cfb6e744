"""Comparing two versions of a process: files, and model elements by id and attributes (diagram layout left out)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from workflows.infra import safexml

_DI = ("http://www.omg.org/spec/BPMN/20100524/DI", "https://www.omg.org/spec/DMN/20191111/DMNDI/")


def compare_files(old_files: Mapping[str, str], new_files: Mapping[str, str]) -> dict[str, Any]:
    """Files added, removed and changed, and the BPMN/DMN elements (and user-task forms) that changed."""
    paths = sorted(set(old_files) | set(new_files))
    files = {
        "added": [p for p in paths if p not in old_files],
        "removed": [p for p in paths if p not in new_files],
        "changed": [p for p in paths if p in old_files and p in new_files and old_files[p] != new_files[p]],
    }
    elements: dict[str, dict[str, Any]] = {}
    for path in paths:
        if path.endswith((".bpmn", ".dmn")):
            _diff_xml(path, old_files.get(path), new_files.get(path), elements)
    for path in files["changed"] + files["added"] + files["removed"]:
        task = (
            path[len("forms/") : -len(".json")]
            if path.startswith("forms/") and path.endswith(".json")
            else None
        )
        if task and task in elements and elements[task]["change"] == "changed":
            elements[task]["details"].append("form")
        elif (
            task
            and any(task in _ids(v.get("process.bpmn")) for v in (old_files, new_files))
            and task not in elements
        ):
            elements[task] = {
                "id": task,
                "type": "userTask",
                "name": "",
                "file": path,
                "change": "changed",
                "details": ["form"],
            }
    return {
        "files": files,
        "elements": sorted(elements.values(), key=lambda e: (e["file"], e["change"], e["id"])),
    }


def _ids(text: str | None) -> set[str]:
    return set(_elements(text))


def _elements(text: str | None) -> dict[str, tuple[str, str, dict[str, str], Any]]:
    """Semantic elements with an id (diagram layout excluded): id → (type, name, attributes, content)."""
    if not text:
        return {}
    try:
        root = safexml.parse(text)
    except (etree.XMLSyntaxError, safexml.UnsafeXml):
        return {}
    found = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or element.get("id") is None:
            continue
        if etree.QName(element).namespace in _DI:
            continue
        attrs = {k: v for k, v in element.attrib.items() if k != "id"}
        found[element.get("id")] = (
            etree.QName(element).localname,
            element.get("name", ""),
            attrs,
            _content(element),
        )
    return found


def _content(element: Any) -> Any:
    """An element's own text and its children without ids (theirs are compared on their own)."""
    children = [
        (c.tag, sorted(c.attrib.items()), _content(c))
        for c in element
        if isinstance(c.tag, str) and c.get("id") is None
    ]
    return ((element.text or "").strip(), children)


def _diff_xml(path: str, old: str | None, new: str | None, out: dict[str, dict[str, Any]]) -> None:
    before, after = _elements(old), _elements(new)
    for element_id in sorted(set(before) | set(after)):
        a, b = before.get(element_id), after.get(element_id)
        kind, name = (b or a)[0], (b or a)[1]  # type: ignore[index]
        if a is None or b is None:
            change, details = ("added" if a is None else "removed"), []
        else:
            details = sorted(k for k in set(a[2]) | set(b[2]) if a[2].get(k) != b[2].get(k))
            details += ["content"] if a[3] != b[3] else []
            details += ["type"] if a[0] != b[0] else []
            if not details:
                continue
            change = "changed"
        out[element_id] = {
            "id": element_id,
            "type": kind,
            "name": name,
            "file": path,
            "change": change,
            "details": details,
        }
