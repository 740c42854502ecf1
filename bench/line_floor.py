"""The least any implementation must do per order line on this machine, as one JSON line.

    python bench/line_floor.py --lines 20000 --workers 2 --split sql --db postgresql+asyncpg://127.0.0.1:5432/bench

A ceiling for ``bench/attribution.py``: the leanest possible form of the work the rules of
issue 5 need for each paid line, with no per-line objects anywhere. In a scratch schema
(dropped afterwards; nothing else in the database is touched), ``--lines`` paid order lines,
60 live sessions and 1,300 lots of ``--households`` households each (every third a priority
household) are stored untimed. Then, timed, ``--workers`` worker processes (one per core,
connected before the clock starts) each take their share of the lines and, in one
transaction, write:

* its attribution: one row keyed by the line, the session found by joining the line's room
  id to the sessions (``INSERT ... SELECT``);
* its lot draw: one row keyed by (line, lot) (``INSERT ... SELECT``);
* its sale journal in the leanest shape there is: one row per line, keyed by (line,
  sequence), its legs in two arrays (account ids, amounts) whose balance a CHECK proves. Seven
  legs by rate (receivable, three fees, commission, retention, collective); the household pool
  split over the lot's households by weight and the bonus pool over its priority households,
  both by largest remainder; each share credited first against the guaranteed price of the
  household's units, the rest as rebate; zero legs left out. ``--split sql`` computes it in one
  ``INSERT ... SELECT`` with window functions; ``--split numpy`` reads the inputs, computes it
  vectorised in the worker and COPYs the rows. Both print the same ``journals_md5``;
* its accounting state: one row keyed by the line (``INSERT ... SELECT``).

Everything is leaner than the hub's real work: integer keys instead of text source keys and
uuids, no foreign keys, no index by account, one lot per line, fees and shares by fixed rates
instead of the policy version in force, no bills, refunds, lot stock updates, row locks,
re-attribution or due-line discovery. So ``lines_per_s`` bounds from above what attribution
+ lot draws + per-household journals can reach on this machine and this PostgreSQL, whatever
the code around them. It is lines over the wall time from the start signal to the last
process's commit; median of ``--repeat`` runs, each on empty tables.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import statistics
import sys
import time
from typing import Any

import orjson
from _scratch import scratch_schema
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.store import asyncpg_in_transaction, make_engine

_TABLES = (
    "CREATE TABLE {s}.sessions (id bigint PRIMARY KEY, room_id text NOT NULL UNIQUE)",
    "CREATE TABLE {s}.lines (id bigint PRIMARY KEY, room_id text, sku_id bigint NOT NULL, "
    "quantity int NOT NULL, paid_fen bigint NOT NULL, paid_at timestamptz NOT NULL)",
    "CREATE FUNCTION {s}.balanced(amounts bigint[]) RETURNS boolean LANGUAGE sql IMMUTABLE "
    "AS $$ SELECT coalesce(sum(a), 0) = 0 AND count(*) >= 2 FROM unnest(amounts) AS a $$",
)
_LOT_TOTALS = (
    "CREATE TABLE {s}.lot_totals AS SELECT lot_id, sum(weight)::bigint AS total, "
    "sum(weight) FILTER (WHERE priority)::bigint AS priority_total FROM {s}.contributions GROUP BY lot_id"
)
_WORK_TABLES = (
    "CREATE TABLE {s}.attributions (line_id bigint PRIMARY KEY, session_id bigint, confidence smallint NOT NULL)",
    # Four lots per SKU, received a day apart, together holding more than the SKU's lines want.
    "CREATE TABLE {s}.lots (id bigint PRIMARY KEY, sku_id bigint NOT NULL, received_on date NOT NULL, "
    "remaining int NOT NULL CHECK (remaining >= 0))",
    "INSERT INTO {s}.lots SELECT * FROM {s}.lot_stock",
    "CREATE TABLE {s}.draws (line_id bigint NOT NULL, lot_id bigint NOT NULL, units int NOT NULL, "
    "PRIMARY KEY (line_id, lot_id))",
    "CREATE TABLE {s}.journals (line_id bigint NOT NULL, seq smallint NOT NULL, occurred_at timestamptz NOT NULL, "
    "account_ids bigint[] NOT NULL, amounts bigint[] NOT NULL, PRIMARY KEY (line_id, seq), "
    "CHECK (cardinality(account_ids) = cardinality(amounts) AND {s}.balanced(amounts)))",
    "CREATE INDEX ON {s}.journals (occurred_at)",
    "CREATE TABLE {s}.states (line_id bigint PRIMARY KEY, posted_rev int NOT NULL, status smallint NOT NULL)",
)
_FILL = (
    "INSERT INTO {s}.sessions SELECT d, 'room-' || d FROM generate_series(1, 60) AS d",
    # Four lots per SKU, received a day apart, together holding more than the SKU's lines want.
    "CREATE TABLE {s}.lot_stock AS SELECT ((sku - 1) * 4 + k + 1)::bigint AS id, sku::bigint AS sku_id, "
    "date '2026-01-01' + k AS received_on, $1 / 300 + 2 AS remaining "
    "FROM generate_series(1, 300) AS sku, generate_series(0, 3) AS k",
    "CREATE TABLE {s}.contributions (lot_id bigint NOT NULL, household_id bigint NOT NULL, weight bigint NOT NULL, "
    "priority boolean NOT NULL, guaranteed_fen bigint NOT NULL, PRIMARY KEY (lot_id, household_id))",
    # Every lot has a priority household (h = 0).
    "INSERT INTO {s}.contributions SELECT lot, (lot * 13 + h) % 3000 + 1, 50 + (lot * 7 + h * 11) % 200, h % 3 = 0, "
    "800 FROM generate_series(1, 1200) AS lot, generate_series(0, $1 - 1) AS h",
    _LOT_TOTALS,
    "ALTER TABLE {s}.lot_totals ADD PRIMARY KEY (lot_id)",
    "INSERT INTO {s}.lines SELECT j, CASE WHEN j % 5 < 2 THEN 'room-' || (j % 60 + 1) END, j % 300 + 1, "
    "j % 3 + 1, 1990 * (j % 3 + 1), now() - j * interval '1 minute' FROM generate_series(1, $1) AS j",
)
# The same tables filled from the hub's own store in the same database (``--from-store``, used by
# ``bench/attribution.py --with-floor`` right after the hub's run): its paid lines of SKUs with
# households' lots (room id, SKU, quantity, paid amount and time as the hub read them), its live
# sessions, its lots with the stock they were received with, and each lot's households weighted
# by the units they delivered, at their guaranteed price, priority by category. The hub gives the
# bonus of a lot without priority households to the household pool; here all of that lot's
# households share it, which keeps the journal balanced and costs the same.
_FILL_FROM_STORE = (
    "INSERT INTO {s}.sessions SELECT DISTINCT ON (room_id) id, room_id FROM live_sessions "
    "WHERE room_id IS NOT NULL ORDER BY room_id, id",
    "CREATE TABLE {s}.lot_stock AS SELECT l.id::bigint AS id, l.sku_id::bigint AS sku_id, l.received_on, "
    "l.quantity AS remaining FROM supply_lots AS l WHERE EXISTS (SELECT FROM lot_contributions AS c "
    "WHERE c.lot_id = l.id)",
    "CREATE TABLE {s}.contributions (lot_id bigint NOT NULL, household_id bigint NOT NULL, weight bigint NOT NULL, "
    "priority boolean NOT NULL, guaranteed_fen bigint NOT NULL, PRIMARY KEY (lot_id, household_id))",
    "INSERT INTO {s}.contributions SELECT c.lot_id, c.household_id, sum(c.quantity), "
    "bool_or(h.category <> 'ordinary'), max(c.guaranteed_price_fen) FROM lot_contributions AS c "
    "JOIN households AS h ON h.id = c.household_id GROUP BY c.lot_id, c.household_id",
    "UPDATE {s}.contributions AS c SET priority = true WHERE NOT EXISTS (SELECT FROM {s}.contributions AS p "
    "WHERE p.lot_id = c.lot_id AND p.priority)",
    _LOT_TOTALS,
    "ALTER TABLE {s}.lot_totals ADD PRIMARY KEY (lot_id)",
    "INSERT INTO {s}.lines SELECT ol.id, ol.room_id, ol.sku_id, ol.quantity, ol.paid_fen, o.paid_at "
    "FROM order_lines AS ol JOIN orders AS o ON o.id = ol.order_id WHERE o.paid_at IS NOT NULL "
    "AND ol.sku_id IN (SELECT sku_id FROM {s}.lot_stock)",
)
# One worker's share: the lines of the SKUs with sku_id % $1 = $2 (a SKU's lots draw in one place).
_WORK = (
    "INSERT INTO {s}.attributions SELECT l.id, s.id, CASE WHEN s.id IS NULL THEN 0 ELSE 1 END "
    "FROM {s}.lines AS l LEFT JOIN {s}.sessions AS s ON s.room_id = l.room_id WHERE l.sku_id % $1 = $2",
    # FIFO: a line's units [upto - quantity, upto) in payment order meet each lot's units in
    # receipt order; the overlap is the draw. Then the lots' stock moves.
    "SELECT id FROM {s}.lots WHERE sku_id % $1 = $2 ORDER BY id FOR UPDATE",
    "WITH demand AS (SELECT id, sku_id, quantity, sum(quantity) OVER (PARTITION BY sku_id ORDER BY paid_at, id) "
    "AS upto FROM {s}.lines WHERE sku_id % $1 = $2), "
    "stock AS (SELECT id, sku_id, remaining, sum(remaining) OVER (PARTITION BY sku_id ORDER BY received_on, id) "
    "AS upto FROM {s}.lots WHERE sku_id % $1 = $2 AND remaining > 0) "
    "INSERT INTO {s}.draws SELECT d.id, s.id, "
    "least(d.upto, s.upto) - greatest(d.upto - d.quantity, s.upto - s.remaining) "
    "FROM demand AS d JOIN stock AS s ON s.sku_id = d.sku_id AND s.upto - s.remaining < d.upto "
    "AND s.upto > d.upto - d.quantity",
    "UPDATE {s}.lots SET remaining = remaining - drawn.units FROM (SELECT d.lot_id, sum(d.units) AS units "
    "FROM {s}.draws AS d JOIN {s}.lots AS lot ON lot.id = d.lot_id WHERE lot.sku_id % $1 = $2 GROUP BY d.lot_id) "
    "AS drawn WHERE {s}.lots.id = drawn.lot_id",
    # The sale journal: seven legs by rate (receivable, three fees, commission, retention,
    # collective). The household pool and the bonus pool are split over the line's draws by
    # units, then each draw's parts over its lot's households by weight (the bonus over the
    # priority households only), every split largest remainder first. Each household's share
    # is credited first against the guaranteed price of its units, the rest as rebate: up to
    # three legs per household (recovered, rebate, bonus), zero legs left out.
    "WITH base AS (SELECT l.id, l.paid_at, l.paid_fen, l.paid_fen * 2 / 100 AS fee1, l.paid_fen / 100 AS fee2, "
    "l.paid_fen / 100 AS fee3, l.paid_fen * 3 / 100 AS commission FROM {s}.lines AS l WHERE l.sku_id % $1 = $2), "
    "net AS (SELECT *, paid_fen - fee1 - fee2 - fee3 - commission AS net FROM base), "
    "heads AS (SELECT *, net * 5 / 100 AS retention, net * 3 / 100 AS collective, net * 2 / 100 AS bonus FROM net), "
    "pools AS (SELECT id, bonus, net - retention - collective - bonus AS pool FROM heads), "
    "draws AS (SELECT p.id, p.pool, p.bonus, d.lot_id, d.units, sum(d.units) OVER (PARTITION BY p.id) AS line_units "
    "FROM pools AS p JOIN {s}.draws AS d ON d.line_id = p.id), "
    "draw_ranked AS (SELECT *, pool * units / line_units AS part, bonus * units / line_units AS bonus_part, "
    "pool - sum(pool * units / line_units) OVER line AS leftover, "
    "bonus - sum(bonus * units / line_units) OVER line AS bonus_leftover, "
    "row_number() OVER (line ORDER BY pool * units % line_units DESC, lot_id) AS rank, "
    "row_number() OVER (line ORDER BY bonus * units % line_units DESC, lot_id) AS bonus_rank "
    "FROM draws WINDOW line AS (PARTITION BY id)), "
    "draw_pools AS (SELECT id, lot_id, units, part + CASE WHEN rank <= leftover THEN 1 ELSE 0 END AS pool, "
    "bonus_part + CASE WHEN bonus_rank <= bonus_leftover THEN 1 ELSE 0 END AS bonus FROM draw_ranked), "
    "parts AS (SELECT d.id, d.lot_id, c.household_id, c.priority, d.units * c.guaranteed_fen * c.weight / t.total "
    "AS guaranteed, d.pool * c.weight / t.total AS part, d.pool * c.weight % t.total AS remainder, "
    "CASE WHEN c.priority THEN d.bonus * c.weight / t.priority_total ELSE 0 END AS bonus_part, "
    "CASE WHEN c.priority THEN d.bonus * c.weight % t.priority_total ELSE -1 END AS bonus_remainder, d.pool, d.bonus "
    "FROM draw_pools AS d JOIN {s}.contributions AS c ON c.lot_id = d.lot_id JOIN {s}.lot_totals AS t "
    "ON t.lot_id = d.lot_id), "
    "ranked AS (SELECT *, pool - sum(part) OVER draw AS leftover, bonus - sum(bonus_part) OVER draw AS bonus_leftover, "
    "row_number() OVER (draw ORDER BY remainder DESC, household_id) AS rank, "
    "row_number() OVER (draw ORDER BY bonus_remainder DESC, household_id) AS bonus_rank "
    "FROM parts WINDOW draw AS (PARTITION BY id, lot_id)), "
    "shares AS (SELECT id, household_id, sum(part + CASE WHEN rank <= leftover THEN 1 ELSE 0 END) AS share, "
    "sum(guaranteed) AS guaranteed, "
    "sum(bonus_part + CASE WHEN priority AND bonus_rank <= bonus_leftover THEN 1 ELSE 0 END) AS bonus_share "
    "FROM ranked GROUP BY id, household_id), "
    "legs AS (SELECT id, "
    "array_agg(household_id * 3 + 100) FILTER (WHERE recovered <> 0) "
    "|| array_agg(household_id * 3 + 101) FILTER (WHERE share <> recovered) "
    "|| array_agg(household_id * 3 + 102) FILTER (WHERE bonus_share <> 0) AS accounts, "
    "array_agg(-recovered) FILTER (WHERE recovered <> 0) "
    "|| array_agg(recovered - share) FILTER (WHERE share <> recovered) "
    "|| array_agg(-bonus_share) FILTER (WHERE bonus_share <> 0) AS amounts "
    "FROM (SELECT *, least(share, guaranteed) AS recovered FROM shares) AS credited GROUP BY id) "
    "INSERT INTO {s}.journals SELECT h.id, 1, h.paid_at, ARRAY[1, 2, 3, 4, 5, 6, 7]::bigint[] || legs.accounts, "
    "ARRAY[h.paid_fen, -h.fee1, -h.fee2, -h.fee3, -h.commission, -h.retention, -h.collective] || legs.amounts "
    "FROM heads AS h JOIN legs USING (id)",
    "INSERT INTO {s}.states SELECT l.id, 1, 2 FROM {s}.lines AS l WHERE l.sku_id % $1 = $2",
)
# What was written: journals, mean legs, and a digest of every journal's legs sorted by account
# (the same for both ways of computing them); lines whose draw took two lots.
_DIGEST = (
    "SELECT count(*), avg(cardinality(amounts))::float, md5(string_agg(legs, ';' ORDER BY line_id)) "
    "FROM (SELECT line_id, amounts, line_id || ':' || (SELECT string_agg(a || '=' || m, ',' ORDER BY a) "
    "FROM unnest(account_ids, amounts) AS u (a, m)) AS legs FROM {s}.journals) AS j"
)
_STRADDLING = "SELECT count(*) FROM (SELECT line_id FROM {s}.draws GROUP BY line_id HAVING count(*) > 1) AS d"
_INPUTS = (
    "SELECT l.id, l.paid_at, l.paid_fen, d.lot_id, d.units FROM {s}.lines AS l "
    "JOIN {s}.draws AS d ON d.line_id = l.id WHERE l.sku_id % $1 = $2 ORDER BY l.id, d.lot_id"
)
_CONTRIBUTIONS = (
    "SELECT c.lot_id, c.household_id, c.weight, c.priority, c.guaranteed_fen, t.total, t.priority_total "
    "FROM {s}.contributions AS c JOIN {s}.lot_totals AS t USING (lot_id) ORDER BY c.lot_id, c.household_id"
)


def _largest_remainder(group: Any, pool: Any, weight: Any, total: Any, eligible: Any, order_key: Any) -> Any:
    """Each row's part of its group's ``pool`` by ``weight / total``; the fen left after flooring go
    one each to the group's eligible rows with the largest remainders (ties: lower ``order_key``).
    ``group`` numbers the groups 0, 1, 2... with each group's rows contiguous."""
    import numpy as np

    part = np.where(eligible, pool * weight // total, 0)
    remainder = np.where(eligible, pool * weight % total, -1)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    leftover = pool - np.add.reduceat(part, starts)[group]
    order = np.lexsort((order_key, -remainder, group))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order)) - starts[group[order]]
    return part + ((rank < leftover) & eligible)


