"""The department task ledger (调度台账): the quarterly ledger by department, the overdue and
at-risk lists, each task with its progress history and (for a task not bound to a hub figure)
the form to report progress by hand with evidence; the ledger as a county 台账 sheet (XLSX).

The county office sees its region's ledger and the admin every county's; every other role, and
a task outside the user's scope, gets a 404. Definitions: :mod:`bangfu.tasks.status`.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bangfu.enums import UserRole
from bangfu.i18n import MESSAGES, t
from bangfu.queries.tasks import Ledger, TaskDetail, ledger, sees_tasks, task_detail, task_of
from bangfu.scope import Scope
from bangfu.tasks.progress import ProgressError, report_progress, today
from bangfu.tasks.status import AT_RISK_MARGIN
from bangfu.tasks.units import as_number, format_value
from web.errors import BadParam
from web.export import CONTENT_TYPES
from web.keys import ENGINE, scope_of, user_of
from web.paging import id_param, int_param
from web.render import NAV, NavItem, render
from web.task_sheet import ledger_sheet

MESSAGES.update(
    {
        "tasks.menu": {"zh": "调度台账", "en": "Task ledger"},
        "tasks.title": {"zh": "{year} 年消费帮扶工作调度台账", "en": "Consumption-assistance task ledger {year}"},
        "tasks.intro": {
            "zh": "各责任部门的重点工作任务、责任人、完成时限和目标，按季度调度进展。绑定中台指标的任务"
            "进展自动更新，其余由部门填报并附佐证材料。",
            "en": "Each department's tasks with owner, deadline and target, with progress by quarter. Tasks "
            "bound to a hub figure update themselves; the others are reported by the department with evidence.",
        },
        "tasks.scope_all": {"zh": "全部县区", "en": "All counties"},
        "tasks.scope_region": {"zh": "本县区", "en": "Your region"},
        "tasks.year": {"zh": "年度", "en": "Year"},
        "tasks.show": {"zh": "查看", "en": "Show"},
        "tasks.xlsx": {"zh": "导出台账（Excel）", "en": "Download the ledger (XLSX)"},
        "tasks.tab.ledger": {"zh": "季度台账", "en": "By quarter"},
        "tasks.tab.overdue": {"zh": "逾期未完成", "en": "Overdue"},
        "tasks.tab.at_risk": {"zh": "进度滞后", "en": "At risk"},
        "tasks.none": {"zh": "本年度暂无任务。", "en": "No tasks this year."},
        "tasks.none_overdue": {"zh": "没有逾期未完成的任务。", "en": "No task is overdue."},
        "tasks.none_at_risk": {"zh": "没有进度滞后的任务。", "en": "No task is at risk."},
        "tasks.total": {"zh": "任务总数", "en": "Tasks"},
        "tasks.col.no": {"zh": "序号", "en": "No."},
        "tasks.col.code": {"zh": "任务编号", "en": "Code"},
        "tasks.col.department": {"zh": "责任部门", "en": "Department"},
        "tasks.col.title": {"zh": "工作任务（举措）", "en": "Task (measure)"},
        "tasks.col.owner": {"zh": "责任人", "en": "Owner"},
        "tasks.col.deadline": {"zh": "完成时限", "en": "Deadline"},
        "tasks.col.target": {"zh": "目标", "en": "Target"},
        "tasks.col.quarters": {"zh": "季度进展", "en": "Progress by quarter"},
        "tasks.col.quarter": {"zh": "第{q}季度", "en": "Q{q}"},
        "tasks.col.status": {"zh": "完成情况", "en": "Status"},
        "tasks.col.note": {"zh": "备注", "en": "Notes"},
        "tasks.col.progress": {"zh": "最新进展", "en": "Latest progress"},
        "tasks.col.share": {"zh": "完成比例", "en": "Done"},
        "tasks.col.elapsed": {"zh": "时间进度", "en": "Time elapsed"},
        "tasks.col.source": {"zh": "来源", "en": "Source"},
        "tasks.status.done": {"zh": "已完成", "en": "done"},
        "tasks.status.on_track": {"zh": "正常推进", "en": "on track"},
        "tasks.status.at_risk": {"zh": "进度滞后", "en": "at risk"},
        "tasks.status.overdue": {"zh": "逾期未完成", "en": "overdue"},
        "tasks.source.metric": {"zh": "自动（中台指标）", "en": "automatic (hub figure)"},
        "tasks.source.hand": {"zh": "部门填报", "en": "reported"},
        "tasks.unit.households": {"zh": " 户", "en": " households"},
        "tasks.unit.count": {"zh": "", "en": ""},
        "tasks.def": {
            "zh": "季度进展为各季度末的最新进展（当季为截至今天）。逾期：已过完成时限仍未达到目标。"
            "进度滞后：未到时限、未完成，且完成比例比时间进度（从 1 月 1 日到完成时限已过去的比例）"
            "低 {margin} 个百分点以上。",
            "en": "A quarter shows the latest progress at its end (the current quarter: so far). Overdue: the "
            "deadline has passed and the target is not met. At risk: not done, not yet due, and the share "
            "done is more than {margin} points below the time elapsed (the part of 1 January to the "
            "deadline gone by).",
        },
        "tasks.sheet.name": {"zh": "{year}年调度台账", "en": "Task ledger {year}"},
        "tasks.sheet.title": {"zh": "{year}年消费帮扶工作调度台账", "en": "Consumption-assistance task ledger {year}"},
        "tasks.sheet.subtitle": {
            "zh": "{where} · 截至 {today} · 共 {n} 项任务",
            "en": "{where} · as of {today} · {n} tasks",
        },
        "tasks.sheet.auto": {"zh": "进展由中台指标自动更新", "en": "progress from a hub figure"},
        "tasks.bound": {"zh": "绑定指标", "en": "Bound to"},
        "tasks.live": {"zh": "实时数值", "en": "Live value"},
        "tasks.live_note": {
            "zh": "中台当前数值；定时任务在数值变化时记入进展历史。",
            "en": "The hub's figure now; the periodic refresh records it in the history when it changes.",
        },
        "tasks.history": {"zh": "进展历史", "en": "Progress history"},
        "tasks.no_history": {"zh": "尚无进展记录。", "en": "No progress reported yet."},
        "tasks.as_of": {"zh": "截至日期", "en": "As of"},
        "tasks.value": {"zh": "进展数值", "en": "Value"},
        "tasks.note": {"zh": "进展说明", "en": "Note"},
        "tasks.evidence": {"zh": "佐证材料", "en": "Evidence"},
        "tasks.who": {"zh": "填报人", "en": "Reported by"},
        "tasks.who.metric": {"zh": "中台指标", "en": "hub figure"},
        "tasks.report": {"zh": "填报进展", "en": "Report progress"},
        "tasks.report_hint": {
            "zh": "填写截至某日的累计完成数值（不是增量），并附佐证材料：文件名、链接或说明。"
            "记录只增不改，更正请再填一条。",
            "en": "Enter the cumulative value as of a date (not an increment) with evidence: a file name, a link "
            "or a description. Reports are never edited: to correct one, report again.",
        },
        "tasks.value_in": {"zh": "单位：{unit}", "en": "in {unit}"},
        "tasks.unit_name.fen": {"zh": "元", "en": "yuan"},
        "tasks.unit_name.households": {"zh": "户", "en": "households"},
        "tasks.unit_name.percent": {"zh": "%", "en": "percent"},
        "tasks.unit_name.count": {"zh": "个/项", "en": "count"},
        "tasks.submit": {"zh": "提交", "en": "Submit"},
        "tasks.reported": {"zh": "进展已记录。", "en": "Progress recorded."},
        "tasks.back": {"zh": "返回台账", "en": "Back to the ledger"},
        "tasks.target_line": {"zh": "目标", "en": "Target"},
        "tasks.card.title": {"zh": "调度台账", "en": "Task ledger"},
        "tasks.card.headline": {
            "zh": "{year} 年 {n} 项任务：已完成 {done}，逾期 {overdue}，滞后 {at_risk}",
            "en": "{year}: {n} tasks, {done} done, {overdue} overdue, {at_risk} at risk",
        },
        "tasks.card.open": {"zh": "查看台账", "en": "Open the ledger"},
    }
)

routes = web.RouteTableDef()


def _nav(scope: Scope) -> list[NavItem]:
    return [NavItem("/tasks", t("tasks.menu"))] if sees_tasks(scope) else []


NAV.append(_nav)


def _scope(request: web.Request) -> Scope:
    scope = scope_of(request)
    if not sees_tasks(scope):
        raise web.HTTPNotFound()
    return scope


def _year(request: web.Request, now: date) -> int:
    return int_param(request, "year", now.year, lo=2000, hi=2100)


def fmt_value(unit: str, value: int | None) -> str:
    """A value as pages and the sheet show it."""
    suffix = t(f"tasks.unit.{unit}") if unit in ("households", "count") else ""
    return format_value(unit, value, suffix)


def _where(scope: Scope) -> str:
    return t("tasks.scope_all") if scope.role == UserRole.ADMIN else t("tasks.scope_region")


def _context(scope: Scope, book: Ledger, tab: str) -> dict[str, Any]:
    return {
        "book": book,
        "tab": tab,
        "fv": fmt_value,
        "where": _where(scope),
        "definition": t("tasks.def", margin=int(AT_RISK_MARGIN * 100)),
    }


@routes.get("/tasks")
async def ledger_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    now = today()
    year = _year(request, now)
    fmt = request.query.get("format")
    if fmt is not None and fmt != "xlsx":
        raise BadParam("format", "xlsx")
    async with request.app[ENGINE].connect() as conn:
        book = await ledger(conn, scope, year, now)
    if fmt == "xlsx":
        subtitle = t("tasks.sheet.subtitle", where=_where(scope), today=now.isoformat(), n=len(book.rows))
        data = ledger_sheet(book, subtitle, fmt_value)
        name = t("tasks.sheet.title", year=year) + ".xlsx"
        disposition = f"attachment; filename=\"task-ledger-{year}.xlsx\"; filename*=UTF-8''{quote(name)}"
        return web.Response(
            body=data, headers={"Content-Type": CONTENT_TYPES["xlsx"], "Content-Disposition": disposition}
        )
    return render(request, "console/tasks/ledger.html", _context(scope, book, "ledger"))


async def _list(request: web.Request, wanted: str) -> web.StreamResponse:
    scope = _scope(request)
    now = today()
    year = _year(request, now)
    async with request.app[ENGINE].connect() as conn:
        book = await ledger(conn, scope, year, now)
    context = _context(scope, book, wanted) | {"rows": book.with_status(wanted)}
    return render(request, "console/tasks/list.html", context)


@routes.get("/tasks/overdue")
async def overdue_page(request: web.Request) -> web.StreamResponse:
    return await _list(request, "overdue")


@routes.get("/tasks/at-risk")
async def at_risk_page(request: web.Request) -> web.StreamResponse:
    return await _list(request, "at_risk")


def _task_context(detail: TaskDetail, form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    row = detail.row
    chart = {
        "dates": [e.as_of.isoformat() for e in detail.entries],
        "values": [as_number(row.unit, e.value) for e in detail.entries],
        "target": as_number(row.unit, row.target),
        "deadline": row.deadline.isoformat(),
        "unit": t(f"tasks.unit_name.{row.unit}"),
        "label": t("tasks.value"),
        "target_label": t("tasks.target_line"),
    }
    return {
        "d": detail,
        "r": row,
        "fv": fmt_value,
        "chart": chart,
        "form": form,
        "errors": errors,
        "today": today().isoformat(),
        "unit_name": t(f"tasks.unit_name.{row.unit}"),
        "reported": False,
    }


@routes.get("/tasks/{id}")
async def task_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    task_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        detail = await task_detail(conn, scope, task_id, today())
    if detail is None:
        raise web.HTTPNotFound()
    context = _task_context(detail, {}, {}) | {"reported": request.query.get("reported") == "1"}
    return render(request, "console/tasks/task.html", context)


@routes.post("/tasks/{id}/progress")
async def report_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    task_id = id_param(request)
    user = user_of(request)
    form = {k: str(v) for k, v in (await request.post()).items() if k != "_csrf"}
    try:
        async with request.app[ENGINE].begin() as conn:
            task = await task_of(conn, scope, task_id)
            if task is None:
                raise web.HTTPNotFound()
            await report_progress(conn, task, form, who=user.name if user else "?", user_id=user.id if user else None)
    except ProgressError as exc:
        async with request.app[ENGINE].connect() as conn:
            detail = await task_detail(conn, scope, task_id, today())
        assert detail is not None
        return render(request, "console/tasks/task.html", _task_context(detail, form, exc.errors), status=400)
    raise web.HTTPSeeOther(f"/tasks/{task_id}?reported=1")


def setup(app: web.Application) -> None:
    app.add_routes(routes)
