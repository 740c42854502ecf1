"""``bangfu policy``: a cooperative's versioned income-split policy.

A new version is validated in full: the policy's own rules, the art. 44 floor of 60%
patronage return, and the hub's floor of households' share per sale
(``bangfu.policy.MIN_HOUSEHOLD_SHARE_BP``). It takes effect from a date after the latest
version's and after today (Asia/Shanghai), and at most ``MAX_POLICY_LEAD_YEARS`` ahead. Lines are
split by the version in force when they were paid, so a new version never changes a posted
journal. A version not yet in force can be withdrawn (moved, with the reason, to
``split_policy_withdrawals``); one in force or past never is.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.models import Cooperative, SplitPolicy, Supplier
from bangfu.models.org import SplitPolicyWithdrawal
from bangfu.policy import (
    MIN_HOUSEHOLD_SHARE_BP,
    HouseholdShareError,
    PolicyError,
    admit_policy,
    latest_effective_from,
)
from bangfu.settings import get_settings
from bangfu.store import make_engine, session_factory

policy_app = typer.Typer(help="Cooperatives' income-split policies (versioned).", no_args_is_help=True)


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


def today() -> date:
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


async def find_cooperative(session: AsyncSession, ref: str) -> tuple[int, str]:
    """A cooperative by id, by its unified social credit code, or by its exact name."""
    query = select(Cooperative.id, Supplier.name).join(Supplier, Supplier.id == Cooperative.supplier_id)
    conditions = [Supplier.credit_code == ref.upper(), Supplier.name == ref]
    if ref.isdigit():
        conditions.append(Cooperative.id == int(ref))
    rows = (await session.execute(query.where(or_(*conditions)))).all()
    if len(rows) != 1:
        raise UserError(t("policy.no_cooperative", ref=ref))
    coop_id, name = rows[0]
    return coop_id, name


def read_rules(path: Path) -> dict[str, Any]:
    """The policy document (JSON object) from ``path``; errors name the file and the field."""
    try:
        rules = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: {t('policy.bad_json')}: {exc}") from exc
    if not isinstance(rules, dict):
        raise UserError(f"{path}: {t('policy.bad_json')}: {t('policy.not_object')}")
    try:
        admit_policy(rules)
    except HouseholdShareError as exc:
        message = t(
            "policy.household_floor",
            retention=_pct(rules["retention_bp"]),
            collective=_pct(rules["collective_bp"]),
            households=_pct(exc.households_bp),
            floor=_pct(MIN_HOUSEHOLD_SHARE_BP),
        )
        raise UserError(f"{path}: {message}") from exc
    except PolicyError as exc:
        raise UserError(f"{path}: {exc}") from exc
    return rules


async def add_version(
    session: AsyncSession, coop_id: int, rules: dict[str, Any], effective_from: date, note: str | None, *, now: date
) -> int:
    """Store ``rules`` as the cooperative's next version; returns the version number.

    The number follows every version ever given, withdrawn ones included."""
    latest = (
        await session.execute(
            select(SplitPolicy.version, SplitPolicy.effective_from)
            .where(SplitPolicy.cooperative_id == coop_id)
            .order_by(SplitPolicy.version.desc())
            .limit(1)
        )
    ).first()
    if effective_from <= now:
        raise UserError(t("policy.not_future", date=effective_from.isoformat(), today=now.isoformat()))
    horizon = latest_effective_from(now)
    if effective_from > horizon:
        raise UserError(t("policy.too_far", date=effective_from.isoformat(), horizon=horizon.isoformat()))
    if latest is not None and effective_from <= latest.effective_from:
        raise UserError(
            t("policy.not_after_latest", date=effective_from.isoformat(), latest=latest.effective_from.isoformat())
        )
    withdrawn = await session.scalar(
        select(func.max(SplitPolicyWithdrawal.version)).where(SplitPolicyWithdrawal.cooperative_id == coop_id)
    )
    version = max(latest.version if latest else 0, withdrawn or 0) + 1
    session.add(
        SplitPolicy(
            cooperative_id=coop_id,
            version=version,
            effective_from=effective_from,
            patronage_return_bp=rules["patronage_return_bp"],
            rules=rules,
            note=note,
        )
    )
    await session.flush()
    return version


async def withdraw_version(session: AsyncSession, coop_id: int, version: int, reason: str | None, *, now: date) -> date:
    """Withdraw a version not yet in force: move it, whole, to ``split_policy_withdrawals`` with
    ``reason``; returns the date it would have started. A version whose first day is today or
    earlier has applied (or applies now) and is refused: it stays, like every journal it split."""
    row = await session.scalar(
        select(SplitPolicy)
        .where(SplitPolicy.cooperative_id == coop_id, SplitPolicy.version == version)
        .with_for_update()
    )
    if row is None:
        gone = await session.scalar(
            select(SplitPolicyWithdrawal.withdrawn_at).where(
                SplitPolicyWithdrawal.cooperative_id == coop_id, SplitPolicyWithdrawal.version == version
            )
        )
        if gone is not None:
            raise UserError(t("policy.already_withdrawn", version=version, at=gone.date().isoformat()))
        raise UserError(t("policy.no_version", version=version))
    if row.effective_from <= now:
        raise UserError(
            t("policy.in_force", version=version, date=row.effective_from.isoformat(), today=now.isoformat())
        )
    session.add(
        SplitPolicyWithdrawal(
            cooperative_id=coop_id,
            version=row.version,
            effective_from=row.effective_from,
            patronage_return_bp=row.patronage_return_bp,
            rules=row.rules,
            note=row.note,
            created_at=row.created_at,
            reason=reason,
        )
    )
    await session.delete(row)
    await session.flush()
    return row.effective_from


@policy_app.command("add")
def policy_add(
    cooperative: Annotated[str, typer.Option("--cooperative", help="Cooperative id, credit code or name.")],
    file: Annotated[Path, typer.Option("--file", help="The policy as a JSON object (see docs/accounting.md).")],
    effective_from: Annotated[
        str,
        typer.Option(
            "--effective-from",
            help="First day it applies (YYYY-MM-DD): after today and at most 2 years ahead.",
        ),
    ],
    note: Annotated[str | None, typer.Option(help="Why it changed (e.g. the general meeting's resolution).")] = None,
    db: DbOption = None,
) -> None:
    """Add a new version of a cooperative's split policy, validated (art. 44: at least 60% returned;
    households at least 60% of each sale's net)."""
    try:
        starts = date.fromisoformat(effective_from)
    except ValueError:
        message = f"{effective_from!r} is not a date like 2026-12-01"
        raise typer.BadParameter(message, param_hint="--effective-from") from None

    async def main() -> tuple[str, int]:
        rules = read_rules(file)
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                coop_id, name = await find_cooperative(session, cooperative)
                version = await add_version(session, coop_id, rules, starts, note, now=today())
                return name, version
        finally:
            await engine.dispose()

    name, version = run(main())
    console.print(t("policy.added", name=name, version=version, date=starts.isoformat()))


