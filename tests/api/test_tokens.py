"""Tokens and cookies signed by itsdangerous with key rotation; sign-in throttling shared by every worker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from api.security import issue_token, read_token
from api.web import session as cookies
from tests.support.clock import START
from tests.support.people import PASSWORD
from workflows.infra.clock import FixedClock
from workflows.infra.errors import Unauthenticated
from workflows.infra.models import AccountEvent
from workflows.infra.settings import DEMO_SECRET, Settings
from workflows.infra.sign_in_failures import SignInFailure

OLD = "o" * 40
NEW = "n" * 40


def test_a_token_signed_with_an_old_key_is_accepted_only_while_that_key_is_listed() -> None:
    token, _ = issue_token(user_id=7, token_version=2, secret=[OLD], now=START, minutes=60)
    assert read_token(token, secret=[NEW, OLD], now=START) == (7, 2)
    with pytest.raises(Unauthenticated) as info:
        read_token(token, secret=[NEW], now=START)
    assert info.value.code == "token_invalid"
    fresh, _ = issue_token(user_id=7, token_version=2, secret=[NEW, OLD], now=START, minutes=60)
    assert read_token(fresh, secret=[NEW], now=START) == (7, 2)  # new tokens are signed by the new key


def test_tampered_expired_and_cross_purpose_values_are_refused() -> None:
    token, _ = issue_token(user_id=7, token_version=2, secret=NEW, now=START, minutes=60)
    body, signature = token.rsplit(".", 1)
    for forged in (body[:-1] + ("A" if body[-1] != "A" else "B") + "." + signature, token + "x", "", "a.b.c"):
        with pytest.raises(Unauthenticated):
            read_token(forged, secret=NEW, now=START)
    with pytest.raises(Unauthenticated) as info:
        read_token(token, secret=NEW, now=START + timedelta(minutes=61))
    assert info.value.code == "token_expired"
    web = cookies.new_session(now=START, minutes=60, user_id=7, token_version=2)
    cookie = cookies.encode(web, secret=NEW)
    assert cookies.decode(cookie, secret=[NEW], now=START) == web
    assert cookies.decode(token, secret=NEW, now=START) is None  # a token is not a cookie
    with pytest.raises(Unauthenticated):
        read_token(cookie, secret=NEW, now=START)  # nor a cookie a token
    old_cookie = cookies.encode(web, secret=OLD)
    assert cookies.decode(old_cookie, secret=[NEW, OLD], now=START) == web
    assert cookies.decode(old_cookie, secret=[NEW], now=START) is None


def test_a_token_accepted_before_is_still_refused_once_expired_or_its_key_is_dropped() -> None:
    """A verified signature is remembered (no HMAC work for a client's repeated token): that must not let
    a token outlive its expiry or the key that signed it."""
    token, _ = issue_token(user_id=8, token_version=1, secret=[OLD], now=START, minutes=60)
    for _ in range(2):
        assert read_token(token, secret=[NEW, OLD], now=START + timedelta(minutes=59)) == (8, 1)
    with pytest.raises(Unauthenticated) as info:
        read_token(token, secret=[NEW, OLD], now=START + timedelta(minutes=60))
    assert info.value.code == "token_expired"
    with pytest.raises(Unauthenticated) as info:
        read_token(token, secret=[NEW], now=START)
    assert info.value.code == "token_invalid"


def test_no_default_or_demo_secret_outside_demo() -> None:
    with pytest.raises(ValidationError):
        Settings(demo=False, secret_key="", database_url="sqlite://")
    with pytest.raises(ValidationError):
        Settings(demo=False, secret_key=DEMO_SECRET, database_url="sqlite://")
    with pytest.raises(ValidationError):
        Settings(demo=False, secret_key=NEW, old_secret_keys=DEMO_SECRET, database_url="sqlite://")
    rotated = Settings(demo=False, secret_key=NEW, old_secret_keys=f" {OLD} ,", database_url="sqlite://")
    assert rotated.signing_keys == [NEW, OLD]


def test_rotation_keeps_api_clients_signed_in(session: Session, clock: FixedClock, people: Any) -> None:
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    before = create_app(
        Settings(demo=False, secret_key=OLD, database_url="sqlite://"),
        sessions=sessions,
        clock=clock,
        prepare=False,
    )
    after = create_app(
        Settings(demo=False, secret_key=NEW, old_secret_keys=OLD, database_url="sqlite://"),
        sessions=sessions,
        clock=clock,
        prepare=False,
    )
    with TestClient(before) as first, TestClient(after) as second:
        token = first.post("/api/auth/token", data={"username": "county", "password": PASSWORD}).json()
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        assert second.get("/api/auth/me", headers=bearer).status_code == 200
    dropped = create_app(
        Settings(demo=False, secret_key=NEW, database_url="sqlite://"),
        sessions=sessions,
        clock=clock,
        prepare=False,
    )
    with TestClient(dropped) as third:
        assert third.get("/api/auth/me", headers=bearer).status_code == 401


@pytest.fixture
def two_workers(session: Session, clock: FixedClock, people: Any) -> Iterator[tuple[TestClient, TestClient]]:
    """Two app instances (as two worker processes would be) sharing one database."""
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    settings = Settings(demo=True, database_url="sqlite://")
    apps = [create_app(settings, sessions=sessions, clock=clock, prepare=False) for _ in range(2)]
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        yield one, two


def test_throttling_is_shared_by_workers_and_a_lock_is_logged(
    two_workers: tuple[TestClient, TestClient], session: Session, clock: FixedClock
) -> None:
    one, two = two_workers
    for attempt in range(5):
        worker = (one, two)[attempt % 2]
        answer = worker.post("/api/auth/token", data={"username": "police", "password": "wrong-password"})
        assert answer.status_code == 401 and answer.json()["code"] == "bad_credentials"
    for worker in (one, two):  # the right password does not help now, on either worker
        answer = worker.post("/api/auth/token", data={"username": "police", "password": PASSWORD})
        assert answer.status_code == 401 and answer.json()["code"] == "too_many_attempts", answer.text
        assert "分钟后再试" in answer.json()["message"]
    locks = session.scalars(
        select(AccountEvent).where(AccountEvent.username == "police", AccountEvent.type == "sign_in_locked")
    ).all()
    assert len(locks) == 1 and locks[0].payload["failures"] == 5
    assert one.post("/api/auth/token", data={"username": "court", "password": PASSWORD}).status_code == 200
    clock.advance(timedelta(minutes=16))
    assert two.post("/api/auth/token", data={"username": "police", "password": PASSWORD}).status_code == 200
    assert not session.scalars(select(SignInFailure).where(SignInFailure.key == "user:police")).all()


def test_the_page_sign_in_is_throttled_by_the_same_rows(
    two_workers: tuple[TestClient, TestClient], clock: FixedClock
) -> None:
    one, _ = two_workers
    for _ in range(5):
        one.post("/api/auth/token", data={"username": "court", "password": "nope-nope-nope"})
    page = one.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = one.post(
        "/login",
        data={"username": "court", "password": PASSWORD, "next": "/", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 401 and "登录失败次数过多" in answer.text


def test_passwords_are_hashed_with_the_argon2_parameters_the_operations_manual_states() -> None:
    from pathlib import Path

    from workflows.people.accounts import hash_password

    stored = hash_password("correct-horse-1")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    manual = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "time_cost=3、memory_cost=65536 KiB（64 MiB）、parallelism=4" in manual
