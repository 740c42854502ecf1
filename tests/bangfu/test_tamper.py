"""The ledger is tamper-evident, not only append-only (issue 12 item 6).

Reproductions from the review, each a test: on PostgreSQL a balanced forged journal
(``kind='adjustment'``, ¥1,000 from one household to another) plus ``UPDATE ledger_accounts SET
owner_id=...`` was accepted and ``bangfu verify`` said ok; ``TRUNCATE postings``, ``ALTER TABLE ...
DISABLE TRIGGER`` and ``session_replication_role=replica`` all succeeded for the hub's role; extra
balanced legs could be added to a committed journal. Tests that tamper as the owner take
``owner_db_url``; the hub itself runs as the application role (``db_url``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from bangfu.cli.app import app
from bangfu.enums import JournalKind
from bangfu.ledger import Journal, balances, journal_from_legs, journal_uid, post
from bangfu.models.base import UTCDateTime
from bangfu.store import make_engine
from workers.verify import verify

PAID_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def surplus(coop: int, year: int = 2026, amount: int = 100_000) -> Journal:
    """A balanced journal the pipeline could post, whose source event names no order line."""
    first = amount * 6 // 10
    return journal_from_legs(
        JournalKind.SURPLUS,
        f"surplus:{coop}:{year}",
        PAID_AT + timedelta(minutes=coop),
        {f"cooperative:{coop}:retained": amount, "household:1": -first, "household:2": -(amount - first)},
        memo=f"surplus {year}",
    )


async def _post(url: str, journals: list[Journal]) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await post(conn, journals)
    finally:
        await engine.dispose()


async def _sql(url: str, *statements: str) -> None:
    """Raw SQL in one transaction, as a forger would write it."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _scalar(url: str, statement: str) -> object:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(statement))
    finally:
        await engine.dispose()


async def _chain(url: str) -> tuple[bool, list[str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            report = await verify(conn, inputs=False)
    finally:
        await engine.dispose()
    (check,) = [c for c in report.checks if c.name == "journal_chain"]
    return check.ok, check.details


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--lang", "en", *args])
    return result.exit_code, result.stdout + (result.stderr or "")


async def _household_ids(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT code, id FROM ledger_accounts WHERE code IN ('household:1', 'household:2')")
            )
            ids = {code: account_id for code, account_id in rows}
    finally:
        await engine.dispose()
    return ids["household:1"], ids["household:2"]


_FORGED_ADJUSTMENT = (
    "INSERT INTO journals (uid, kind, source_event, occurred_at, posted_at) "
    "VALUES ('{uid}', 'adjustment', 'manual:1', '2026-03-02T00:00:00+00', '2026-03-02T00:00:00+00')"
)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_review_forged_adjustment_and_owner_change_by_the_hub_role_are_refused(db_url: str) -> None:
    """Review: a balanced forged journal (kind='adjustment', ¥1,000 from household 1 to household 2)
    plus ``UPDATE ledger_accounts SET owner_id=...`` was accepted on PostgreSQL and verify said ok."""
    await _post(db_url, [surplus(7)])
    one, two = await _household_ids(db_url)
    forged = (
        _FORGED_ADJUSTMENT.format(uid=journal_uid("manual:1")),
        "INSERT INTO postings (journal_id, account_id, amount_fen) "
        f"SELECT id, {one}, 100000 FROM journals WHERE source_event = 'manual:1' "
        f"UNION ALL SELECT id, {two}, -100000 FROM journals WHERE source_event = 'manual:1'",
    )
    with pytest.raises(DBAPIError):
        await _sql(db_url, *forged)
    with pytest.raises(DBAPIError, match="permission denied"):
        await _sql(db_url, f"UPDATE ledger_accounts SET owner_id = 2 WHERE id = {one}")
    assert await _scalar(db_url, "SELECT count(*) FROM journals") == 1
    assert await _chain(db_url) == (True, [])


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE postings",
        "TRUNCATE journals CASCADE",
        "ALTER TABLE postings DISABLE TRIGGER postings_checked",
        "ALTER TABLE journals DISABLE TRIGGER USER",
        "SET session_replication_role = replica",
        "DELETE FROM postings",
        "UPDATE journals SET memo = 'x'",
        "DROP TRIGGER journals_append_only ON journals",
    ],
)
async def test_review_the_hub_role_cannot_truncate_disable_triggers_or_replicate(db_url: str, statement: str) -> None:
    """Review: ``TRUNCATE postings``, ``ALTER TABLE ... DISABLE TRIGGER`` and
    ``session_replication_role=replica`` all succeeded for the hub's role."""
    await _post(db_url, [surplus(7)])
    with pytest.raises(DBAPIError, match=r"permission denied|must be owner|append-only"):
        await _sql(db_url, statement)
    assert await _scalar(db_url, "SELECT count(*) FROM postings") == 3


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("table", ["postings", "journals", "ledger_accounts"])
async def test_even_the_owner_cannot_truncate_a_ledger_table(owner_db_url: str, table: str) -> None:
    await _post(owner_db_url, [surplus(7)])
    with pytest.raises(DBAPIError, match="append-only: TRUNCATE"):
        await _sql(owner_db_url, f"TRUNCATE {table} CASCADE")


