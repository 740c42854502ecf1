"""bangfu.scrub: personal fields out of raw platform payloads, and migration 0012 for stored ones."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from bangfu.enums import PlatformKind, SyncStream
from bangfu.models import Order, QuarantinedRecord, Refund, Shop
from bangfu.privacy import buyer_ref
from bangfu.scrub import PERSONAL_FIELDS, PersonalFields, ScrubPlan, _scrub_by_path, plan_for, scrub, scrub_raw
from bangfu.store import make_engine, upgrade

MIGRATION = Path(__file__).parents[2] / "bangfu/migrations/versions/0012_scrub_personal_raw.py"

JD_ORDER: dict[str, Any] = {
    "orderId": "3001",
    "pin": "jd_buyer_pin_77",
    "consigneeInfo": {"fullname": "王小明", "mobile": "13912345678", "fullAddress": "幸福路88号"},
    "itemInfoList": [{"skuId": "1", "skuName": "苹果"}],
    "orderPayment": "99.00",
}


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0012", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_buyer_ids_become_the_keyed_hash_and_receivers_are_dropped() -> None:
    clean = scrub_raw("jd", SyncStream.ORDERS, JD_ORDER, key=b"k")
    assert clean == {
        "orderId": "3001",
        "pin": "hmac:" + buyer_ref("jd", "jd_buyer_pin_77", key=b"k"),
        "itemInfoList": [{"skuId": "1", "skuName": "苹果"}],
        "orderPayment": "99.00",
    }
    assert JD_ORDER["pin"] == "jd_buyer_pin_77" and "consigneeInfo" in JD_ORDER  # input untouched
    assert scrub_raw("jd", SyncStream.ORDERS, clean, key=b"k") == clean  # idempotent


def test_nested_lists_are_walked_and_tmall_hashes_like_taobao() -> None:
    raw: dict[str, Any] = {
        "full_order_info": {
            "buyer_info": {"yz_open_id": "yzOPEN", "fans_nickname": "小明", "buyer_phone": "13912345678"},
            "address_info": {"receiver_name": "王小明"},
            "orders": [{"oid": "1", "buyer_messages": "身份证:51332819800101001X"}, {"oid": "2"}],
        }
    }
    clean = scrub_raw("youzan", "orders", raw, key=b"k")
    assert orjson.dumps(clean).decode().count("小明") == 0 and "5133" not in orjson.dumps(clean).decode()
    assert clean["full_order_info"]["orders"] == [{"oid": "1"}, {"oid": "2"}]
    assert clean["full_order_info"]["orders"][1] is raw["full_order_info"]["orders"][1]  # copy on write
    tmall = scrub_raw("tmall", "orders", {"buyer_open_uid": "AAx"}, key=b"k")
    assert tmall == scrub_raw("taobao", "orders", {"buyer_open_uid": "AAx"}, key=b"k")


def test_payloads_without_personal_fields_come_back_as_they_are() -> None:
    bill = {"bid": 1, "amount": 100}
    assert scrub_raw("taobao", SyncStream.SETTLEMENTS, bill) is bill
    assert scrub_raw("counter", SyncStream.ORDERS, bill) is bill
    order: dict[str, Any] = {"tid": 1, "buyer_open_uid": None, "orders": {"order": []}}
    assert scrub_raw("taobao", SyncStream.ORDERS, order) is order


def test_the_migration_carries_the_same_rules_as_bangfu_scrub() -> None:
    """A change to bangfu.scrub needs a migration that scrubs the stored payloads again."""
    current = {
        platform.value: (
            entry.namespace,
            {stream.value: (fields.hashed, fields.dropped) for stream, fields in entry.streams.items()},
        )
        for platform, entry in PERSONAL_FIELDS.items()
    }
    assert current == _migration().RULES


def _seed_rows(shop_id: int, now: datetime) -> dict[str, list[dict[str, Any]]]:
    order = {
        "shop_id": shop_id,
        "platform_order_id": "3001",
        "status": "paid",
        "status_rank": 1,
        "platform_status": "WAIT_SELLER_STOCK_OUT",
        "created_at": now,
        "modified_at": now,
        "paid_fen": 9900,
        "buyer_ref": buyer_ref("jd", "jd_buyer_pin_77"),
        "raw": JD_ORDER,
    }
    refund = {
        "shop_id": shop_id,
        "platform_refund_id": "r1",
        "platform_order_id": "3001",
        "status": "requested",
        "status_rank": 1,
        "platform_status": "10",
        "amount_fen": 100,
        "created_at": now,
        "modified_at": now,
        "raw": {"serviceId": 1, "customerPin": "jd_buyer_pin_77", "customerName": "王小明"},
    }
    held = [
        {"shop_id": shop_id, "stream": stream, "platform_id": pid, "error": "bad", "raw": raw, "seen_at": now}
        for stream, pid, raw in (
            ("orders", "3002", {**JD_ORDER, "orderId": "3002"}),
            ("products", "w1", {"wareId": "王小明"}),
        )
    ]
    return {"orders": [order], "refunds": [refund], "held": held}


async def test_migration_scrubs_stored_raw_payloads(empty_db_url: str) -> None:
    """Payloads stored before the connectors scrubbed them (a JD order with ``pin`` and
    ``consigneeInfo``, a refund with ``customerPin``, a quarantined order) come out of migration
    0012 scrubbed like new ones; other streams' payloads are left alone."""
    engine = make_engine(empty_db_url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    try:
        await upgrade(engine, _migration().down_revision)
        async with engine.begin() as conn:
            shop_id = (
                await conn.execute(
                    insert(Shop.__table__)  # type: ignore[arg-type]
                    .values(name="jd", platform="jd", channel_type="ecommerce", platform_shop_id="9", settings={})
                    .returning(Shop.__table__.c.id)
                )
            ).scalar_one()
            rows = _seed_rows(shop_id, now)
            await conn.execute(insert(Order.__table__), rows["orders"])  # type: ignore[arg-type]
            await conn.execute(insert(Refund.__table__), rows["refunds"])  # type: ignore[arg-type]
            await conn.execute(insert(QuarantinedRecord.__table__), rows["held"])  # type: ignore[arg-type]
        await upgrade(engine)
        async with engine.connect() as conn:
            order_raw, ref = (await conn.execute(select(Order.raw, Order.buyer_ref))).one()
            refund_raw = await conn.scalar(select(Refund.raw))
            held_rows = (await conn.execute(select(QuarantinedRecord.platform_id, QuarantinedRecord.raw))).all()
            held: dict[Any, Any] = dict(held_rows)
            products = await conn.scalar(select(QuarantinedRecord.raw).where(QuarantinedRecord.stream == "products"))
    finally:
        await engine.dispose()
    assert order_raw == scrub_raw(PlatformKind.JD, SyncStream.ORDERS, JD_ORDER)
    assert order_raw["pin"] == f"hmac:{ref}" and "consigneeInfo" not in order_raw
    assert refund_raw == {"serviceId": 1, "customerPin": f"hmac:{ref}"}
    assert "jd_buyer_pin_77" not in orjson.dumps(held).decode()
    assert products == {"wareId": "王小明"}


@pytest.mark.parametrize("platform", [p.value for p in PERSONAL_FIELDS])
def test_every_rule_path_is_well_formed(platform: str) -> None:
    for fields in PERSONAL_FIELDS[PlatformKind(platform)].streams.values():
        for path in (*fields.hashed, *fields.dropped):
            assert path and all(part.removesuffix("[]") for part in path.split(".")), path


# -- the compiled plan (ScrubPlan) against the path-by-path walk -------------------------------------

_KEYS = st.sampled_from(["a", "b", "c", "ids", "pin", "buyer_info", "orders", "x"])
_LEAVES = st.one_of(st.none(), st.just(""), st.booleans(), st.integers(-5, 5), st.text(max_size=4), st.just("hmac:abc"))
_PAYLOADS = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)
# paths as the tables write them: dotted keys, ``[]`` after a key that holds a list of objects
_PATHS = (
    st.lists(st.sampled_from(["a", "b", "pin", "orders[]", "buyer_info", "ids", "x"]), min_size=1, max_size=3)
    .map(".".join)
    .filter(lambda path: not path.endswith("[]"))
)


