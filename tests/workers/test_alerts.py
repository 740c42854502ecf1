"""Unsold (滞销) alerts: the rule at its edges; a run opens, refreshes and resolves, and a second
run changes nothing; the channels that could take a lot, with their numbers; who sees which."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import AttributionConfidence, ChannelType, HostKind, PlatformKind, UnitType, UserRole
from bangfu.errors import UserError
from bangfu.models import Alert, Host, LineAttribution, Product, PurchasingUnit, Shop, Sku, SupplyLot
from bangfu.queries.unsold import UnsoldAlert, unsold_alerts
from bangfu.scope import Scope
from bangfu.store import make_engine
from bangfu.unsold import DEFAULT_RULE, LotFacts, UnsoldRule, assess, load_rule
from tests.workers.reports_seed import add_lot, add_order, at, base, new_id
from workers.alerts import lot_of, run_unsold

NOW = at("2026-10-31T04:00")  # 12:00 in Asia/Shanghai: today is 2026-10-31
TODAY = date(2026, 10, 31)
RULE = UnsoldRule(shelf_days={"meat": 100})


def facts(received: date, *, quantity: int = 100, remaining: int = 100, ahead: int = 0, sold: int = 0) -> LotFacts:
    return LotFacts(received, quantity, remaining, ahead, sold, "meat", False)


# -- the rule ----------------------------------------------------------------------------------


def test_horizon_edge() -> None:
    # Shelf life 100 days: received 70 days ago, 30 left (inside the horizon); 71 days ago, 29.
    inside = assess(facts(TODAY - timedelta(days=70)), TODAY, RULE)
    assert inside is not None and (inside.status, inside.days_left, inside.left_at_end) == ("at_risk", 30, 100)
    assert inside.expires_on == TODAY + timedelta(days=30) and inside.severity == "warning"
    assert assess(facts(TODAY - timedelta(days=69)), TODAY, RULE) is None  # 31 days left: not yet


def test_sell_through_edge() -> None:
    received = TODAY - timedelta(days=70)  # 30 days left
    # 90 sold in 30 days sells 90 before the end: 10 of 100 left, exactly min_units and 10% < 20%.
    assert assess(facts(received, sold=90), TODAY, RULE) is None
    # 80 sold: 20 left, 20% of the lot: flagged; 81 sold: 19 left, under 20%: not.
    flagged = assess(facts(received, sold=80), TODAY, RULE)
    assert flagged is not None and flagged.left_at_end == 20 and flagged.days_to_clear == 38  # ceil(100*30/80)
    assert assess(facts(received, sold=81), TODAY, RULE) is None
    # Share off: at least min_units (10) left is enough; 9 is not.
    no_share = UnsoldRule(shelf_days={"meat": 100}, min_share_bp=0)
    assert assess(facts(received, sold=90), TODAY, no_share) is not None
    assert assess(facts(received, sold=91), TODAY, no_share) is None


def test_older_lots_sell_first() -> None:
    received = TODAY - timedelta(days=70)
    # Selling 100 in the 30 days left clears this lot alone, but 60 older units go first: 60 left.
    verdict = assess(facts(received, ahead=60, sold=100), TODAY, RULE)
    assert verdict is not None and verdict.left_at_end == 60 and verdict.days_to_clear == 48
    # Left at the end is never more than the lot holds.
    worst = assess(facts(received, remaining=50, ahead=500), TODAY, RULE)
    assert worst is not None and worst.left_at_end == 50 and worst.days_to_clear is None


def test_expired_and_empty() -> None:
    expired = assess(facts(TODAY - timedelta(days=100)), TODAY, RULE)  # the last day is over
    assert expired is not None and (expired.status, expired.days_left, expired.severity) == ("expired", 0, "error")
    assert assess(facts(TODAY - timedelta(days=400), remaining=9), TODAY, RULE) is None  # under min_units
    assert assess(facts(TODAY - timedelta(days=99), remaining=0), TODAY, RULE) is None


def test_shelf_life_by_category_and_defaults() -> None:
    assert DEFAULT_RULE.shelf_life("中药材", True) == 730
    assert DEFAULT_RULE.shelf_life("unknown", False) == 365 and DEFAULT_RULE.shelf_life("unknown", True) == 90
    with pytest.raises(ValueError, match="horizon_days"):
        UnsoldRule(horizon_days=0)
    with pytest.raises(ValueError, match="shelf_days"):
        UnsoldRule(shelf_days={"meat": 0})


def test_rule_file(tmp_path: Path) -> None:
    good = tmp_path / "rule.json"
    good.write_text(json.dumps({"horizon_days": 45, "shelf_days": {"meat": 200}}), encoding="utf-8")
    rule = load_rule(good)
    assert rule.horizon_days == 45 and rule.shelf_life("meat", False) == 200 and rule.shelf_life("粮油", False) == 365
    bad = tmp_path / "bad.json"
    for body, words in [
        ('{"horizon": 3}', "unknown field 'horizon'"),
        ('{"min_units": "5"}', "'min_units' must be a whole number"),
        ('{"min_share_bp": 20000}', "min_share_bp must be within 0..10000"),
        ("[1]", "must be a JSON object"),
        ("{", "not JSON"),
    ]:
        bad.write_text(body, encoding="utf-8")
        with pytest.raises(UserError, match=words):
            load_rule(bad)
    with pytest.raises(UserError, match="cannot read"):
        load_rule(tmp_path / "missing.json")


# -- a run --------------------------------------------------------------------------------------


async def _open(conn: AsyncConnection) -> list[tuple[int | None, str, bool]]:
    rows = await conn.execute(select(Alert.subject, Alert.severity, Alert.resolved_at).where(Alert.kind == "unsold"))
    return sorted((lot_of(m), s, r is not None) for m, s, r in rows)


async def _world(conn: AsyncConnection) -> dict[str, int]:
    ids = await base(conn)  # product category "meat", SKU price 100.00
    lots = {
        # 25 days left, sold 6 in 30 days: 5 sell before the end, 85 of 90 left.
        "slow": await add_lot(conn, ids["sku"], ids["supplier"], TODAY - timedelta(days=75), 100, 90),
        # Past its shelf life with 30 left.
        "old": await add_lot(conn, ids["sku"], ids["supplier"], TODAY - timedelta(days=120), 40, 30),
        # 60 days left: not yet in the horizon, however slow.
        "young": await add_lot(conn, ids["sku"], ids["supplier"], TODAY - timedelta(days=40), 50, 50),
    }
    good_sku = await new_id(
        conn, Sku, sku_code="GOOD", product_id=ids["product"], spec="2kg", unit="袋", retail_price_fen=1000
    )
    # 25 days left, 60 sold in 30 days: 50 sell before the end, 40 left: 0 left at the end.
    lots["good"] = await add_lot(conn, good_sku, ids["supplier"], TODAY - timedelta(days=75), 100, 40)
    other_shop = await new_id(
        conn,
        Shop,
        name="京东旗舰店",
        platform=PlatformKind.JD,
        channel_type=ChannelType.ECOMMERCE,
        platform_shop_id="J1",
    )
    unit = await new_id(conn, PurchasingUnit, code="U1", name="县一中", unit_type=UnitType.SCHOOL)
    host = await new_id(conn, Host, name="县长", kind=HostKind.OFFICIAL, platform=PlatformKind.DOUYIN, author_id="H1")
    await add_order(conn, ids["shop"], "O1", at("2026-10-25T04:00"), [6000], sku=good_sku, quantity=60)
    _, (live_line,) = await add_order(
        conn, ids["shop"], "O2", at("2026-10-20T04:00"), [600], sku=ids["sku"], quantity=4, unit=unit
    )
    await add_order(conn, other_shop, "O3", at("2026-10-21T04:00"), [200], sku=ids["sku"], quantity=2)
    await add_order(conn, other_shop, "O4", at("2026-09-01T04:00"), [9900], sku=ids["sku"], quantity=99)  # too early
    await new_id(
        conn,
        LineAttribution,
        order_line_id=live_line,
        shop_id=ids["shop"],
        host_id=host,
        confidence=AttributionConfidence.EXACT,
        rule="room_id",
        line_version=1,
    )
    return ids | lots | {"other_shop": other_shop, "unit": unit, "host": host}


RUN_RULE = UnsoldRule(shelf_days={"meat": 100})


async def test_open_refresh_resolve_and_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            w = await _world(conn)
            result = await run_unsold(conn, now=NOW, rule=RUN_RULE)
            assert (result.lots, result.opened, result.refreshed, result.resolved, result.open) == (4, 2, 0, 0, 2)
            assert await _open(conn) == sorted([(w["slow"], "warning", False), (w["old"], "error", False)])
            again = await run_unsold(conn, now=NOW, rule=RUN_RULE)  # nothing changes
            assert (again.opened, again.refreshed, again.resolved, again.open) == (0, 0, 0, 2)

            detail = json.loads(
                await conn.scalar(select(Alert.detail).where(Alert.subject == f"lot:{w['slow']}")) or "{}"
            )
            # The older lot's 30 units count ahead (allocation draws first in, first out, past shelf
            # life or not); 6 x 25 // 30 = 5 sell before the end: all 90 are left.
            assert (detail["days_left"], detail["sold"], detail["ahead"], detail["remaining"]) == (25, 6, 30, 90)
            assert detail["left_at_end"] == 90 and detail["value_fen"] == 90 * 10000
            channels = [(c["kind"], c["id"], c["sku_units"], c["category_units"]) for c in detail["channels"]]
            assert channels == [
                ("shop", w["shop"], 4, 64),  # 4 of this SKU (and the good SKU's 60 of the category)
                ("shop", w["other_shop"], 2, 2),  # the 99 of September are outside the 30 days
                ("unit", w["unit"], 4, 4),
                ("host", w["host"], 4, 4),
            ]

            # Refresh: fewer units left, the same alert says so.
            await conn.execute(update(SupplyLot).where(SupplyLot.id == w["slow"]).values(remaining=80))
            refreshed = await run_unsold(conn, now=NOW, rule=RUN_RULE)
            assert (refreshed.opened, refreshed.refreshed, refreshed.resolved) == (0, 1, 0)
            message = await conn.scalar(select(Alert.message).where(Alert.subject == f"lot:{w['slow']}"))
            assert message is not None and "还剩 80 件" in message and "25 天后（2026-11-25）" in message

            # Sold through: resolved, and not reopened; the young lot enters the horizon later.
            await conn.execute(update(SupplyLot).where(SupplyLot.id == w["slow"]).values(remaining=0))
            sold_out = await run_unsold(conn, now=NOW, rule=RUN_RULE)
            assert (sold_out.opened, sold_out.refreshed, sold_out.resolved, sold_out.open) == (0, 0, 1, 1)
            assert await _open(conn) == sorted([(w["slow"], "warning", True), (w["old"], "error", False)])
            assert (await run_unsold(conn, now=NOW, rule=RUN_RULE)).as_dict() == {
                "lots": 3,
                "opened": 0,
                "refreshed": 0,
                "resolved": 0,
                "open": 1,
            }
            # A month on, the young lot enters the horizon and the good SKU's lot is past its shelf life.
            later = await run_unsold(conn, now=NOW + timedelta(days=31), rule=RUN_RULE)
            assert later.opened == 2
            assert {(w["young"], "warning", False), (w["good"], "error", False)} <= set(await _open(conn))
    finally:
        await engine.dispose()


async def test_who_sees_which_lots_and_channels(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            w = await _world(conn)
            await conn.execute(
                update(SupplyLot).where(SupplyLot.id == w["slow"]).values(cooperative_id=w["coop"], supplier_id=None)
            )
            # The old lot belongs to an enterprise of another county.
            other = await base(conn)
            await conn.execute(update(SupplyLot).where(SupplyLot.id == w["old"]).values(supplier_id=other["supplier"]))
            await conn.execute(update(Shop).where(Shop.id == w["shop"]).values(county_id=w["county"]))
            await run_unsold(conn, now=NOW, rule=RUN_RULE)

            def lots(alerts: list[UnsoldAlert]) -> list[int]:
                return sorted(int(a.detail["lot_id"]) for a in alerts)

            everything = await unsold_alerts(conn, Scope.admin())
            assert lots(everything) == sorted([w["slow"], w["old"]])
            county = Scope(UserRole.COUNTY, region_ids=frozenset({w["county"]}))
            mine = await unsold_alerts(conn, county)
            assert lots(mine) == [w["slow"]]
            # The county sees the shop of its region; the other shop, the unit and the host are not its own.
            assert [(c["kind"], c["id"]) for c in mine[0].channels] == [("shop", w["shop"])]
            assert lots(await unsold_alerts(conn, Scope(UserRole.COUNTY, region_ids=frozenset({other["county"]})))) == [
                w["old"]
            ]
            coop = Scope(UserRole.COOPERATIVE, cooperative_id=w["coop"])
            own = await unsold_alerts(conn, coop)
            assert lots(own) == [w["slow"]]
            assert {c["kind"] for c in own[0].channels} == {"shop"}  # storefronts only
            assert await unsold_alerts(conn, Scope(UserRole.COOPERATIVE, cooperative_id=other["coop"])) == []
            assert await unsold_alerts(conn, Scope(UserRole.HOST, host_id=w["host"])) == []
            assert await unsold_alerts(conn, Scope(UserRole.UNIT, unit_id=w["unit"])) == []
            assert lots(await unsold_alerts(conn, Scope.admin(), cooperative_id=w["coop"])) == [w["slow"]]
    finally:
        await engine.dispose()


async def test_channels_rank_this_sku_first_then_the_category(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            ids = await base(conn)
            lot = await add_lot(conn, ids["sku"], ids["supplier"], TODAY - timedelta(days=80), 100, 100)
            sibling = await new_id(
                conn, Sku, sku_code="SIB", product_id=ids["product"], spec="1kg", unit="袋", retail_price_fen=1000
            )
            other_product = await new_id(
                conn, Product, spu_code="PX", name="茶", category="tea", supplier_id=ids["supplier"]
            )
            tea = await new_id(
                conn, Sku, sku_code="TEA", product_id=other_product, spec="1", unit="盒", retail_price_fen=1000
            )
            shops = []
            for n in range(4):
                shops.append(
                    await new_id(
                        conn,
                        Shop,
                        name=f"店{n}",
                        platform=PlatformKind.TAOBAO,
                        channel_type=ChannelType.ECOMMERCE,
                        platform_shop_id=f"T{n}",
                    )
                )
            await add_order(conn, shops[0], "A", at("2026-10-20T00:00"), [100], sku=sibling, quantity=50)
            await add_order(conn, shops[1], "B", at("2026-10-20T00:00"), [100], sku=ids["sku"], quantity=1)
            await add_order(conn, shops[2], "C", at("2026-10-20T00:00"), [100], sku=sibling, quantity=5)
            await add_order(conn, shops[3], "D", at("2026-10-20T00:00"), [100], sku=tea, quantity=500)
            await run_unsold(conn, now=NOW, rule=UnsoldRule(shelf_days={"meat": 100}, channels_per_kind=2))
            detail = json.loads(await conn.scalar(select(Alert.detail).where(Alert.subject == f"lot:{lot}")) or "{}")
            # This SKU's seller first, then the category's biggest; the tea shop never; two per kind.
            assert [(c["name"], c["sku_units"], c["category_units"]) for c in detail["channels"]] == [
                ("店1", 1, 1),
                ("店0", 0, 50),
            ]
    finally:
        await engine.dispose()
