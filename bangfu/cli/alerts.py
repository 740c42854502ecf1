"""``bangfu alerts run`` and ``bangfu alerts list``: the unsold (滞销) early warning from the shell.

``run`` does what the beat's ``bangfu.detect_unsold`` task does (:func:`workers.alerts.run_unsold`
in one transaction): open alerts for lots newly at risk, refresh, resolve the rest. Running it
again changes nothing. A failure (the database cannot be opened, a bad rule file) is one line on
stderr and exit 2, with nothing written.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.text import Text
from sqlalchemy import select

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.i18n import MESSAGES, t
from bangfu.models import Alert
from bangfu.money import format_yuan
from bangfu.queries.unsold import KIND, alert_json, rule_lines, unsold_alerts
from bangfu.scope import Scope
from bangfu.settings import get_settings
from bangfu.store import make_engine
from bangfu.unsold import UnsoldRule, load_rule

MESSAGES.update(
    {
        "alerts.run.done": {
            "zh": "滞销预警：检查了 {lots} 个有库存的批次；新开 {opened} 条，更新 {refreshed} 条，解除 {resolved} 条；"
            "未解除 {open} 条",
            "en": "Unsold alerts: {lots} lots in stock checked; {opened} opened, {refreshed} refreshed, "
            "{resolved} resolved; {open} open",
        },
        "alerts.list.title": {"zh": "未解除的告警", "en": "Open alerts"},
        "alerts.list.none": {"zh": "没有未解除的告警。", "en": "No open alerts."},
        "alerts.col.kind": {"zh": "类型", "en": "Kind"},
        "alerts.col.severity": {"zh": "级别", "en": "Severity"},
        "alerts.col.since": {"zh": "开启时间", "en": "Since"},
        "alerts.col.message": {"zh": "内容", "en": "Message"},
        "alerts.col.channels": {"zh": "可承接渠道", "en": "Channels that could take it"},
        "alerts.rule_hint": {"zh": "规则", "en": "Rule"},
    }
)

alerts_app = typer.Typer(help="Alerts for people: the unsold (滞销) early warning, and every open alert.")

RuleOption = Annotated[
    Path | None,
    typer.Option("--rule", help="JSON file overriding the unsold rule's parameters (default: BANGFU_UNSOLD_RULE)."),
]


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


@alerts_app.command("run")
def run_command(
    rule_file: RuleOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Open, refresh and resolve unsold alerts now (the beat does the same every 12 hours)."""
    rule = run(_rule(rule_file))
    counts = run(_run(_url(db), rule))
    if as_json:
        _print_json(counts)
        return
    console.print(t("alerts.run.done", **counts), highlight=False)


async def _rule(path: Path | None) -> UnsoldRule:
    return load_rule(path)


async def _run(url: str, rule: UnsoldRule) -> dict[str, int]:
    from workers.alerts import run_unsold

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            return (await run_unsold(conn, now=datetime.now(UTC), rule=rule)).as_dict()
    finally:
        await engine.dispose()


async def print_unsold_run(url: str) -> None:
    """Run the unsold check once and print what it did (``bangfu demo`` after accounting)."""
    counts = await _run(url, load_rule())
    console.print(t("alerts.run.done", **counts), highlight=False)


@alerts_app.command("list")
def list_command(
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind, e.g. unsold.")] = None,
    cooperative: Annotated[int | None, typer.Option("--cooperative", help="Unsold: one cooperative's lots.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the alerts as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Print the open alerts: unsold ones with their figures and channels, then the others."""
    items = run(_list(_url(db), kind, cooperative))
    if as_json:
        _print_json({"items": items})
        return
    if not items:
        console.print(t("alerts.list.none"), highlight=False)
        return
    console.print(t("alerts.list.title"), style="bold", highlight=False)
    for item in items:
        label = t(f"unsold.status.{item['status']}") if item["kind"] == KIND else item["kind"]
        head = Text.assemble(("● ", "red" if item["severity"] == "error" else "yellow"), f"[{label}] ", item["message"])
        console.print(head, soft_wrap=True)
        console.print(Text(f"  {t('alerts.col.since')}: {item['since'][:16]}"), style="dim", soft_wrap=True)
        for channel in item.get("channels", []):
            console.print(Text(f"  · {channel['reason']}"), soft_wrap=True)
    if any(item["kind"] == KIND for item in items):
        console.print(f"{t('alerts.rule_hint')}: {rule_lines(load_rule())[0]}", highlight=False)


async def _list(url: str, kind: str | None, cooperative: int | None) -> list[dict[str, Any]]:
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            items: list[dict[str, Any]] = []
            if kind in (None, KIND):
                for a in await unsold_alerts(conn, Scope.admin(), cooperative):
                    data = alert_json(a)
                    data["value"] = format_yuan(a.detail["value_fen"])
                    items.append({"kind": KIND} | data)
            if kind != KIND and cooperative is None:
                query = select(Alert.id, Alert.kind, Alert.severity, Alert.created_at, Alert.message, Alert.shop_id)
                query = query.where(Alert.resolved_at.is_(None), Alert.kind != KIND).order_by(Alert.id)
                if kind is not None:
                    query = query.where(Alert.kind == kind)
                for row in await conn.execute(query):
                    items.append(
                        {
                            "kind": row.kind,
                            "id": row.id,
                            "severity": row.severity,
                            "since": row.created_at.isoformat(),
                            "message": row.message,
                            "shop_id": row.shop_id,
                        }
                    )
            return items
    finally:
        await engine.dispose()


def _print_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