async def _journals_numpy(driver: Any, schema: str, connections: int, index: int) -> None:
    """The sale journals computed vectorised (numpy) in the worker, then COPYed as compact rows."""
    import numpy as np

    lots: dict[int, list[Any]] = {}
    for row in await driver.fetch(_CONTRIBUTIONS.format(s=schema)):
        lots.setdefault(row[0], []).append(row[1:])
    table = {lot: np.array(rows, dtype=np.int64) for lot, rows in lots.items()}
    inputs = await driver.fetch(_INPUTS.format(s=schema), connections, index)  # one row per draw
    draw_line_id = np.fromiter((r[0] for r in inputs), np.int64, len(inputs))
    first = np.flatnonzero(np.r_[True, draw_line_id[1:] != draw_line_id[:-1]])
    line_of_draw = np.cumsum(np.r_[False, draw_line_id[1:] != draw_line_id[:-1]])  # 0, 1, 2... per line
    paid = np.fromiter((inputs[i][2] for i in first), np.int64, len(first))
    fee1, fee2, fee3, commission = paid * 2 // 100, paid // 100, paid // 100, paid * 3 // 100
    net = paid - fee1 - fee2 - fee3 - commission
    retention, collective, bonus = net * 5 // 100, net * 3 // 100, net * 2 // 100
    pool = net - retention - collective - bonus
    # Level 1: each pool over the line's draws by units.
    units = np.fromiter((r[4] for r in inputs), np.int64, len(inputs))
    draw_lots = np.fromiter((r[3] for r in inputs), np.int64, len(inputs))
    line_units = np.add.reduceat(units, first)[line_of_draw]
    everyone = np.ones(len(inputs), bool)
    draw_pool = _largest_remainder(line_of_draw, pool[line_of_draw], units, line_units, everyone, draw_lots)
    draw_bonus = _largest_remainder(line_of_draw, bonus[line_of_draw], units, line_units, everyone, draw_lots)
    # Level 2: one row per (draw, household of its lot); each draw's parts over the households.
    blocks = [table[int(lot)] for lot in draw_lots]
    counts = np.fromiter((len(block) for block in blocks), np.int64, len(blocks))
    rows = np.concatenate(blocks)
    draw = np.repeat(np.arange(len(inputs)), counts)
    household, weight, priority, guaranteed_price, total, priority_total = rows.T
    share = _largest_remainder(draw, draw_pool[draw], weight, total, np.ones(len(draw), bool), household)
    bonus_share = _largest_remainder(
        draw, draw_bonus[draw], weight, np.maximum(priority_total, 1), priority.astype(bool), household
    )
    guaranteed = units[draw] * guaranteed_price * weight // total
    # Per (line, household): sums over the line's draws, in line then household order.
    keys, position = np.unique(line_of_draw[draw] * (int(household.max()) + 1) + household, return_inverse=True)
    line = keys // (int(household.max()) + 1)
    household = keys % (int(household.max()) + 1)
    share = np.bincount(position, weights=share).astype(np.int64)
    bonus_share = np.bincount(position, weights=bonus_share).astype(np.int64)
    guaranteed = np.bincount(position, weights=guaranteed).astype(np.int64)
    recovered = np.minimum(share, guaranteed)
    rebate = share - recovered
    # Every line's legs in one flat array, ordered by line (its seven head legs first, then its
    # households' nonzero legs), cut into per-line lists by slicing.
    lines = len(first)
    heads = np.stack([paid, -fee1, -fee2, -fee3, -commission, -retention, -collective], axis=1)
    household_amounts = np.stack([-recovered, -rebate, -bonus_share], axis=1).ravel()
    household_accounts = (household[:, None] * 3 + np.array([100, 101, 102])).ravel()
    kept = household_amounts != 0
    leg_line = np.concatenate((np.repeat(np.arange(lines), 7), np.repeat(line, 3)[kept]))
    order = np.argsort(leg_line, kind="stable")
    all_accounts = np.concatenate((np.tile(np.arange(1, 8), lines), household_accounts[kept]))[order].tolist()
    all_amounts = np.concatenate((heads.ravel(), household_amounts[kept]))[order].tolist()
    bounds = np.concatenate(([0], np.cumsum(np.bincount(leg_line, minlength=lines)))).tolist()
    records = [
        (inputs[i][0], 1, inputs[i][1], all_accounts[bounds[n] : bounds[n + 1]], all_amounts[bounds[n] : bounds[n + 1]])
        for n, i in enumerate(first.tolist())
    ]
    await driver.copy_records_to_table("journals", schema_name=schema, records=records)