def _walked(raw: Any, fields: PersonalFields) -> Any:
    return _scrub_by_path(raw, fields, lambda value: "hmac:" + value)


def _planned(raw: Any, fields: PersonalFields) -> Any:
    return scrub(raw, fields, lambda value: "hmac:" + value)


def _same(a: Any, b: Any) -> bool:
    """Equal, with keys in the same order at every level (the stored JSON text is the same)."""
    return orjson.dumps(a) == orjson.dumps(b)


@settings(max_examples=400, deadline=None)
@given(
    raw=st.dictionaries(_KEYS, _PAYLOADS, max_size=5),
    hashed=st.lists(_PATHS, max_size=3),
    dropped=st.lists(_PATHS, max_size=3),
)
def test_a_plan_scrubs_exactly_as_the_path_walk(raw: dict[str, Any], hashed: list[str], dropped: list[str]) -> None:
    fields = PersonalFields(tuple(hashed), tuple(dropped))
    before = orjson.dumps(raw)
    planned = _planned(raw, fields)
    walked = _walked(raw, fields)
    assert _same(planned, walked)
    assert (planned is raw) == (walked is raw)  # untouched payloads come back as they are
    assert orjson.dumps(raw) == before  # the input is never modified


@pytest.mark.parametrize(
    ("platform", "stream"),
    [(platform, stream) for platform, entry in PERSONAL_FIELDS.items() for stream in entry.streams],
)
def test_every_platform_table_compiles_to_a_plan(platform: PlatformKind, stream: SyncStream) -> None:
    found = plan_for(platform, stream)
    assert found is not None and found[2] is not None  # the hot path never falls back to the walk


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_platform_plans_agree_with_the_walk_on_their_own_fields(data: st.DataObject) -> None:
    platform = data.draw(st.sampled_from(sorted(PERSONAL_FIELDS)))
    entry = PERSONAL_FIELDS[platform]
    stream = data.draw(st.sampled_from(sorted(entry.streams)))
    fields = entry.streams[stream]
    raw: dict[str, Any] = {}
    for path in data.draw(st.lists(st.sampled_from([*fields.hashed, *fields.dropped]), max_size=4)):
        node = raw
        parts = path.split(".")
        for part in parts[:-1]:
            if part.endswith("[]"):
                items = node.setdefault(part[:-2], [])
                if not isinstance(items, list) or not items:
                    items = node[part[:-2]] = [{}]
                node = items[0]
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
        node[parts[-1]] = data.draw(_LEAVES)
    raw["kept"] = 1
    assert _same(_planned(raw, fields), _walked(raw, fields))
    assert _same(
        scrub_raw(platform, stream, raw, key=b"k"),
        _scrub_by_path(raw, fields, lambda value: "hmac:" + buyer_ref(entry.namespace, value, b"k")),
    )


def test_tables_a_tree_cannot_say_take_the_walk() -> None:
    assert ScrubPlan.compile(PersonalFields(hashed=("a",), dropped=("a.b",))) is None  # hashed, then walked into
    assert ScrubPlan.compile(PersonalFields(dropped=("ids[]",))) is None  # a list of values
    raw = {"a": {"b": 1, "c": 2}}
    fields = PersonalFields(hashed=("a",), dropped=("a.b",))
    assert scrub(raw, fields, lambda value: "hmac:" + value) == {"a": {"c": 2}}
