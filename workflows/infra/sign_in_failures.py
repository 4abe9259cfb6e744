"""The sign-in failures table (kept apart from ``models``, registered with the others by ``db``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from workflows.infra.models import Base, UTCDateTime


class SignInFailure(Base):
    """One failed sign-in, by account (``user:<name>``) or by address (``address:<ip>``); shared by every
    API worker, so throttling holds however many processes serve requests."""

    __tablename__ = "sign_in_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    __table_args__ = (Index("ix_sign_in_failures_key_at", "key", "at"),)
