"""Check a case export file with no database: form, signature, chain, model files, papers, checkpoint proof."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from workflows.infra.clock import parse_iso
from workflows.infra.keys import ALGORITHM, key_id, parse_public, verify_with
from workflows.log import checkpoints, merkle
from workflows.log.events import GENESIS, canonical, event_hash
from workflows.ops.export import FORMAT
from workflows.processes.registry import content_hash

Trusted = dict[str, Ed25519PublicKey] | None


@dataclass
class ExportCheck:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_export(raw: bytes, trusted_keys: list[str] | None = None) -> ExportCheck:
    """Every check of an export file; ``trusted_keys``: the signer's published public keys (base64)."""
    result = ExportCheck()
    trusted = {key_id(k): k for k in map(parse_public, trusted_keys or [])} or None
    try:
        document = json.loads(raw.decode("utf-8"))
        if canonical(document) != raw:
            raise ValueError("不是规范格式")
        body, signature = document["body"], document["signature"]
        if set(document) != {"format", "body", "signature"}:
            raise ValueError("顶层只能有 format、body、signature")
        if document.get("format") != FORMAT:
            raise ValueError(f"格式应为 {FORMAT}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        result.problems.append(f"文件格式无效（{exc}）：文件被改动或不是守护导出的核验文件")
        return result
    for check in (_check_signature, _check_chain, _check_versions, _check_papers, _check_checkpoint):
        try:
            check(result, body, signature, trusted)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            result.problems.append(f"文件内容不完整（{check.__name__[7:]}：{exc}）")
    return result


def _signer(
    result: ExportCheck, public_key: str, kid: str, trusted: Trusted, what: str
) -> Ed25519PublicKey | None:
    """The key to check a signature with: a trusted one by id, or (no trusted keys given) the embedded one."""
    embedded = parse_public(public_key)
    if key_id(embedded) != kid:
        result.problems.append(f"{what}的密钥编号与所附公钥不符")
        return None
    if trusted is None:
        result.notes.append(
            f"未提供可信公钥：{what}仅按文件所附公钥（编号 {kid}）核对，请与机构公布的公钥比对"
        )
        return embedded
    if kid not in trusted:
        result.problems.append(f"{what}的签名密钥（编号 {kid}）不是所提供的可信公钥")
        return None
    return trusted[kid]


def _check_signature(result: ExportCheck, body: Any, signature: dict[str, Any], trusted: Trusted) -> None:
    if signature["algorithm"] != ALGORITHM or set(signature) != {
        "algorithm",
        "key_id",
        "public_key",
        "value",
    }:
        result.problems.append(f"导出文件的签名格式无效（算法应为 {ALGORITHM}）")
    key = _signer(result, signature["public_key"], signature["key_id"], trusted, "导出文件")
    if key is not None:
        problem = verify_with(key, canonical(body), signature["value"], signature["key_id"])
        if problem:
            result.problems.append(f"导出文件的签名无效：{problem}")


def _check_chain(result: ExportCheck, body: dict[str, Any], *_: Any) -> None:
    case, events = body["case"], body["events"]
    prev = GENESIS
    for n, event in enumerate(events, start=1):
        if event["seq"] != n or event["prev_hash"] != prev:
            result.problems.append(f"事件 #{n} 缺失或顺序被打乱")
            return
        recomputed = event_hash(
            case_id=case["id"],
            seq=event["seq"],
            type=event["type"],
            actor=event["actor"],
            occurred_at=parse_iso(event["occurred_at"]),
            payload=event["payload"],
            prev_hash=event["prev_hash"],
        )
        if recomputed != event["hash"]:
            result.problems.append(f"事件 #{n}（{event['type']}）的内容被改动：哈希不符")
            return
        prev = event["hash"]
    if case["last_event_seq"] != len(events) or case["last_event_hash"] != prev:
        result.problems.append("案件记录的最后事件与日志不符：日志末尾缺失")
    result.notes.append(f"哈希链：{len(events)} 个事件完整")


def _check_versions(result: ExportCheck, body: dict[str, Any], *_: Any) -> None:
    versions = body["versions"]
    for claimed, version in versions.items():
        for called in version["calls"]:
            if called not in versions:
                result.problems.append(f"流程版本 {claimed[:12]} 调用的版本 {called[:12]} 未随文件导出")
        if content_hash(version["files"], version["calls"]) != claimed:
            result.problems.append(
                f"流程版本 {claimed[:12]}（{version['process_key']}）的模型文件与其哈希不符"
            )
    named = {body["case"]["process_version"]}
    for event in body["events"]:
        if event["type"] in ("case_started", "case_migrated"):
            named |= {event["payload"].get(k) for k in ("version", "from_version", "to_version")} - {None}
    for missing in sorted(named - set(versions)):
        result.problems.append(f"日志所用的流程版本 {missing[:12]} 未随文件导出")
    result.notes.append(f"流程版本：{len(versions)} 个，模型文件哈希一致")


def _check_papers(result: ExportCheck, body: dict[str, Any], *_: Any) -> None:
    logged = {
        e["payload"].get("document_id"): e["payload"]
        for e in body["events"]
        if e["type"] == "document_issued"
    }
    for paper in body["documents"]:
        entry = logged.get(paper["id"])
        if entry is None or entry.get("sha256") != paper["sha256"]:
            result.problems.append(f"文书 {paper['title']}（#{paper['id']}）的哈希与案件日志不符")
        elif paper.get("pdf_sha256") and entry.get("pdf_sha256") not in (None, paper["pdf_sha256"]):
            result.problems.append(f"文书 {paper['title']}（#{paper['id']}）的 PDF 哈希与案件日志不符")
    attached = {
        e["payload"].get("attachment_id"): e["payload"]
        for e in body["events"]
        if e["type"] == "attachment_added"
    }
    for item in body["attachments"]:
        if attached.get(item["id"], {}).get("sha256") != item["sha256"]:
            result.problems.append(f"附件 {item['filename']}（#{item['id']}）的哈希与案件日志不符")


def _check_checkpoint(result: ExportCheck, body: dict[str, Any], _sig: Any, trusted: Trusted) -> None:
    cp = body["checkpoint"]
    if cp is None:
        result.notes.append("案件在最近的签名检查点之后创建：文件中没有检查点证明")
        return
    statement = checkpoints.statement(
        created_at=parse_iso(cp["created_at"]),
        cases=cp["cases"],
        root=cp["root"],
        previous=cp["previous"],
        key_id=cp["key_id"],
        algorithm=cp["algorithm"],
    )
    key = _signer(result, cp["public_key"], cp["key_id"], trusted, f"检查点 #{cp['id']} ")
    problem = verify_with(key, statement, cp["signature"], cp["key_id"]) if key is not None else None
    if problem:
        result.problems.append(f"检查点 #{cp['id']} 的签名无效：{problem}")
    case_id, seq, head_hash = cp["head"]
    if case_id != body["case"]["id"] or merkle.root_from_proof(cp["head"], cp["path"]) != cp["root"]:
        result.problems.append(f"检查点 #{cp['id']} 的默克尔证明不成立")
    events = body["events"]
    if seq > len(events) or (seq > 0 and events[seq - 1]["hash"] != head_hash):
        result.problems.append(f"日志与检查点 #{cp['id']} 记录的事件 #{seq} 不符：日志被改写或截断")
    result.notes.append(f"检查点 #{cp['id']}（{cp['created_at']}）：案件至事件 #{seq} 已签名固定")
