"""The county office's enterprise-driven households (企业带动农户): ``/county/drives`` (the two
lines of the 带动 figures, per mode and per enterprise, with a chart by mode) and
``/county/drives/{id}`` (one enterprise's households, names masked), each as XLSX or CSV too.

Enterprises have no login: the county office keeps their records. The county (the enterprises
registered in its region and below, :meth:`bangfu.scope.Scope.suppliers`) and the admin see
these pages; for anyone else, and for an id that is not an enterprise in scope, a 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bangfu.drives import MODES, mode_label
from bangfu.i18n import t
from bangfu.queries import drives as qd
from bangfu.reports.base import Column, Report
from web.export import export_response
from web.keys import ENGINE
from web.paging import choice_param, id_param
from web.render import render
from web.views import county as vc

routes = web.RouteTableDef()
TABLES = ("enterprises", "modes", "categories", "lines")


def _figures_cells(f: Any) -> dict[str, Any]:
    return qd.figure_cells(f)


def _figure_columns() -> list[Column]:
    return [
        Column("households", t("drives.web.households"), "int"),
        Column("amount", t("drives.web.amount"), "money"),
        Column("per_household", t("drives.web.per_household"), "money"),
    ]


def _report(o: qd.DrivesOverview, table: str) -> Report:
    title = t("drives.web.title", period=o.period.label)
    if table == "lines":
        report = Report(
            "drives-lines",
            f"{title} · {t('drives.web.lines')}",
            [Column("line", t("drives.web.line")), *_figure_columns()],
            qd.line_rows(o.lines),
        )
        report.summary = [t("drives.web.lines_def")]
        return report
    if table in ("modes", "categories"):
        by, head = ("mode", "drives.web.mode") if table == "modes" else ("category", "drives.web.category")
        return Report(
            f"drives-{table}",
            f"{title} · {t('drives.web.by_' + by)}",
            [Column("label", t(head)), *_figure_columns()],
            [{"label": r.label, **_figures_cells(r.figures)} for r in (o.by_mode if by == "mode" else o.by_category)],
            {"label": t("drives.web.total"), **_figures_cells(o.lines.enterprise)},
            [t("drives.web.modes_note")],
        )
    columns = [Column("enterprise", t("drives.web.enterprise")), Column("on_books", t("drives.web.on_books"), "int")]
    columns += _figure_columns()
    for m in MODES:
        columns.append(Column(f"h:{m.value}", f"{mode_label(m)} · {t('drives.web.households')}", "int"))
        columns.append(Column(f"a:{m.value}", f"{mode_label(m)} · {t('drives.web.amount')}", "money"))
    rows = []
    for e in o.enterprises:
        row: dict[str, Any] = {"enterprise": e.name, "on_books": e.households, **_figures_cells(e.figures)}
        for m in MODES:
            row[f"h:{m.value}"] = e.by_mode[m.value].households
            row[f"a:{m.value}"] = e.by_mode[m.value].income
        rows.append(row)
    totals: dict[str, Any] = {"enterprise": t("drives.web.total"), **_figures_cells(o.lines.enterprise)}
    totals["on_books"] = sum(e.households for e in o.enterprises)
    for r in o.by_mode:
        totals[f"h:{r.mode}"] = r.figures.households
        totals[f"a:{r.mode}"] = r.figures.income
    return Report(
        "drives-enterprises",
        f"{title} · {t('drives.web.by_enterprise')}",
        columns,
        rows,
        totals,
        [t("drives.web.modes_note")],
    )


@routes.get("/county/drives")
async def drives_page(request: web.Request) -> web.StreamResponse:
    scope = vc._scope(request)
    period = vc._period(request)
    fmt = vc._format(request)
    table = choice_param(request, "table", TABLES, "enterprises")
    async with request.app[ENGINE].connect() as conn:
        o = await qd.overview(conn, scope, period)
    if fmt:
        report = _report(o, table)
        return export_response(report, fmt, report.title, vc._subtitle(scope, period.label))
    chart = {
        "modes": [r.label for r in o.by_mode],
        "amounts": [r.figures.income / 100 for r in o.by_mode],
        "households": [r.figures.households for r in o.by_mode],
        "amount_label": t("drives.web.amount"),
        "households_label": t("drives.web.households"),
    }
    context = vc._base(request, scope, "drives") | {
        "o": o,
        "pq": vc._period_query(period),
        "lines": qd.line_rows(o.lines),
        "modes": [(m.value, mode_label(m)) for m in MODES],
        "chart": chart,
        "title": t("drives.web.title", period=period.label),
    }
    return render(request, "console/drives/overview.html", context)


@routes.get("/county/drives/{id}")
async def enterprise_page(request: web.Request) -> web.StreamResponse:
    scope = vc._scope(request)
    supplier_id = id_param(request)
    period = vc._period(request)
    fmt = vc._format(request)
    async with request.app[ENGINE].connect() as conn:
        detail = await qd.enterprise(conn, scope, supplier_id, period)
    if detail is None:
        raise web.HTTPNotFound()
    title = t("drives.web.enterprise_title", name=detail.name, period=period.label)
    if fmt:
        columns = [
            Column("ref", t("drives.web.ref")),
            Column("name", t("drives.web.name")),
            Column("category", t("drives.web.category")),
            Column("village", t("drives.web.village")),
            Column("member", t("drives.web.member")),
        ]
        columns += [Column(f"a:{m.value}", mode_label(m), "money") for m in MODES]
        columns.append(Column("total", t("drives.web.total"), "money"))
        rows = []
        for h in detail.households:
            row: dict[str, Any] = {
                "ref": h.ref,
                "name": h.name,
                "category": h.category,
                "village": h.village,
                "member": t("drives.web.yes") if h.member else "",
                "total": h.total,
            }
            row |= {f"a:{m.value}": h.by_mode.get(m.value, 0) for m in MODES}
            rows.append(row)
        totals: dict[str, Any] = {"ref": t("drives.web.total"), "total": detail.figures.income}
        totals |= {f"a:{r.mode}": r.figures.income for r in detail.by_mode}
        report = Report(
            "drives-enterprise",
            title,
            columns,
            rows,
            totals,
            [t("drives.web.households_note"), t("drives.web.modes_note")],
        )
        return export_response(report, fmt, title, vc._subtitle(scope, period.label))
    context = vc._base(request, scope, "drives") | {
        "d": detail,
        "pq": vc._period_query(period),
        "modes": [(m.value, mode_label(m)) for m in MODES],
        "title": title,
    }
    return render(request, "console/drives/enterprise.html", context)


def setup(app: web.Application) -> None:
    app.add_routes(routes)
