"""Settings from the environment (prefix ``SHOUHU_``); secrets never have a usable default outside demo mode."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
# Database connections a process keeps open (SQLAlchemy's default is 5). A request that finds every pooled
# connection in use opens one beyond the pool and closes it afterwards: on PostgreSQL a new server process and
# a password exchange per request (at 16 clients this once cost more CPU than the requests themselves). The
# API works on at most this many requests' database work at once (``api.main`` sizes its thread pool to match).
POOL_SIZE = 20
DEMO_SECRET = "demo-only-secret-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUHU_", env_file=".env", extra="ignore")

    data_dir: Path = Path.home() / ".local" / "share" / "shouhu"
    database_url: str = ""
    bpmn_dir: Path = REPO_ROOT / "bpmn"
    demo: bool = False
    secret_key: str = ""
    old_secret_keys: str = ""  # comma-separated: still accepted for verification while a rotation settles
    # Ed25519 key that signs checkpoints and exports (base64 of the 32-byte seed, or PEM); when unset, the key
    # file <data_dir>/checkpoint-ed25519.pem (generated in demo mode only). Kept outside the database.
    checkpoint_key: str = ""
    # Public keys of retired checkpoint keys (comma-separated base64), still trusted when verifying.
    checkpoint_public_keys: str = ""
    token_minutes: int = 480
    # Database connections per API process, and so the requests it works on at once (docs/operations.md 3.2)
    db_pool_size: int = Field(default=POOL_SIZE, ge=1, le=200)
    webhook_url: str = ""
    webhook_timeout_seconds: float = 5.0
    webhook_retries: int = 2
    prefect_port: int = 4200  # the embedded Prefect server (only when PREFECT_API_URL is not set)
    work_pool: str = "shouhu"  # the Prefect work pool of the scale-out deployment
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _fill_and_refuse_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'shouhu.db'}"
        if not self.secret_key:
            if not self.demo:
                raise ValueError("SHOUHU_SECRET_KEY 未设置：非演示模式下必须配置随机密钥（至少 32 个字符）")
            self.secret_key = DEMO_SECRET
        if not self.demo and (self.secret_key == DEMO_SECRET or len(self.secret_key) < 32):
            raise ValueError("SHOUHU_SECRET_KEY 不安全：非演示模式下不得使用默认或过短的密钥")
        if not self.demo and DEMO_SECRET in self.signing_keys[1:]:
            raise ValueError("SHOUHU_OLD_SECRET_KEYS 不得包含演示密钥")
        return self

    @property
    def signing_keys(self) -> list[str]:
        """The key that signs, then the old keys that still verify (key rotation, docs/operations.md)."""
        olds = [k.strip() for k in self.old_secret_keys.split(",") if k.strip()]
        return [self.secret_key, *[k for k in olds if k != self.secret_key]]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
