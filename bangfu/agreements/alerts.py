"""``agreement.behind`` alerts: agreements falling behind the straight line of their target.

One open alert per at-risk agreement (kind :data:`KIND`, subject ``agreement:<id>``): warning
when *behind* (executed / target below the elapsed share minus the tolerance), error when
*missed* (the period is over and the target not reached). A run (``bangfu agreements alerts``
and the beat's ``bangfu.agreement_alerts`` task, daily) opens alerts for agreements newly at
risk, refreshes those whose figures changed and resolves the rest (an agreement back on track,
met, suspended or terminated). A second run with the same data and day changes nothing. On
PostgreSQL a transaction-scoped advisory lock keeps two runs from opening the same alert twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.alert_sets import keep_open
from bangfu.i18n import MESSAGES, t
from bangfu.models import Alert
from bangfu.money import format_yuan
from bangfu.queries.agreements import AgreementProgress, agreements_overview
from bangfu.scope import Scope

KIND = "agreement.behind"
_LOCK_KEY = 0x62616E67_616772  # "bang" "agr"
_SUBJECT = re.compile(r"agreement:(\d+)")

MESSAGES.update(
    {
        "agreements.alert.behind": {
            "zh": "采购协议 {number}（{unit} — {supplier}）执行滞后：已执行 {executed}，目标 {target}，"
            "完成 {rate}，时间已过 {elapsed}",
            "en": "Agreement {number} ({unit} — {supplier}) is behind: {executed} of {target} executed ({rate}), "
            "{elapsed} of the period gone",
        },
        "agreements.alert.missed": {
            "zh": "采购协议 {number}（{unit} — {supplier}）已到期未完成：已执行 {executed}，目标 {target}，完成 {rate}",
            "en": "Agreement {number} ({unit} — {supplier}) ended short of its target: {executed} of {target} ({rate})",
        },
    }
)


def subject(agreement_id: int) -> str:
    return f"agreement:{agreement_id}"


def agreement_of(value: str | None) -> int | None:
    match = _SUBJECT.fullmatch(value or "")
    return int(match.group(1)) if match else None


def _pct(value: object) -> str:
    return f"{float(str(value)) * 100:.1f}%"


def describe(p: AgreementProgress) -> str:
    key = "agreements.alert.missed" if p.state == "missed" else "agreements.alert.behind"
    return t(
        key,
        number=p.number,
        unit=p.unit,
        supplier=p.supplier,
        executed=format_yuan(p.executed_fen),
        target=format_yuan(p.target_fen),
        rate=_pct(p.rate or 0),
        elapsed=_pct(p.elapsed_share),
    )


@dataclass(frozen=True)
class RunResult:
    agreements: int  # active agreements judged
    opened: int
    refreshed: int
    resolved: int
    open: int

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


async def run_agreement_alerts(conn: AsyncConnection, *, today: date, now: datetime) -> RunResult:
    """Open, refresh and resolve ``agreement.behind`` alerts as of ``today`` (a local date), in the
    caller's transaction; ``now`` stamps what is opened or resolved."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    overview = await agreements_overview(conn, Scope.admin(), today)
    active = [p for p in overview.rows if p.status == "active"]
    wanted: dict[int, tuple[str, str, str]] = {}
    for p in active:
        if not p.at_risk:
            continue
        detail = {
            "agreement_id": p.id,
            "number": p.number,
            "unit_id": p.unit_id,
            "supplier_id": p.supplier_id,
            "as_of": p.as_of.isoformat(),
            "state": p.state,
            "target_fen": p.target_fen,
            "executed_fen": p.executed_fen,
            "expected_fen": p.expected_fen,
            "elapsed_share": str(p.elapsed_share),
        }
        severity = "error" if p.state == "missed" else "warning"
        wanted[p.id] = (severity, describe(p), json.dumps(detail, ensure_ascii=False, sort_keys=True))
    kept = await keep_open(conn, KIND, wanted, key_of=agreement_of, subject_of=subject, now=now)
    return RunResult(len(active), kept.opened, kept.refreshed, kept.resolved, len(wanted))


async def open_alerts(conn: AsyncConnection, agreement_ids: list[int]) -> dict[int, datetime]:
    """When each of these agreements' open alert was raised."""
    if not agreement_ids:
        return {}
    rows = await conn.execute(
        select(Alert.subject, Alert.created_at).where(
            Alert.kind == KIND,
            Alert.resolved_at.is_(None),
            Alert.subject.in_([subject(i) for i in agreement_ids]),
        )
    )
    out: dict[int, datetime] = {}
    for subj, created in rows:
        aid = agreement_of(subj)
        if aid is not None:
            out[aid] = created
    return out
