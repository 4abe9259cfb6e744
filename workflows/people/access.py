"""Who may do what where: role × jurisdiction, decided here for every service and endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.infra.errors import NotFound, PermissionDenied
from workflows.people.roles import REPORT_HANDLERS, ROLES

JURISDICTION_LENGTHS = (2, 4, 6, 9, 12)
SYSTEM_USERNAME = "system"


@dataclass(frozen=True)
class Actor:
    """The person (or the system) acting: roles and the jurisdiction code they are bound to."""

    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    jurisdiction: str = ""
    certified: bool = True
    display_name: str = ""

    @property
    def is_system(self) -> bool:
        return self.username == SYSTEM_USERNAME

    def sees(self, code: str) -> bool:
        """A place is visible when it is the actor's own jurisdiction or lies below it."""
        return self.is_system or code.startswith(self.jurisdiction)

    def has_any(self, *roles: str) -> bool:
        return self.is_system or bool(self.roles.intersection(roles))

    @property
    def sees_reporter(self) -> bool:
        return self.is_system or bool(self.roles & REPORT_HANDLERS)


SYSTEM = Actor(SYSTEM_USERNAME, frozenset(ROLES), "", True, "系统")


def normalise_code(code: str) -> str:
    """Strip the zero padding of a full 12-digit code to its significant prefix (e.g. 500111000000 → 500111)."""
    code = (code or "").strip()
    if not code.isdigit() or len(code) not in JURISDICTION_LENGTHS:
        raise ValueError("行政区划代码应为 2、4、6、9 或 12 位数字")
    if len(code) == 12:
        for length in JURISDICTION_LENGTHS:
            if code[length:].strip("0") == "":
                return code[:length]
    return code


def require_visible(actor: Actor, code: str, what: str = "案件") -> None:
    """Outside the actor's jurisdiction a thing does not exist for them (404, not 403)."""
    if not actor.sees(code):
        raise NotFound(f"找不到该{what}", code="not_found")


def require_role(actor: Actor, *roles: str, action: str = "执行此操作") -> None:
    if not actor.has_any(*roles):
        labels = "、".join(ROLES.get(r, r) for r in roles)
        raise PermissionDenied(
            f"您的角色无权{action}（需要：{labels}）", code="role_required", details={"roles": list(roles)}
        )


# 民发〔2019〕34号 二(二)：初任儿童督导员和儿童主任经培训考核合格后方可开展工作。
TRAINING_GATE_SOURCE = "民发〔2019〕34号 二(二)"


def require_certified(actor: Actor, action: str = "办理儿童案件") -> None:
    """The training gate: an uncertified director or supervisor takes no action on children's cases.

    ``Actor.certified`` is true for every role the gate does not apply to (administrators, auditors,
    departments), so only the workers of roles.CERTIFICATION_REQUIRED can be stopped here.
    """
    if not actor.certified:
        raise PermissionDenied(
            f"您尚未通过岗前培训考核，暂不能{action}。初任儿童主任、儿童督导员须经培训考核合格后方可开展工作"
            f"（{TRAINING_GATE_SOURCE}），请先完成培训并取得合格证。",
            code="not_certified",
            details={"action": action, "source": TRAINING_GATE_SOURCE},
        )
