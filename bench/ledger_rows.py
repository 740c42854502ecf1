"""What one ledger row costs PostgreSQL to write, with no Python in the way, as one JSON line.

    python bench/ledger_rows.py --lines 20000 --db postgresql+asyncpg://127.0.0.1:5432/bench

The floor under ``bench/attribution.py``: server-side ``INSERT ... SELECT`` from
``generate_series`` into scratch tables shaped like the ledger's, inside a schema that is
dropped afterwards (nothing else in the database is touched):

* ``postings``: one row per leg, keyed by (journal, account) with an index on the account, as
  ``postings`` is; ``--legs`` rows per line (a sale journal has about 23: receivable, three fees,
  commission, retention, collective, and each household's guarantee credit, rebate and bonus).
* ``compact``: one row per line holding its legs as two arrays (account ids, amounts), with a
  CHECK that they balance; the shape that would need about one row per line.

For each it prints microseconds per row and per line, and the lines per second that this write
alone would allow on one core. Medians of ``--repeat`` runs, each in a rolled-back transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import orjson
from _scratch import scratch_schema
from sqlalchemy.engine import make_url

from bangfu.store import asyncpg_in_transaction, make_engine

_SETUP = (
    "CREATE TABLE {schema}.postings (journal_id bigint NOT NULL, account_id bigint NOT NULL, "
    "amount_fen bigint NOT NULL CHECK (amount_fen <> 0), PRIMARY KEY (journal_id, account_id))",
    "CREATE INDEX ON {schema}.postings (account_id)",
    "CREATE FUNCTION {schema}.balanced(amounts bigint[]) RETURNS boolean LANGUAGE sql IMMUTABLE "
    "AS $$ SELECT coalesce(sum(a), 0) = 0 AND count(*) >= 2 FROM unnest(amounts) AS a $$",
    "CREATE TABLE {schema}.compact (id bigint PRIMARY KEY, occurred_at timestamptz NOT NULL, "
    "account_ids bigint[] NOT NULL, amounts bigint[] NOT NULL, "
    "CHECK (cardinality(account_ids) = cardinality(amounts) AND {schema}.balanced(amounts)))",
    "CREATE INDEX ON {schema}.compact (occurred_at)",
)

# Leg k of line j: account (j * 7 + k) mod 20,000 + 1 (like a county's few thousand households),
# the receivable leg debiting what the others credit.
_POSTINGS = (
    "INSERT INTO {schema}.postings (journal_id, account_id, amount_fen) "
    "SELECT j, (j * 7 + k) % 20000 + 1, CASE WHEN k = 0 THEN 100 * ($2 - 1) ELSE -100 END "
    "FROM generate_series(1, $1) AS j, generate_series(0, $2 - 1) AS k"
)
_COMPACT = (
    "INSERT INTO {schema}.compact (id, occurred_at, account_ids, amounts) "
    "SELECT j, now() - j * interval '1 second', "
    "ARRAY(SELECT (j * 7 + k) % 20000 + 1 FROM generate_series(0, $2 - 1) AS k), "
    "ARRAY(SELECT CASE WHEN k = 0 THEN 100 * ($2 - 1) ELSE -100 END FROM generate_series(0, $2 - 1) AS k) "
    "FROM generate_series(1, $1) AS j"
)


async def measure(url: str, lines: int, legs: int, repeat: int) -> dict[str, object]:
    engine = make_engine(url)
    try:
        async with scratch_schema(engine, "bench_ledger_rows") as schema:
            async with engine.begin() as conn:
                driver = await asyncpg_in_transaction(conn)
                for statement in _SETUP:
                    await driver.execute(statement.format(schema=schema))
            timings: dict[str, list[float]] = {"postings": [], "compact": []}
            for _ in range(repeat):
                for name, statement in (("postings", _POSTINGS), ("compact", _COMPACT)):
                    async with engine.connect() as conn:
                        transaction = await conn.begin()
                        driver = await asyncpg_in_transaction(conn)
                        started = time.perf_counter()
                        await driver.execute(statement.format(schema=schema), lines, legs)
                        timings[name].append(time.perf_counter() - started)
                        await transaction.rollback()
    finally:
        await engine.dispose()
    postings = statistics.median(timings["postings"])
    compact = statistics.median(timings["compact"])
    return {
        "bench": "ledger_rows",
        "lines": lines,
        "legs_per_line": legs,
        "db": "postgresql",
        "posting_row_us": round(postings / (lines * legs) * 1e6, 2),
        "postings_per_line_us": round(postings / lines * 1e6, 1),
        "postings_lines_per_s_one_core": round(lines / postings),
        "compact_line_us": round(compact / lines * 1e6, 1),
        "compact_lines_per_s_one_core": round(lines / compact),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--legs", type=int, default=23, help="postings per line (a sale journal has about 23)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", required=True, help="a PostgreSQL URL (the bench uses a scratch schema in it)")
    args = parser.parse_args()
    if make_url(args.db).get_backend_name() != "postgresql":
        parser.error("--db must be a PostgreSQL URL: this measures PostgreSQL's cost per row")
    if args.lines < 1 or args.legs < 2 or args.repeat < 1:
        parser.error("--lines and --repeat must be positive and --legs at least 2")
    result = asyncio.run(measure(args.db, args.lines, args.legs, args.repeat))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
