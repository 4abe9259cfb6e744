"""The Ed25519 key that signs checkpoints and exports: kept outside the database, named by a key id.

The private key comes from ``SHOUHU_CHECKPOINT_KEY`` (base64 of the 32-byte seed, or PEM) or from the
key file ``<data_dir>/checkpoint-ed25519.pem``; only demo mode generates that file. Retired keys stay
trusted for verification through ``SHOUHU_CHECKPOINT_PUBLIC_KEYS`` (docs/operations.md: rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from workflows.infra.errors import DomainError
from workflows.infra.settings import Settings

ALGORITHM = "ed25519"
KEY_FILE = "checkpoint-ed25519.pem"


class KeyMissing(DomainError):
    code = "checkpoint_key_missing"


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the sha256 of the raw public key."""
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def public_text(key: Ed25519PublicKey) -> str:
    """The raw public key in base64, the form operators publish and reviewers pass to verify-export."""
    return base64.b64encode(public_bytes(key)).decode("ascii")


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key given as base64 or hex of its 32 raw bytes, or as PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("不是 Ed25519 公钥")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw32(text))


def _raw32(text: str) -> bytes:
    raw: bytes | None = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            padded = text + "=" * (-len(text) % 4)
            alt = b"-_" if "-" in text or "_" in text else None
            raw = base64.b64decode(padded, altchars=alt, validate=True)
            # one text per key: spare bits set in the last character would name the same key in another spelling
            if base64.b64encode(raw, altchars=alt).decode("ascii").rstrip("=") != text.rstrip("="):
                raise ValueError("non-canonical base64")
        except (binascii.Error, ValueError):
            raise ValueError("密钥应为 32 字节的 base64 或十六进制文本") from None
    if len(raw) != 32:
        raise ValueError("密钥应为 32 字节")
    return raw


def parse_private(text: str) -> Ed25519PrivateKey:
    """A private key given as PEM (PKCS#8) or as base64/hex of its 32-byte seed."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("不是 Ed25519 私钥")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw32(text))


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


@dataclass
class SigningKeys:
    """The current private key and every public key trusted for verification, by key id."""

    private: Ed25519PrivateKey
    trusted: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.trusted.setdefault(self.key_id, self.private.public_key())

    @property
    def key_id(self) -> str:
        return key_id(self.private.public_key())

    @property
    def public_key(self) -> str:
        return public_text(self.private.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode("ascii")

    def verify(self, kid: str, message: bytes, signature: str) -> str | None:
        """None when the signature is good; otherwise why not (in Chinese)."""
        return verify_with(self.trusted.get(kid), message, signature, kid)

    @classmethod
    def generate(cls) -> SigningKeys:
        return cls(Ed25519PrivateKey.generate())


def verify_with(key: Ed25519PublicKey | None, message: bytes, signature: str, kid: str = "") -> str | None:
    """None when ``signature`` (base64) is ``key``'s signature of ``message``; otherwise the reason."""
    if key is None:
        return f"签名密钥 {kid} 不在受信任的密钥中"
    try:
        value = base64.b64decode(signature, validate=True)
        if base64.b64encode(value).decode("ascii") != signature:  # spare bits changed: not the signed text
            raise ValueError("non-canonical base64")
        key.verify(value, message)
    except (InvalidSignature, binascii.Error, ValueError):
        return "签名不符：内容在签名后被改动，或不是该密钥签署的"
    return None


def load(settings: Settings) -> SigningKeys:
    """The configured keys; demo mode creates the key file on first use, production refuses to guess."""
    if settings.checkpoint_key:
        private = parse_private(settings.checkpoint_key)
    else:
        path = Path(settings.data_dir) / KEY_FILE
        if path.is_file():
            private = parse_private(path.read_text(encoding="ascii"))
        elif settings.demo:
            private = Ed25519PrivateKey.generate()
            write_private(path, private)
        else:
            raise KeyMissing(
                f"未配置检查点签名密钥：请设置 SHOUHU_CHECKPOINT_KEY，或放置密钥文件 {path}"
                "（生成方法见 docs/operations.md）"
            )
    trusted = {}
    for text in filter(None, (t.strip() for t in settings.checkpoint_public_keys.split(","))):
        public = parse_public(text)
        trusted[key_id(public)] = public
    return SigningKeys(private, trusted)


def write_private(path: Path, key: Ed25519PrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(private_pem(key))
