"""Shop credentials, kept out of the database, listings and logs.

A shop row names its credentials by reference (``shops.credentials_ref``); the values live in
a JSON file readable only by the hub's user (``<data dir>/secrets.json``, mode 0600, or
``BANGFU_SECRETS_FILE``), written atomically. Refreshed OAuth tokens are written back here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from threading import Lock

import orjson

from bangfu.errors import UserError
from bangfu.settings import get_settings

_lock = Lock()


def default_path() -> Path:
    override = os.environ.get("BANGFU_SECRETS_FILE")
    return Path(override) if override else get_settings().data_dir / "secrets.json"


class SecretStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _load(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            data = orjson.loads(self.path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise UserError(f"{self.path}: the secrets file is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise UserError(f"{self.path}: the secrets file must hold a JSON object")
        return data

    def get(self, ref: str) -> dict[str, str]:
        entry = self._load().get(ref)
        if entry is None:
            raise UserError(f"no credentials stored under {ref!r} (in {self.path})")
        return dict(entry)

    def put(self, ref: str, values: Mapping[str, str | None]) -> None:
        """Store (merge) values under ``ref``; ``None`` removes a field."""
        with _lock:
            data = self._load()
            entry = dict(data.get(ref, {}))
            for key, value in values.items():
                if value is None:
                    entry.pop(key, None)
                else:
                    entry[key] = value
            data[ref] = entry
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets-")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
