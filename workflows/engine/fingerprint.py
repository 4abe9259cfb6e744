"""The digest of a case's observable state, logged with every event and recomputed by replay."""

from __future__ import annotations

import hashlib
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

# json.dumps(view, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str): the C encoder it
# builds on every call, built once (no check for circular references: the view is plain data)
_ENCODE = c_make_encoder(None, str, encode_basestring, None, ":", ",", True, False, True)


def fingerprint(view: dict[str, Any]) -> str:
    """sha256 of the view's JSON (sorted keys, compact, UTF-8, anything else as ``str``)."""
    return hashlib.sha256("".join(_ENCODE(view, 0)).encode("utf-8")).hexdigest()