@pytest.mark.parametrize("column", ["owner_id = 2", "owner_type = 'shop'", "kind = 'asset'", "code = 'household:9'"])
async def test_account_identity_cannot_change_even_for_the_owner(owner_db_url: str, column: str) -> None:
    """Review: ``UPDATE ledger_accounts SET owner_id=...`` moved a household's balance to another owner."""
    await _post(owner_db_url, [surplus(7)])
    one, _ = await _household_ids(owner_db_url)
    with pytest.raises(DBAPIError, match="identity is immutable"):
        await _sql(owner_db_url, f"UPDATE ledger_accounts SET {column} WHERE id = {one}")
    await _sql(owner_db_url, f"UPDATE ledger_accounts SET name = '农户返利 改名' WHERE id = {one}")  # a label may


@pytest.mark.parametrize(
    ("kind", "source", "reverses"),
    [
        ("settlement", "settlement:1", "NULL"),
        ("adjustment", "manual:1", "NULL"),
        ("adjustment", "adjustment:77", "NULL"),  # no adjustment record: not made by the command
        ("sale", "manual:1", "NULL"),
        ("sale", "order-line:1:2:v1:refund:9", "NULL"),
        ("refund", "order-line:1:2:v1:sale", "NULL"),
        ("sale", "order-line:1:2:v1:sale", "(SELECT min(id) FROM journals)"),  # only a refund reverses
        ("surplus", "surplus:2026", "NULL"),
        ("true_up", "order-line:1:2:v1:sale", "NULL"),
    ],
)
async def test_only_pipeline_kinds_tied_to_their_source_events(
    owner_db_url: str, kind: str, source: str, reverses: str
) -> None:
    """Review: a journal of ``kind='adjustment'`` and any source event was accepted."""
    await _post(owner_db_url, [surplus(7)])
    statement = (
        "INSERT INTO journals (uid, kind, source_event, occurred_at, posted_at, reverses_id, chain_hash) "
        f"VALUES ('{journal_uid(source)}', '{kind}', '{source}', '2026-03-02 00:00:00', '2026-03-02 00:00:00', "
        f"{reverses}, '{'0' * 64}')"
    )
    with pytest.raises(DBAPIError, match=r"ck_journals_kind_source|no adjustment record"):
        await _sql(owner_db_url, statement)


