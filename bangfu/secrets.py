"""Shop credentials, kept out of the database, listings, logs and stored messages.

A shop row names its credentials by reference (``shops.credentials_ref``); the values live in
a JSON file readable only by the hub's user (``<data dir>/secrets.json``, mode 0600, or
``BANGFU_SECRETS_FILE``). Refreshed OAuth tokens are written back here, by whichever process
refreshed them, so writes are serialised across processes: an exclusive ``flock`` on
``secrets.json.lock``, the file re-read under the lock, the change merged in, and the result
written to a temporary file (0600), fsynced and renamed over the old one. A reader never sees a
half-written file, and two processes writing at once both keep their change (a rotated
refresh token is never lost to another shop's write).

:func:`redact` takes secrets out of text the hub stores or prints (sync run messages, alerts):
the values it is given (a shop's own secrets and tokens) and anything shaped like a credential
(``access_token=...``, ``"sign": "..."``, ``Bearer ...``).
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from threading import Lock

import orjson

from bangfu.errors import UserError
from bangfu.settings import get_settings

_lock = Lock()  # flock is per open file description: threads of one process queue here first

REDACTED = "***"
#: credential names whose values are secret wherever they appear (query strings, JSON, logs)
SECRET_NAMES = (
    "access_token",
    "accesstoken",
    "refresh_token",
    "refreshtoken",
    "app_secret",
    "appsecret",
    "client_secret",
    "clientsecret",
    "sign_secret",
    "signsecret",
    "secret",
    "password",
    "passwd",
    "session",  # TOP's name for the seller's access token
    "sign",
    "token",
)
#: fields of a credentials entry that are not secret (the rest are redacted by value)
PUBLIC_FIELDS = frozenset({"app_key", "shop_id", "token_expires_at"})
_MIN_SECRET = 4  # shorter values would redact ordinary words and numbers

_NAMES = "|".join(sorted(SECRET_NAMES, key=len, reverse=True))
#: names unambiguous enough to redact after a colon too ("Invalid session: 会话已过期" is no secret)
_STRONG = "|".join(n for n in sorted(SECRET_NAMES, key=len, reverse=True) if "_" in n or n == "password")
_VALUE = r"([\"']?)[^\s&,;\"'})\]]+"
# name=value (query strings, forms); the name stands alone, so sign_method=md5 stays
_ASSIGNED = re.compile(rf"(?i)(?<![A-Za-z0-9_])({_NAMES})(\s*=\s*){_VALUE}")
# access_token: value (log lines, headers)
_LABELLED = re.compile(rf"(?i)(?<![A-Za-z0-9_])({_STRONG})(\s*:\s*){_VALUE}")
# "name": "value" / 'name': 'value' (JSON, Python reprs), also unquoted JSON numbers
_QUOTED = re.compile(rf"(?i)([\"'])({_NAMES})\1(\s*:\s*)(?:([\"'])(.*?)(?<!\\)\4|([^\s,}}\]]+))")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str, known: Iterable[str | None] = ()) -> str:
    """``text`` with the ``known`` secret values and credential-shaped parts replaced by ``***``.

    Used for every message the hub stores from a platform (sync runs, alerts, quarantine
    errors): an echoing gateway must not put a token into the database.
    """
    for value in sorted({v for v in known if v and len(v) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _QUOTED.sub(_quoted, text)
    for pattern in (_ASSIGNED, _LABELLED):
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _quoted(match: re.Match[str]) -> str:
    quote, name, colon, value_quote = match.group(1), match.group(2), match.group(3), match.group(4)
    value = f"{value_quote}{REDACTED}{value_quote}" if value_quote else REDACTED
    return f"{quote}{name}{quote}{colon}{value}"


def secret_values(entry: Mapping[str, str | None]) -> list[str]:
    """The values of a credentials entry that must never be shown or stored."""
    return [value for key, value in entry.items() if key not in PUBLIC_FIELDS and value]


def default_path() -> Path:
    override = os.environ.get("BANGFU_SECRETS_FILE")
    return Path(override) if override else get_settings().data_dir / "secrets.json"


class SecretStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

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

    def has(self, ref: str) -> bool:
        return ref in self._load()

    def put(self, ref: str, values: Mapping[str, str | None]) -> None:
        """Store (merge) values under ``ref``; ``None`` removes a field. Safe across processes."""
        with self._exclusive():
            data = self._load()  # under the lock: what other processes wrote meanwhile
            entry = dict(data.get(ref, {}))
            for key, value in values.items():
                if value is None:
                    entry.pop(key, None)
                else:
                    entry[key] = value
            data[ref] = entry
            self._write(data)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _lock:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock

    def _write(self, data: Mapping[str, Mapping[str, str]]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)
