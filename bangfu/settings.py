"""Configuration from the environment (``BANGFU_*``), with the embedded default.

The embedded default needs no services: a SQLite file under the user's data directory and
Celery in eager mode. Production sets ``BANGFU_DATABASE_URL`` (PostgreSQL) and
``BANGFU_REDIS_URL``.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_path
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return user_data_path("bangfu-hub", appauthor=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BANGFU_", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    redis_url: str | None = None
    celery_eager: bool | None = None
    hash_key: SecretStr | None = None
    lang: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"
    # Where the public reaches this hub (traceability QR codes, session campaign links):
    # ``BANGFU_PUBLIC_URL``, e.g. ``https://bangfu.example.gov.cn``; no trailing slash needed.
    public_url: str = "http://127.0.0.1:8080"
    # A lot's traceability page stays up this many days after its shelf life ends (bangfu.trace).
    trace_grace_days: int = Field(default=180, ge=0, le=3650)

    @property
    def resolved_public_url(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'bangfu.db'}"

    @property
    def is_eager(self) -> bool:
        """Celery runs tasks in-process when asked to, or when no Redis is configured."""
        if self.celery_eager is not None:
            return self.celery_eager
        return self.redis_url is None

    def resolved_hash_key(self) -> bytes:
        """The key for keyed hashes of identity numbers and buyer ids (PIPL).

        Taken from ``BANGFU_HASH_KEY``; on the embedded default a random key is made once and
        kept in the data directory (mode 0600), so hashes stay stable across runs.
        """
        if self.hash_key is not None:
            return self.hash_key.get_secret_value().encode()
        path = self.data_dir / "hash.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
