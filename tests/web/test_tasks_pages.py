"""The department task ledger (/tasks) on the demo county: bound tasks read the same figures the
unit, cooperative and county pages show (both back ends); the refresh appends only on change; the
quarterly ledger, the overdue and at-risk lists follow bangfu.tasks.status; a hand report is
checked (value, date, evidence, CSRF, a bound task takes none) and kept; the XLSX is a 台账 with
merged headers; only the county office and the admin see any of it."""

from __future__ import annotations

import io
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, insert, select, update

from bangfu.enums import UserRole
from bangfu.models import Agreement, Cooperative, LedgerTask, Region, Supplier, TaskProgress, User
from bangfu.queries import county as qc
from bangfu.queries.agreements import agreement_progress
from bangfu.queries.cooperatives import dashboard
from bangfu.queries.tasks import ledger
from bangfu.queries.units import units_overview
from bangfu.scope import Scope, region_and_below
from bangfu.store import make_engine
from bangfu.tasks import metrics
from bangfu.tasks.progress import refresh_bound, today
from tests.web.conftest import World, _client, csrf_of, login


def _copy(world: World, tmp_path: Path) -> str:
    target = tmp_path / "world.db"
    shutil.copyfile(world.url.removeprefix("sqlite+aiosqlite:///"), target)
    return f"sqlite+aiosqlite:///{target}"


async def test_bound_tasks_read_the_figures_the_pages_show(world: World) -> None:
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            now = today()
            bound = (
                await conn.execute(
                    select(LedgerTask.id, LedgerTask.metric_kind, LedgerTask.metric_params).where(
                        LedgerTask.metric_kind.is_not(None)
                    )
                )
            ).all()
            assert {b.metric_kind for b in bound} == set(metrics.METRICS), "the demo binds every kind"
            units = {r.code: r for r in await units_overview(conn, Scope.admin(), now.year)}
            for task in bound:
                value = await metrics.read(conn, task.metric_kind, task.metric_params, now)
                params = task.metric_params
                if task.metric_kind == "unit_reserved_rate":
                    rate = units[params["unit"]].rate
                    assert rate is not None and value == int(rate * 10_000)
                elif task.metric_kind == "cooperative_sales":
                    coop = await conn.scalar(
                        select(Cooperative.id)
                        .join(Supplier, Supplier.id == Cooperative.supplier_id)
                        .where(Supplier.credit_code == params["cooperative"])
                    )
                    assert coop is not None
                    board = await dashboard(conn, Scope.admin(), coop, metrics.year_to(now))
                    assert board is not None and value == board.totals.sales > 0
                elif task.metric_kind == "agreement_execution":
                    agreement = await conn.scalar(select(Agreement.id).where(Agreement.number == params["agreement"]))
                    assert agreement is not None
                    progress = await agreement_progress(conn, Scope.admin(), agreement, now)
                    assert progress is not None and value == progress.executed_fen > 0
                else:
                    region = await conn.scalar(select(Region.id).where(Region.code == params["region"]))
                    assert region is not None
                    scope = Scope(UserRole.COUNTY, region_ids=await region_and_below(conn, region))
                    overview = await qc.overview(conn, scope, metrics.year_to(now))
                    if task.metric_kind == "region_households_all":
                        assert overview.lines is not None
                        assert value == overview.lines.combined > overview.total.households > 0
                    else:
                        assert value == overview.total.households > 0
                latest = await conn.scalar(
                    select(TaskProgress.value)
                    .where(TaskProgress.task_id == task.id)
                    .order_by(TaskProgress.as_of.desc(), TaskProgress.id.desc())
                    .limit(1)
                )
                assert latest == value, "the demo's refresh recorded today's figure"
    finally:
        await engine.dispose()


