"""Accounts: real-name users with roles bound to a jurisdiction; passwords hashed with argon2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from workflows.infra.clock import Clock
from workflows.infra.errors import Conflict, NotFound, PermissionDenied, Unauthenticated, ValidationFailed
from workflows.infra.models import AccountEvent, Place, User
from workflows.people.access import SYSTEM, Actor, normalise_code, require_role, require_visible
from workflows.people.roles import ROLES

# Argon2id, RFC 9106 low-memory profile (stated in docs/operations.md): 3 passes over 64 MiB, 4 lanes.
_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)
# Only a worker who passed the initial training may work cases (初任…经培训考核合格后方可开展工作).
CERTIFICATION_REQUIRED = frozenset({"village_director", "township_supervisor"})
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def actor_for(user: User | Row[Any]) -> Actor:
    """The acting identity of an account (or of a row with its username, display_name, roles,
    jurisdiction_code and certified columns)."""
    needs = bool(CERTIFICATION_REQUIRED & set(user.roles))
    return Actor(
        user.username,
        frozenset(user.roles),
        user.jurisdiction_code,
        certified=user.certified or not needs,
        display_name=user.display_name,
    )


def authenticate(*, session: Session, username: str, password: str) -> User:
    """The active user with this username and password, or Unauthenticated (same message for both)."""
    user = session.scalar(select(User).where(User.username == username))
    failure = Unauthenticated("用户名或密码不正确", code="bad_credentials")
    if user is None:
        _HASHER.hash(password)  # same cost as a real check, so timing does not reveal usernames
        raise failure
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise failure from None
    if not user.active:
        raise Unauthenticated("该账号已停用，请联系账号管理员", code="account_inactive")
    return user


@dataclass
class UserChange:
    display_name: str | None = None
    roles: list[str] | None = None
    jurisdiction_code: str | None = None
    active: bool | None = None
    password: str | None = None
    phone: str | None = None


def _check_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise ValidationFailed(
            "角色无效：" + ("、".join(unknown) if unknown else "至少需要一个角色"),
            code="roles_invalid",
            details={"fields": {"roles": "包含未知角色或为空"}},
        )
    return sorted(set(roles))


def _check_place(session: Session, actor: Actor, code: str) -> str:
    try:
        code = normalise_code(code)
    except ValueError as exc:
        raise ValidationFailed(
            str(exc), code="jurisdiction_invalid", details={"fields": {"jurisdiction_code": str(exc)}}
        ) from None
    if session.get(Place, code) is None and session.scalar(select(func.count()).select_from(Place)):
        raise ValidationFailed(
            f"行政区划 {code} 不存在",
            code="jurisdiction_unknown",
            details={"fields": {"jurisdiction_code": "行政区划不存在"}},
        )
    if not actor.sees(code):
        raise PermissionDenied("只能在本人辖区内创建或调整账号", code="outside_jurisdiction")
    return code


USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def account_errors(
    *,
    display_name: str,
    roles: list[str],
    phone: str | None,
    username: str | None = None,
    password: str | None = None,
) -> dict[str, str]:
    """Every field of an account checked at once, each with its own Chinese message (username and password
    only when given: a change keeps the login name and may keep the password)."""
    errors: dict[str, str] = {}
    if username is not None and not username:
        errors["username"] = "请填写用户名（登录时使用）"
    elif username is not None and (not set(username) <= USERNAME_CHARS or not 3 <= len(username) <= 64):
        errors["username"] = "用户名须为 3–64 位，只能用英文字母、数字、下划线、点和短横线"
    if not display_name.strip():
        errors["display_name"] = "请填写真实姓名（实名制）"
    unknown = [r for r in roles if r not in ROLES]
    if not roles:
        errors["roles"] = "请至少选择一个角色"
    elif unknown:
        errors["roles"] = "包含未知角色：" + "、".join(unknown)
    if password is not None and not password:
        errors["password"] = "请设置初始密码"
    elif password is not None and len(password) < MIN_PASSWORD:
        errors["password"] = f"密码至少 {MIN_PASSWORD} 个字符"
    digits = (phone or "").replace("-", "").replace(" ", "")
    if phone and (not digits.isdigit() or not 7 <= len(digits) <= 15):
        errors["phone"] = "联系电话应为手机号或带区号的座机号（7–15 位数字）"
    return errors


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"密码至少 {MIN_PASSWORD} 个字符",
            code="password_weak",
            details={"fields": {"password": f"至少 {MIN_PASSWORD} 个字符"}},
        )


def record_event(
    session: Session, clock: Clock, actor: Actor, user: User, type_: str, payload: dict[str, Any]
) -> None:
    """One row of the account's history (who changed what, when)."""
    session.add(
        AccountEvent(
            at=clock.now(), actor=actor.username, username=user.username, type=type_, payload=payload
        )
    )