@policy_app.command("withdraw")
def policy_withdraw(
    cooperative: Annotated[str, typer.Option("--cooperative", help="Cooperative id, credit code or name.")],
    version: Annotated[int, typer.Option("--version", help="The version to withdraw (not yet in force).", min=1)],
    reason: Annotated[str | None, typer.Option(help="Why (kept with the withdrawn version).")] = None,
    db: DbOption = None,
) -> None:
    """Withdraw a version that is not yet in force (a wrong date or a typo); recorded, never deleted.
    A version in force or past is refused."""

    async def main() -> tuple[str, date]:
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                coop_id, name = await find_cooperative(session, cooperative)
                starts = await withdraw_version(session, coop_id, version, reason, now=today())
                return name, starts
        finally:
            await engine.dispose()

    name, starts = run(main())
    console.print(t("policy.withdrawn", name=name, version=version, date=starts.isoformat()))


@policy_app.command("list")
def policy_list(
    cooperative: Annotated[str | None, typer.Option("--cooperative", help="Only this cooperative.")] = None,
    db: DbOption = None,
) -> None:
    """Every policy version: who, from when, and its shares."""

    async def main() -> list[Any]:
        url = _url(db)
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with session_factory(engine)() as session:
                query = (
                    select(Supplier.name, SplitPolicy)
                    .join(Cooperative, Cooperative.id == SplitPolicy.cooperative_id)
                    .join(Supplier, Supplier.id == Cooperative.supplier_id)
                    .order_by(Supplier.name, SplitPolicy.version)
                )
                if cooperative is not None:
                    coop_id, _ = await find_cooperative(session, cooperative)
                withdrawn = (
                    select(Supplier.name, SplitPolicyWithdrawal)
                    .join(Cooperative, Cooperative.id == SplitPolicyWithdrawal.cooperative_id)
                    .join(Supplier, Supplier.id == Cooperative.supplier_id)
                )
                if cooperative is not None:
                    query = query.where(SplitPolicy.cooperative_id == coop_id)
                    withdrawn = withdrawn.where(SplitPolicyWithdrawal.cooperative_id == coop_id)
                count = await session.scalar(select(func.count()).select_from(SplitPolicy))
                gone = list((await session.execute(withdrawn)).all())
                if not count and not gone:
                    raise UserError(t("policy.none"))
                rows: list[Any] = [*(await session.execute(query)).all(), *gone]
                return sorted(rows, key=lambda r: (r[0], r[1].version))
        finally:
            await engine.dispose()

    rows = run(main())
    table = Table(title=t("policy.title"))
    for key in ("policy.cooperative", "policy.version", "policy.from", "policy.retention", "policy.collective"):
        table.add_column(t(key))
    table.add_column(t("policy.bonus"), justify="right")
    table.add_column(t("policy.patronage"), justify="right")
    table.add_column(t("policy.state"))
    for name, policy in rows:
        rules = policy.rules
        table.add_row(
            name,
            str(policy.version),
            policy.effective_from.isoformat(),
            _pct(rules.get("retention_bp", 0)),
            _pct(rules.get("collective_bp", 0)),
            _pct(rules.get("priority_bonus_bp", 0)),
            _pct(policy.patronage_return_bp),
            t("policy.state_withdrawn", at=policy.withdrawn_at.date().isoformat())
            if isinstance(policy, SplitPolicyWithdrawal)
            else "",
        )
    console.print(table)


def _pct(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}%"