async def test_refresh_appends_only_when_a_figure_changed(sqlite_world: World, tmp_path: Path) -> None:
    engine = make_engine(_copy(sqlite_world, tmp_path))
    try:
        async with engine.begin() as conn:
            first = await refresh_bound(conn)
            assert first.checked == 8 and first.appended == 0 and not first.failed  # the demo refreshed
            task = await conn.scalar(
                select(LedgerTask.id).where(LedgerTask.metric_kind == "cooperative_sales").order_by(LedgerTask.id)
            )
            await conn.execute(
                insert(TaskProgress).values(task_id=task, as_of=today(), value=1, who="metric", recorded_at=func.now())
            )
            again = await refresh_bound(conn)
            assert again.appended == 1
            assert (await refresh_bound(conn)).appended == 0
            count = await conn.scalar(
                select(func.count()).select_from(TaskProgress).where(TaskProgress.task_id == task)
            )
            before = count
            await conn.execute(
                update(LedgerTask).where(LedgerTask.id == task).values(metric_params={"cooperative": "NO-SUCH-CODE"})
            )
            broken = await refresh_bound(conn)
            assert broken.appended == 0 and [code for code, _ in broken.failed] == [
                await conn.scalar(select(LedgerTask.code).where(LedgerTask.id == task))
            ]
            assert (
                await conn.scalar(select(func.count()).select_from(TaskProgress).where(TaskProgress.task_id == task))
                == before
            )
    finally:
        await engine.dispose()


