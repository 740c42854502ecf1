"""Open unsold (滞销) alerts as a report (``bangfu report unsold``): the figures the alert run kept
(:mod:`workers.alerts`), one row per lot, in the order the county page lists them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.i18n import t
from bangfu.queries.unsold import channel_text, rule_lines, unsold_alerts
from bangfu.reports.base import SHANGHAI, Report, column
from bangfu.scope import Scope
from bangfu.unsold import load_rule


async def unsold(conn: AsyncConnection, *, now: datetime, cooperative_id: int | None = None) -> Report:
    """Every open unsold alert (the report reads as the admin; ``cooperative_id`` narrows it)."""
    del now  # the alerts carry the figures of their last run
    rows: list[dict[str, Any]] = []
    for a in await unsold_alerts(conn, Scope.admin(), cooperative_id):
        d = a.detail
        rows.append(
            {
                "status": t(f"unsold.status.{a.status}"),
                "lot": d["lot"],
                "sku": d["sku"],
                "product": d["product"],
                "owner": a.owner,
                "received_on": d["received_on"],
                "expires_on": d["expires_on"],
                "days_left": d["days_left"],
                "remaining": d["remaining"],
                "sold": d["sold"],
                "left_at_end": d["left_at_end"],
                "value": d["value_fen"],
                "channels": "；".join(channel_text(c) for c in a.channels),
                "alert_since": a.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
                if a.created_at.utcoffset() is not None
                else a.created_at.strftime("%Y-%m-%d %H:%M"),
            }
        )
    columns = [
        column("status", header_key="unsold.col.status"),
        column("lot"),
        column("sku"),
        column("product"),
        column("owner", header_key="unsold.col.owner"),
        column("received_on"),
        column("expires_on", header_key="unsold.col.expires_on"),
        column("days_left", "int", header_key="unsold.col.days_left"),
        column("remaining", "int"),
        column("sold", "int", header_key="unsold.col.sold"),
        column("left_at_end", "int", header_key="unsold.col.left_at_end"),
        column("value", "money", header_key="unsold.col.value"),
        column("channels", header_key="unsold.col.channels"),
        column("alert_since"),
    ]
    totals = {
        "status": t("report.total"),
        "remaining": sum(r["remaining"] for r in rows),
        "left_at_end": sum(r["left_at_end"] for r in rows),
        "value": sum(r["value"] for r in rows),
    }
    return Report("unsold", t("report.title.unsold"), columns, rows, totals, rule_lines(load_rule()))
