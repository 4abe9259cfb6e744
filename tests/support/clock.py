"""The instant tests start at."""

from datetime import UTC, datetime

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in China Standard Time, a Monday
