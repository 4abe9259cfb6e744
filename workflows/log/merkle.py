"""A Merkle tree over case-log heads (leaf and node hashes domain-separated, as in RFC 6962).

leaf = sha256(0x00 ‖ canonical_json([case_id, seq, hash])), node = sha256(0x01 ‖ left ‖ right);
leaves in case-id order; an odd node at the end of a level is carried up unchanged; no leaves: sha256("").
A proof is the list of sibling hashes from the leaf up, each with the side it sits on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from workflows.log.events import canonical

Head = tuple[str, int, str]  # case id, last seq, last hash


def leaf_hash(head: Sequence[Any]) -> str:
    case_id, seq, last_hash = head
    return hashlib.sha256(b"\x00" + canonical([case_id, seq, last_hash])).hexdigest()


def node_hash(left: str, right: str) -> str:
    return hashlib.sha256(b"\x01" + bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


def _levels(leaves: list[str]) -> list[list[str]]:
    levels = [leaves]
    while len(levels[-1]) > 1:
        level = levels[-1]
        up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
    return levels


def root(heads: Sequence[Sequence[Any]]) -> str:
    """The root over heads already sorted by case id."""
    if not heads:
        return hashlib.sha256(b"").hexdigest()
    return _levels([leaf_hash(h) for h in heads])[-1][0]


def proof(heads: Sequence[Sequence[Any]], index: int) -> list[dict[str, str]]:
    """The sibling path of leaf ``index`` up to the root."""
    path = []
    for level in _levels([leaf_hash(h) for h in heads])[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append({"side": "left" if sibling < index else "right", "hash": level[sibling]})
        index //= 2
    return path


def root_from_proof(head: Sequence[Any], path: Sequence[dict[str, str]]) -> str:
    """The root a leaf and its path lead to (compare it with the signed root)."""
    current = leaf_hash(head)
    for step in path:
        if step["side"] == "left":
            current = node_hash(step["hash"], current)
        elif step["side"] == "right":
            current = node_hash(current, step["hash"])
        else:
            raise ValueError("证明路径的方向应为 left 或 right")
    return current