async def test_verify_names_a_journal_forged_by_raw_sql(db_url: str, owner_db_url: str) -> None:
    """A forged journal inserted by raw SQL, shaped right and balanced but without a valid hash."""
    await _post(db_url, [surplus(7), surplus(8)])
    assert await _chain(db_url) == (True, [])
    one, two = await _household_ids(owner_db_url)
    await _sql(
        owner_db_url,
        "INSERT INTO journals (uid, kind, source_event, occurred_at, posted_at, chain_hash) "
        f"VALUES ('{journal_uid('surplus:9:2026')}', 'surplus', 'surplus:9:2026', '2026-03-02 00:00:00', "
        f"'2026-03-02 00:00:00', '{'f' * 64}')",
        "INSERT INTO postings (journal_id, account_id, amount_fen) "
        f"SELECT id, {one}, 100000 FROM journals WHERE source_event = 'surplus:9:2026' "
        f"UNION ALL SELECT id, {two}, -100000 FROM journals WHERE source_event = 'surplus:9:2026'",
    )
    forged = await _scalar(db_url, "SELECT id FROM journals WHERE source_event = 'surplus:9:2026'")
    ok, details = await _chain(db_url)
    assert not ok and details[0].startswith(f"journal #{forged} (surplus:9:2026)")


async def test_verify_names_a_committed_journal_given_extra_balanced_legs(db_url: str, owner_db_url: str) -> None:
    """Review: extra balanced legs can be added to a committed journal."""
    await _post(db_url, [surplus(7), surplus(8)])
    first = await _scalar(db_url, "SELECT min(id) FROM journals")
    await _post(db_url, [surplus(3)])  # an account journal #1 does not post to
    extra = await _scalar(db_url, "SELECT id FROM ledger_accounts WHERE code = 'cooperative:3:retained'")
    other = await _scalar(db_url, "SELECT id FROM ledger_accounts WHERE code = 'cooperative:8:retained'")
    await _sql(
        owner_db_url,
        f"INSERT INTO postings (journal_id, account_id, amount_fen) VALUES ({first}, {extra}, 5000), "
        f"({first}, {other}, -5000)",
    )
    ok, details = await _chain(db_url)
    assert not ok and details[0].startswith(f"journal #{first} (surplus:7:2026)")