def _cells(html: str, code: str) -> list[str]:
    row = re.search(rf'<tr data-task="{re.escape(code)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, code
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


async def test_ledger_lists_export_and_scope(sqlite_world: World) -> None:
    from web.views.tasks import fmt_value

    engine = make_engine(sqlite_world.url)
    try:
        async with engine.connect() as conn:
            region = await conn.scalar(select(User.region_id).where(User.name == "county"))
            assert region is not None
            scope = Scope(UserRole.COUNTY, region_ids=await region_and_below(conn, region))
            book = await ledger(conn, scope, today().year, today())
    finally:
        await engine.dispose()
    assert len(book.rows) == 22 and len(book.departments) == 8
    assert {"done", "overdue", "at_risk"} <= set(book.counts), book.counts
    async for client in _client(sqlite_world.url):
        await login(client, "county")
        page = await client.get("/tasks")
        html = await page.text()
        assert page.status == 200 and "消费帮扶工作调度台账" in html
        for row in book.rows:
            cells = _cells(html, row.code)
            quarters = cells[-5:-1]
            assert quarters == [fmt_value(row.unit, v) if v is not None else "" for v in row.quarters], row.code
            assert f'data-task="{row.code}" data-status="{row.status}"' in html
        for path, wanted in (("/tasks/overdue", "overdue"), ("/tasks/at-risk", "at_risk")):
            listed = set(re.findall(r'<tr data-task="([^"]+)"', await (await client.get(path)).text()))
            assert listed == {r.code for r in book.rows if r.status == wanted} != set()

        overview = await client.get("/county")
        assert f'data-tasks="{len(book.rows)}"' in await overview.text()

        sheet_resp = await client.get("/tasks?format=xlsx")
        assert sheet_resp.status == 200 and sheet_resp.content_type.endswith("spreadsheetml.sheet")
        sheet = load_workbook(io.BytesIO(await sheet_resp.read())).active
        assert sheet is not None
        merged = {str(r) for r in sheet.merged_cells.ranges}
        assert {"A1:L1", "A2:L2", "A3:A4", "B3:B4", "C3:C4", "F3:F4", "G3:J3", "K3:K4", "L3:L4"} <= merged
        heads = [sheet.cell(3, c).value for c in range(1, 13)]
        assert heads[:7] == ["序号", "责任部门", "工作任务（举措）", "责任人", "完成时限", "目标", "季度进展"]
        assert heads[10:] == ["完成情况", "备注"]
        assert [sheet.cell(4, c).value for c in range(7, 11)] == ["第1季度", "第2季度", "第3季度", "第4季度"]
        row_no = 5
        for department, rows in book.departments:
            assert sheet.cell(row_no, 2).value == department
            if len(rows) > 1:
                assert f"B{row_no}:B{row_no + len(rows) - 1}" in merged
            for task in rows:
                assert sheet.cell(row_no, 3).value == task.title
                assert (
                    sheet.cell(row_no, 11).value
                    == {"done": "已完成", "on_track": "正常推进", "at_risk": "进度滞后", "overdue": "逾期未完成"}[
                        task.status
                    ]
                )
                row_no += 1
        assert sheet.max_row == row_no - 1

    for role in ("coop", "unit", "operator", "host"):
        async for client in _client(sqlite_world.url):
            await login(client, role)
            for path in ("/tasks", "/tasks/overdue", "/tasks/at-risk", f"/tasks/{book.rows[0].id}"):
                assert (await client.get(path)).status == 404, (role, path)


async def test_hand_reported_progress(sqlite_world: World, tmp_path: Path) -> None:
    url = _copy(sqlite_world, tmp_path)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tasks = (
                await conn.execute(select(LedgerTask.id, LedgerTask.unit, LedgerTask.metric_kind, LedgerTask.year))
            ).all()
    finally:
        await engine.dispose()
    hand = next(t for t in tasks if t.metric_kind is None and t.unit == "count")
    bound = next(t for t in tasks if t.metric_kind is not None)

    async def entries(task_id: int) -> list[Any]:
        e = make_engine(url)
        try:
            async with e.connect() as conn:
                return list(
                    (
                        await conn.execute(
                            select(TaskProgress.value, TaskProgress.evidence, TaskProgress.who, TaskProgress.as_of)
                            .where(TaskProgress.task_id == task_id)
                            .order_by(TaskProgress.id)
                        )
                    ).all()
                )
        finally:
            await e.dispose()

    before = await entries(hand.id)
    async for client in _client(url):
        await login(client, "county")
        page = await client.get(f"/tasks/{hand.id}")
        assert page.status == 200 and f'action="/tasks/{hand.id}/progress"' in await page.text()
        token = await csrf_of(client, f"/tasks/{hand.id}")
        form = {"as_of": today().isoformat(), "value": "7", "evidence": "会议纪要.pdf", "note": "第四季度"}
        no_csrf = await client.post(f"/tasks/{hand.id}/progress", data=form, allow_redirects=False)
        assert no_csrf.status == 403
        bad = await client.post(
            f"/tasks/{hand.id}/progress",
            data=form | {"value": "7.5", "evidence": "", "_csrf": token},
            allow_redirects=False,
        )
        text = await bad.text()
        assert bad.status == 400 and "请填写佐证材料" in text and "7.5" in text
        future = date(today().year + 1, 1, 1).isoformat()
        late = await client.post(
            f"/tasks/{hand.id}/progress", data=form | {"as_of": future, "_csrf": token}, allow_redirects=False
        )
        assert late.status == 400 and "日期不能晚于今天" in await late.text()
        assert await entries(hand.id) == before
        ok = await client.post(f"/tasks/{hand.id}/progress", data=form | {"_csrf": token}, allow_redirects=False)
        assert ok.status == 303 and ok.headers["Location"] == f"/tasks/{hand.id}?reported=1"
        after = await entries(hand.id)
        assert after[:-1] == before and tuple(after[-1]) == (7, "会议纪要.pdf", "county", today())
        page = await client.get(f"/tasks/{hand.id}?reported=1")
        assert "进展已记录" in await page.text()

        refused = await client.post(f"/tasks/{bound.id}/progress", data=form | {"_csrf": token}, allow_redirects=False)
        assert refused.status == 400 and "自动更新" in await refused.text()
        page = await client.get(f"/tasks/{bound.id}")
        assert page.status == 200 and "data-live=" in await page.text() and 'action="/tasks/' not in await page.text()

    async for client in _client(url):
        await login(client, "unit")
        token = await csrf_of(client, "/")
        denied = await client.post(f"/tasks/{hand.id}/progress", data=form | {"_csrf": token}, allow_redirects=False)
        assert denied.status == 404
    assert len(await entries(hand.id)) == len(before) + 1


def test_the_beat_task_refreshes(sqlite_world: World, tmp_path: Path) -> None:
    """``bangfu.refresh_task_metrics`` (the beat's, eager here) runs the refresh: nothing changed
    since the demo refreshed, so it appends nothing."""
    from workers.task_ledger import refresh_task_metrics

    assert refresh_task_metrics.apply(kwargs={"database_url": _copy(sqlite_world, tmp_path)}).get() == 0