def create_user(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    username: str,
    display_name: str,
    roles: list[str],
    jurisdiction_code: str,
    password: str,
    certified: bool = False,
    phone: str | None = None,
) -> User:
    """Create a real-name account inside the administrator's jurisdiction."""
    require_role(actor, "user_admin", action="管理账号")
    username = username.strip()
    errors = account_errors(
        username=username, display_name=display_name, roles=roles, password=password, phone=phone
    )
    try:
        if not jurisdiction_code.strip():
            raise ValidationFailed("请选择辖区", details={"fields": {"jurisdiction_code": "请选择辖区"}})
        jurisdiction_code = _check_place(session, actor, jurisdiction_code)
    except ValidationFailed as exc:
        errors["jurisdiction_code"] = (
            exc.details["fields"]["jurisdiction_code"] if exc.details else exc.message
        )
    if errors:
        raise ValidationFailed(
            "账号信息填写有误：" + "；".join(errors.values()),
            code="account_invalid",
            details={"fields": errors},
        )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(
            f"用户名 {username} 已被使用",
            code="username_taken",
            details={"fields": {"username": f"用户名 {username} 已被使用，请换一个"}},
        )
    now = clock.now()
    user = User(
        username=username,
        display_name=display_name.strip(),
        roles=sorted(set(roles)),
        jurisdiction_code=jurisdiction_code,
        password_hash=hash_password(password),
        active=True,
        certified=certified,
        token_version=1,
        phone=phone,
        created_at=now,
        created_by=actor.username,
        updated_at=now,
    )
    session.add(user)
    record_event(
        session,
        clock,
        actor,
        user,
        "user_created",
        {"roles": user.roles, "jurisdiction": user.jurisdiction_code, "certified": certified},
    )
    session.flush()
    return user


def get_user(*, session: Session, actor: Actor, user_id: int) -> User:
    """A user inside the administrator's jurisdiction (404 outside it)."""
    require_role(actor, "user_admin", action="管理账号")
    user = session.get(User, user_id)
    if user is None or not actor.sees(user.jurisdiction_code):
        raise NotFound("找不到该账号", code="user_not_found")
    return user


def update_user(*, session: Session, clock: Clock, actor: Actor, user_id: int, change: UserChange) -> User:
    """Change an account; a change of roles, place, activity or password revokes its tokens."""
    user = get_user(session=session, actor=actor, user_id=user_id)
    if user.username == actor.username and (change.active is False or change.roles is not None):
        raise PermissionDenied("不能停用自己的账号或修改自己的角色", code="self_change")
    revoke = False
    changes: dict[str, Any] = {}
    if change.display_name is not None:
        user.display_name = changes["display_name"] = change.display_name.strip()
    if change.phone is not None:
        user.phone = change.phone
    if change.roles is not None and sorted(set(change.roles)) != user.roles:
        user.roles = changes["roles"] = _check_roles(change.roles)
        revoke = True
    if change.jurisdiction_code is not None:
        code = _check_place(session, actor, change.jurisdiction_code)
        if code != user.jurisdiction_code:
            user.jurisdiction_code = changes["jurisdiction_code"] = code
            revoke = True
    if change.active is not None and change.active != user.active:
        user.active = changes["active"] = change.active
        revoke = True
    if change.password is not None:
        _check_password(change.password)
        user.password_hash = hash_password(change.password)
        changes["password"] = "changed"
        revoke = True
    if revoke:
        user.token_version += 1
    user.updated_at = clock.now()
    record_event(session, clock, actor, user, "user_changed", changes)
    session.flush()
    return user


def sign_out(*, session: Session, clock: Clock, user: User) -> None:
    """End every session and token of this account (a copied cookie or token stops working too)."""
    user.token_version += 1
    user.updated_at = clock.now()
    session.add(
        AccountEvent(
            at=clock.now(), actor=user.username, username=user.username, type="signed_out", payload={}
        )
    )
    session.flush()


def list_users(
    *, session: Session, actor: Actor, limit: int = 100, offset: int = 0
) -> tuple[list[User], int]:
    """Accounts inside the administrator's jurisdiction."""
    require_role(actor, "user_admin", action="管理账号")
    cond = User.jurisdiction_code.startswith(actor.jurisdiction)
    total = session.scalar(select(func.count()).select_from(User).where(cond)) or 0
    users = session.scalars(
        select(User)
        .where(cond)
        .order_by(User.jurisdiction_code, User.username)
        .limit(min(limit, 500))
        .offset(offset)
    )
    return list(users), int(total)


def set_certified(
    *,
    session: Session,
    clock: Clock,
    username: str,
    certified: bool,
    certificate_no: str | None = None,
    actor: Actor = SYSTEM,
) -> User:
    """Open or close the training gate of a worker (from the onboarding process)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"找不到账号 {username}", code="user_not_found")
    require_visible(actor, user.jurisdiction_code, "账号")
    user.certified = certified
    user.certificate_no = certificate_no if certified else user.certificate_no
    user.updated_at = clock.now()
    record_event(
        session,
        clock,
        actor,
        user,
        "user_certified" if certified else "user_uncertified",
        {"certificate_no": certificate_no},
    )
    session.flush()
    return user