def test_a_digest_proves_nothing_before_it_changed(db_url: str, owner_db_url: str) -> None:
    """``bangfu ledger digest`` gives ID:HASH to keep; ``bangfu verify --digest`` checks it later,
    even against an owner who rewrote a memo and re-hashed the whole chain after it."""
    asyncio.run(_post(db_url, [surplus(7), surplus(8)]))
    code, out = _cli("ledger", "digest", "--db", db_url)
    assert code == 0, out
    digest = out.strip().splitlines()[-1]
    journal_id, digest_hash = digest.split(":")
    assert int(journal_id) > 0 and len(digest_hash) == 64
    asyncio.run(_post(db_url, [surplus(9)]))
    code, out = _cli("verify", "--db", db_url, "--digest", digest, "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["ok"] is True and report["head"]["journal_id"] > int(journal_id)
    code, _ = _cli("verify", "--db", db_url, "--digest", f"{journal_id}:{'0' * 64}")
    assert code == 1
    code, out = _cli("verify", "--db", db_url)
    assert code == 0 and f"{report['head']['journal_id']}:{report['head']['hash']}" in out

    asyncio.run(_rewrite_history(owner_db_url))
    assert asyncio.run(_chain(db_url)) == (True, [])  # the rewrite is internally consistent...
    code, out = _cli("verify", "--db", db_url, "--digest", digest, "--json")
    assert code == 1  # ...but not what the outside party kept
    (check,) = [c for c in json.loads(out)["checks"] if c["name"] == "journal_chain"]
    assert check["details"] == [f"journal #{journal_id}: hash differs from the digest kept ({digest_hash[:12]}...)"]


async def _rewrite_history(url: str) -> None:
    """As the owner: change the first journal's memo and recompute every hash after it."""
    from bangfu.ledger_chain import walk

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            guards = (
                (
                    "ALTER TABLE journals DISABLE TRIGGER journals_append_only",
                    "ALTER TABLE journals ENABLE TRIGGER journals_append_only",
                )
                if conn.dialect.name == "postgresql"
                else ("DROP TRIGGER journals_no_update", None)
            )
            await conn.execute(text(guards[0]))
            await conn.execute(text("UPDATE journals SET memo = 'rewritten' WHERE id = (SELECT min(id) FROM journals)"))
            while True:  # re-hash the first journal that no longer matches, until none is left
                broken = [j async for batch in walk(conn) for j in batch if j.stored != j.computed]
                if not broken:
                    break
                await conn.execute(
                    text("UPDATE journals SET chain_hash = :h WHERE id = :i"),
                    {"h": broken[0].computed, "i": broken[0].id},
                )
            last = [j async for batch in walk(conn) for j in batch][-1]
            await conn.execute(
                text("UPDATE ledger_chain_head SET journal_id = :i, chain_hash = :h"), {"i": last.id, "h": last.stored}
            )
            if guards[1]:
                await conn.execute(text(guards[1]))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_concurrent_posters_do_not_fork_the_chain(db_url: str) -> None:
    """Two workers posting at once: each append takes the chain head, so the chain stays one line."""

    async def poster(worker: int) -> None:
        engine = make_engine(db_url)
        try:
            for batch in range(8):
                async with engine.begin() as conn:
                    await post(conn, [surplus(worker * 1000 + batch * 10 + i) for i in range(5)])
                    await asyncio.sleep(0.005)  # hold the transaction open: the other must wait
        finally:
            await engine.dispose()

    await asyncio.gather(poster(1), poster(2))
    assert await _scalar(db_url, "SELECT count(*) FROM journals") == 80
    assert await _chain(db_url) == (True, [])


async def _adjustment(url: str) -> tuple[str, str, str, tuple[object, ...], dict[str, int]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            kind, source, memo = (
                await conn.execute(text("SELECT kind, source_event, memo FROM journals WHERE kind = 'adjustment'"))
            ).one()
            record = (
                await conn.execute(
                    text(
                        "SELECT 'adjustment:' || id, from_code, to_code, amount_fen, reason, requested_by, "
                        "requested_at FROM ledger_adjustments"
                    )
                )
            ).one()
            return kind, source, memo, tuple(record), await balances(conn)
    finally:
        await engine.dispose()


def test_adjust_records_who_why_and_when_balanced_and_chained(db_url: str) -> None:
    asyncio.run(_post(db_url, [surplus(7)]))
    code, out = _cli(
        "ledger", "adjust", "--from", "household:1", "--to", "household:2", "--amount", "1000",
        "--reason", "补记线下交售", "--by", "王会计", "--db", db_url,
    )  # fmt: skip
    assert code == 0, out
    kind, source, memo, record, after = asyncio.run(_adjustment(db_url))
    assert kind == "adjustment"
    assert record[:6] == (source, "household:1", "household:2", 100_000, "补记线下交售", "王会计")
    assert record[6] is not None
    assert "王会计" in memo and "补记线下交售" in memo
    assert after["household:1"] == -60_000 + 100_000 and after["household:2"] == -40_000 - 100_000
    assert asyncio.run(_chain(db_url)) == (True, [])
    code, out = _cli("verify", "--db", db_url)
    assert code == 0, out
    for bad in (
        ["--amount", "0"],
        ["--amount", "1.005"],
        ["--to", "household:1"],
        ["--to", "nowhere:1"],
        ["--reason", " "],
    ):
        args = {"--from": "household:1", "--to": "household:2", "--amount": "1", "--reason": "r", "--by": "b"}
        args.update(dict(zip(bad[::2], bad[1::2], strict=True)))
        code, out = _cli("ledger", "adjust", *[x for pair in args.items() for x in pair], "--db", db_url)
        assert code == 2, (bad, out)
    assert asyncio.run(_scalar(db_url, "SELECT count(*) FROM journals WHERE kind = 'adjustment'")) == 1


async def test_the_migration_chains_existing_journals_in_id_order(empty_db_url: str) -> None:
    from alembic.script import ScriptDirectory

    from bangfu.store import _alembic_config, head_revision, upgrade

    script = ScriptDirectory.from_config(_alembic_config())
    chain_rev = next(r for r in script.walk_revisions() if "chain" in (r.doc or ""))
    before = chain_rev.down_revision
    assert isinstance(before, str)
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine, before)
        async with engine.begin() as conn:
            for code in ("cooperative:7:retained", "household:1", "household:2"):
                await conn.execute(
                    text(
                        "INSERT INTO ledger_accounts (code, name, kind, created_at) VALUES (:c, :c, 'liability', :t)"
                    ).bindparams(bindparam("t", type_=UTCDateTime())),
                    {"c": code, "t": PAID_AT},
                )
            for n in (1, 2, 3):
                source = f"surplus:7:{2020 + n}"
                await conn.execute(
                    text(
                        "INSERT INTO journals (uid, kind, source_event, occurred_at, posted_at, memo) "
                        "VALUES (:u, 'surplus', :s, :t, :t, :m)"
                    ).bindparams(bindparam("t", type_=UTCDateTime())),
                    {"u": journal_uid(source), "s": source, "t": PAID_AT, "m": f"m{n}"},
                )
                await conn.execute(
                    text(
                        "INSERT INTO postings (journal_id, account_id, amount_fen) "
                        "SELECT j.id, a.id, CASE a.code WHEN 'household:1' THEN -300 ELSE 300 END "
                        "FROM journals j, ledger_accounts a WHERE j.source_event = :s "
                        "AND a.code IN ('household:1', 'cooperative:7:retained')"
                    ),
                    {"s": source},
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            from bangfu.models import Journal as JournalRow

            hashes = (await conn.execute(select(JournalRow.chain_hash).order_by(JournalRow.id))).scalars().all()
    finally:
        await engine.dispose()
    assert len(hashes) == 3 and all(h is not None and len(h) == 64 for h in hashes) and len(set(hashes)) == 3
    assert head_revision() != before
    assert await _chain(empty_db_url) == (True, [])
    await _post(empty_db_url, [surplus(8)])  # the hub appends after the migrated chain
    assert await _chain(empty_db_url) == (True, [])


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_db_grant_sets_up_the_application_role_idempotently(owner_db_url: str, db_url: str) -> None:
    from sqlalchemy.engine import make_url

    role = make_url(db_url).username
    assert role and role != make_url(owner_db_url).username
    for _ in range(2):
        code, out = _cli("db", "grant", role, "--db", owner_db_url)
        assert code == 0, out
    privileges = asyncio.run(
        _scalar(
            owner_db_url,
            "SELECT string_agg(table_name || ':' || privilege_type, ',' ORDER BY table_name, privilege_type) "
            f"FROM information_schema.role_table_grants WHERE grantee = '{role}' "
            "AND table_name IN ('journals', 'postings', 'ledger_accounts', 'ledger_adjustments', 'orders')",
        )
    )
    assert privileges == (
        "journals:INSERT,journals:SELECT,ledger_accounts:INSERT,ledger_accounts:SELECT,"
        "ledger_adjustments:INSERT,ledger_adjustments:SELECT,"
        "orders:DELETE,orders:INSERT,orders:SELECT,orders:UPDATE,postings:INSERT,postings:SELECT"
    )
    code, out = _cli("db", "grant", "no_such_role_here", "--db", owner_db_url)
    assert code == 2 and "no_such_role_here" in out
    superuser = make_url(owner_db_url).username or asyncio.run(_scalar(owner_db_url, "SELECT current_user"))
    code, out = _cli("db", "grant", str(superuser), "--db", owner_db_url)
    assert code == 2 and "superuser" in out


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_db_grant_explains_it_does_not_apply_to_sqlite(db_url: str) -> None:
    code, out = _cli("db", "grant", "bangfu_app", "--db", db_url)
    assert code == 0 and "SQLite" in out
