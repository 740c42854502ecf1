"""Push messages as values (sync/webhook_messages.py): what a push body says, as examples."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson
import pytest

from sync.webhook_messages import IncomingEvent, parse_douyin, parse_taobao, tmc_sign, verify_tmc


def douyin(*messages: Mapping[str, object]) -> bytes:
    return orjson.dumps(list(messages))


def test_a_douyin_trade_message_names_its_shop_and_order() -> None:
    data = orjson.dumps({"shop_id": 4463798, "p_id": "6921234567890123456", "order_status": 2}).decode()
    message = {"tag": "101", "msg_id": "7150000000000000001", "data": data}
    assert parse_douyin(douyin(message)) == [
        IncomingEvent(
            event_key="7150000000000000001",
            kind="101 TradePaid",
            platform_shop_id="4463798",
            platform_order_id="6921234567890123456",
            payload=orjson.dumps(message).decode(),
        )
    ]


def test_a_douyin_after_sale_message_names_the_refund_and_others_name_no_order() -> None:
    refund = {"shop_id": 7, "p_id": 11, "aftersale_id": "90001"}
    product = {"shop_id": 7, "p_id": 11, "product_id": 5}
    events = parse_douyin(
        douyin(
            {"tag": "206", "msg_id": "a", "data": orjson.dumps(refund).decode()},
            {"tag": "400", "msg_id": "b", "data": product},
        )
    )
    assert [(e.kind, e.platform_order_id, e.platform_refund_id) for e in events] == [
        ("206 RefundSuccess", "11", "90001"),
        ("tag 400", None, None),
    ]


@pytest.mark.parametrize("value", [0, -3, True, "abc", "1" * 65, "", None, 1.5])
def test_what_is_not_a_platform_id_is_no_id(value: object) -> None:
    (event,) = parse_douyin(douyin({"tag": "101", "msg_id": "m", "data": {"shop_id": value, "p_id": value}}))
    assert (event.platform_shop_id, event.platform_order_id) == (None, None)


def test_a_message_without_an_id_is_keyed_by_a_digest_of_itself() -> None:
    """So a redelivery of the same message is the same event, and a different message is not."""
    body = douyin({"tag": "101", "data": "{}"}, {"tag": "101", "data": "{}"}, {"tag": "102", "data": "{}"})
    first, again, other = parse_douyin(body)
    assert first.event_key.startswith("sha256:") and len(first.event_key) == 7 + 64
    assert first.event_key == again.event_key != other.event_key


@pytest.mark.parametrize(("parse", "body"), [(parse_douyin, b'{"tag": "101"}'), (parse_taobao, b"[]")])
def test_a_body_of_the_wrong_shape_is_refused(parse: Callable[[bytes], list[IncomingEvent]], body: bytes) -> None:
    with pytest.raises(ValueError, match="push is"):
        parse(body)


def test_a_tmc_message_names_its_seller_order_and_refund() -> None:
    body = orjson.dumps(
        {
            "messages": [
                {"id": 1, "topic": "taobao_trade_TradeBuyerPay", "user_id": 55, "content": '{"tid": 321}'},
                {
                    "id": 2,
                    "topic": "taobao_refund_RefundSuccess",
                    "user_id": 55,
                    "content": {"tid": 321, "refund_id": 9},
                },
                {"id": 3, "topic": "taobao_item_ItemUpshelf", "user_id": 55, "content": '{"num_iid": 8}'},
            ]
        }
    )
    events = parse_taobao(body)
    assert [(e.event_key, e.platform_shop_id, e.platform_order_id, e.platform_refund_id) for e in events] == [
        ("1", "55", "321", None),
        ("2", "55", "321", "9"),
        ("3", "55", None, None),
    ]


def test_a_tmc_push_is_verified_by_its_app_key_and_the_hmac_of_the_raw_body() -> None:
    body = b'{"messages": []}'
    signed = {"X-Top-Appkey": "12345", "X-Top-Sign": tmc_sign(body, "s3cret")}
    assert verify_tmc(signed, body, app_key="12345", secret="s3cret")
    assert not verify_tmc(signed, body + b" ", app_key="12345", secret="s3cret")
    assert not verify_tmc(signed, body, app_key="12346", secret="s3cret")
    assert not verify_tmc(signed, body, app_key="12345", secret="other")
    assert not verify_tmc({"X-Top-Appkey": "12345"}, body, app_key="12345", secret="s3cret")
