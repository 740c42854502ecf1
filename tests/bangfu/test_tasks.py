"""The task ledger's core: where a task stands (done, overdue, at risk, on track; quarter-end
values), the units' strict parsing, and ``bangfu tasks import``: the example file (with the other
examples) imports and imports again unchanged; a bad file is refused whole, each problem named
by file, row and field; a binding naming an unknown unit or kind is refused on import."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.importing import ImportRejected, import_file
from bangfu.models import LedgerTask
from bangfu.store import make_engine
from bangfu.tasks.importing import import_tasks
from bangfu.tasks.status import Entry, elapsed_share, quarter_values, status
from bangfu.tasks.units import ValueFormatError, parse_value

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_status_rules() -> None:
    year, deadline = 2026, date(2026, 12, 31)
    mid = date(2026, 7, 2)  # half the year gone
    assert elapsed_share(year, deadline, mid) == pytest.approx(0.5, abs=0.01)
    assert status(100, 100, year, deadline, mid) == "done"
    assert status(100, 100, year, date(2026, 3, 1), mid) == "done"  # done late is still done
    assert status(99, 100, year, date(2026, 6, 30), mid) == "overdue"
    assert status(None, 100, year, date(2026, 6, 30), mid) == "overdue"
    assert status(35, 100, year, deadline, mid) == "at_risk"  # 35% done, 50% of the time gone
    assert status(45, 100, year, deadline, mid) == "on_track"  # within the 10-point margin
    assert status(None, 100, year, deadline, date(2026, 1, 20)) == "on_track"  # early days


def test_quarter_values_take_the_latest_report_at_each_quarter_end() -> None:
    entries = [Entry(date(2026, 2, 1), 5, 1), Entry(date(2026, 3, 31), 10, 2), Entry(date(2026, 3, 31), 12, 3)]
    entries.append(Entry(date(2026, 8, 15), 30, 4))
    assert quarter_values(entries, 2026, date(2026, 12, 7)) == [12, 12, 30, 30]
    assert quarter_values(entries, 2026, date(2026, 8, 20)) == [12, 12, 30, None]  # Q4 not begun
    assert quarter_values(entries, 2026, date(2026, 5, 1)) == [12, 12, None, None]


@pytest.mark.parametrize(
    ("unit", "text", "value"),
    [("fen", "1,234.50", 123450), ("percent", "45.5", 4550), ("percent", "30%", 3000), ("count", "1,200", 1200)],
)
def test_values_parse_strictly(unit: str, text: str, value: int) -> None:
    assert parse_value(unit, text) == value


@pytest.mark.parametrize(
    ("unit", "text"), [("fen", "12.345"), ("percent", "45.555"), ("count", "1e3"), ("count", "-1")]
)
def test_bad_values_are_refused(unit: str, text: str) -> None:
    with pytest.raises(ValueFormatError):
        parse_value(unit, text)


async def _import(url: str, path: Path) -> tuple[int, int, int]:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            done = await import_tasks(conn, path)
    finally:
        await engine.dispose()
    return done.created, done.updated, done.unchanged


async def _count(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(LedgerTask)) or 0)
    finally:
        await engine.dispose()


async def test_import_good_bad_and_again(
    db_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    for kind in ("cooperatives", "units"):
        await import_file(sessions, kind, EXAMPLES / f"{kind}.csv")
    assert await _import(db_url, EXAMPLES / "tasks.csv") == (5, 0, 0)
    assert await _import(db_url, EXAMPLES / "tasks.csv") == (0, 0, 5)  # idempotent by task code
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            bound = (
                await conn.execute(
                    select(LedgerTask.code, LedgerTask.metric_kind, LedgerTask.metric_params, LedgerTask.target)
                    .where(LedgerTask.metric_kind.is_not(None))
                    .order_by(LedgerTask.code)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [(b.metric_kind, b.metric_params) for b in bound] == [
        ("unit_reserved_rate", {"unit": "U-EDU-001"}),
        ("cooperative_sales", {"cooperative": "93513328AY4CL12THE"}),  # by its Chinese label
        ("region_households", {"region": "513328"}),
    ]
    assert bound[0].target == 3000 and bound[1].target == 50_000_000  # 30%, ¥500,000.00

    # a changed row updates its task
    text = (EXAMPLES / "tasks.csv").read_text(encoding="utf-8").replace(",40,个,", ",45,个,")
    changed = tmp_path / "changed.csv"
    changed.write_text(text, encoding="utf-8")
    assert await _import(db_url, changed) == (0, 1, 4)

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "task code,region,year,department,owner,title,deadline,target,unit,metric,metric_param\n".replace(
            "task code", "code"
        )
        + "NEW-1,513328,2026,县商务局,张三,新任务,2026-12-31,10,个,,\n"
        + "NEW-2,513328,2026,县商务局,张三,新任务,2026-02-30,10,个,,\n"
        + "NEW-3,513328,2026,县商务局,张三,新任务,2026-12-31,10,个,unit_reserved_rate,U-NONE\n"
        + "NEW-4,513328,2026,县商务局,张三,新任务,2026-12-31,10,%,no_such_metric,x\n"
        + "NEW-5,999999,2026,县商务局,张三,新任务,2026-12-31,0,个,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as caught:
        await _import(db_url, bad)
    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"{bad}:3:deadline:") for line in lines), lines
    assert any(line.startswith(f"{bad}:4:metric_param:") and "U-NONE" in line for line in lines), lines
    assert any(line.startswith(f"{bad}:4:unit:") for line in lines), lines  # a rate is not a count
    assert any(line.startswith(f"{bad}:5:metric:") and "no_such_metric" in line for line in lines), lines
    assert any(line.startswith(f"{bad}:6:target:") for line in lines), lines
    assert await _count(db_url) == 5  # NEW-1 was good, but nothing of the file was written


@pytest.mark.slow
async def test_cli_import_and_refresh(sessions: async_sessionmaker[AsyncSession], db_url: str, tmp_path: Path) -> None:
    """``bangfu tasks import`` as a user runs it: a bad file is one line per problem on stderr,
    exit 2, nothing written; the example imports; ``bangfu tasks refresh`` reads the bindings."""
    from tests.bangfu.test_cli import bangfu

    if not db_url.startswith("sqlite"):
        pytest.skip("the command's own work is the same on both back ends (tested above)")
    for kind in ("cooperatives", "units"):
        await import_file(sessions, kind, EXAMPLES / f"{kind}.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        (EXAMPLES / "tasks.csv").read_text(encoding="utf-8").replace("93513328AY4CL12THE", "NO-SUCH-COOP"),
        encoding="utf-8",
    )
    refused = bangfu("tasks", "import", str(bad), "--db", db_url)
    assert refused.returncode == 2 and f"{bad}:4:指标对象:" in refused.stderr and "Traceback" not in refused.stderr
    assert await _count(db_url) == 0
    done = bangfu("tasks", "import", str(EXAMPLES / "tasks.csv"), "--db", db_url)
    assert done.returncode == 0 and "新增 5" in done.stdout, done.stderr
    refreshed = bangfu("tasks", "refresh", "--db", db_url)
    # no sales in this store: every bound figure is 0, recorded once
    assert refreshed.returncode == 0 and "任务 3 项，记入新进展 3 条" in refreshed.stdout, refreshed.stderr
    again = bangfu("tasks", "refresh", "--db", db_url)
    assert again.returncode == 0 and "记入新进展 0 条" in again.stdout, again.stderr