async def _share(engine: AsyncEngine, schema: str, connections: int, index: int, split: str) -> None:
    async with engine.begin() as conn:
        driver = await asyncpg_in_transaction(conn)
        for statement in _WORK:
            if split == "numpy" and "INTO {s}.journals" in statement:
                await _journals_numpy(driver, schema, connections, index)
            else:
                await driver.execute(statement.format(s=schema), connections, index)


def _process(url: str, schema: str, connections: int, index: int, split: str, ready: Any, go: Any, done: Any) -> None:
    """One worker process: connected (and numpy imported) before the clock starts, then its share."""

    async def run() -> None:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                await asyncpg_in_transaction(conn)
            if split == "numpy":
                import numpy  # noqa: F401
            ready.release()
            go.wait()
            await _share(engine, schema, connections, index, split)
            done.put(time.monotonic())  # committed (CLOCK_MONOTONIC is one clock for all processes)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _run_processes(url: str, schema: str, connections: int, split: str) -> float:
    """Seconds from the start signal until every process has committed its share."""
    context = multiprocessing.get_context("spawn")
    ready, go, done = context.Semaphore(0), context.Event(), context.Queue()
    processes = [
        context.Process(target=_process, args=(url, schema, connections, index, split, ready, go, done))
        for index in range(connections)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire()
    started = time.monotonic()
    go.set()
    for process in processes:
        process.join()
    if any(process.exitcode for process in processes):
        raise SystemExit("a worker process failed")
    finished: float = max(done.get() for _ in processes)
    return finished - started


async def measure(
    url: str, lines: int, households: int, connections: int, repeat: int, split: str, from_store: bool = False
) -> dict[str, object]:
    """The floor's figures; with ``from_store`` on the hub's own paid lines, sessions, lots and
    households in the database at ``url`` (``lines`` and ``households`` are then ignored)."""
    engine = make_engine(url)
    timings: list[float] = []
    try:
        async with scratch_schema(engine, "bench_line_floor") as schema:
            async with engine.begin() as conn:
                driver = await asyncpg_in_transaction(conn)
                for statement in _TABLES:
                    await driver.execute(statement.format(s=schema))
                for statement in _FILL_FROM_STORE if from_store else _FILL:
                    argument = households if "contributions SELECT" in statement else lines
                    await driver.execute(statement.format(s=schema), *([argument] if "$1" in statement else []))
                await driver.execute(f"ANALYZE {schema}.lines")
                if from_store:
                    lines = await driver.fetchval(f"SELECT count(*) FROM {schema}.lines")
                    households = round(
                        await driver.fetchval(
                            f"SELECT coalesce(avg(n), 0)::float FROM (SELECT count(*) AS n "
                            f"FROM {schema}.contributions GROUP BY lot_id) AS per_lot"
                        ),
                        1,
                    )
            for _ in range(repeat):
                async with engine.begin() as conn:
                    driver = await asyncpg_in_transaction(conn)
                    for name in ("attributions", "lots", "draws", "journals", "states"):
                        await driver.execute(f"DROP TABLE IF EXISTS {schema}.{name}")
                    for statement in _WORK_TABLES:
                        await driver.execute(statement.format(s=schema))
                timings.append(await asyncio.to_thread(_run_processes, url, schema, connections, split))
            async with engine.connect() as conn:
                driver = await asyncpg_in_transaction(conn)
                written, legs, digest = await driver.fetchrow(_DIGEST.format(s=schema))
                straddling = await driver.fetchval(_STRADDLING.format(s=schema))
                if written != lines:
                    raise SystemExit(f"expected {lines} journals, found {written}")
    finally:
        await engine.dispose()
    seconds = statistics.median(timings)
    return {
        "bench": "line_floor",
        "data": "store" if from_store else "synthetic",
        "lines": lines,
        "households_per_lot": households,
        "legs_per_line": round(legs, 1),
        "workers": connections,
        "split": split,
        "db": "postgresql",
        "seconds": round(seconds, 3),
        "lines_per_s": round(lines / seconds),
        "line_us_per_worker": round(seconds * connections / lines * 1e6, 1),
        "lines_drawing_two_lots": straddling,
        "journals_md5": digest,
        "peak_rss_mb": round(
            max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024, 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--households", type=int, default=8, help="households per lot (the scenario has about 8)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes at once (one per core)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--split",
        choices=("sql", "numpy"),
        default="sql",
        help="compute the journals in one SQL statement, or vectorised in the worker and COPYed",
    )
    parser.add_argument("--db", required=True, help="a PostgreSQL URL (the bench uses a scratch schema in it)")
    parser.add_argument(
        "--from-store",
        action="store_true",
        help="take the lines, sessions, lots and households from the hub's store at --db, not synthetic ones",
    )
    args = parser.parse_args()
    if make_url(args.db).get_backend_name() != "postgresql":
        parser.error("--db must be a PostgreSQL URL: this measures PostgreSQL's cost per line")
    if args.lines < 1 or args.households < 1 or args.repeat < 1 or args.workers < 1:
        parser.error("--lines, --repeat and --workers must be positive and --households at least 1")
    result = asyncio.run(
        measure(args.db, args.lines, args.households, args.workers, args.repeat, args.split, args.from_store)
    )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
