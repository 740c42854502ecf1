"""Douyin live sessions [I]: the session parser, pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bangfu.records import (
    ExplanationRecord,
    LiveMinuteRecord,
    LiveSessionRecord,
)
from connectors import fields
from connectors.douyin.parse import epoch_time, list_field, object_field, opt_epoch_time

# -- live sessions [I] ---------------------------------------------------------------------------
#
# PLATFORMS.md found no public shop-side API for live-room data. This stream is modelled on the
# session review (直播复盘) of Douyin 电商罗盘 and marked [I] throughout: a session list by start
# time and a per-session detail with the minute timeline and product explanation windows.
#
#   live.sessionList  {start_time, end_time (unix s, session start, inclusive), page (from 0),
#                      size (<= 100)} -> {total, page, size, room_list[]}
#       room_list[]: room_id/room_id_str, author_id, author_nickname, title, start_time,
#                    end_time (0 while live), live_status (2 live, 4 ended), update_time,
#                    watch_cnt (PV), watch_ucnt (UV), max_online_ucnt (PCU),
#                    total_watch_duration (s), pay_amt (GMV fen), pay_order_cnt
#   live.sessionDetail {room_id} -> {room{...as above}, minute_list[], explain_list[]}
#       minute_list[]: minute (unix s), online_ucnt, watch_cnt, new_pay_ucnt, pay_amt (fen)
#       explain_list[]: product_id, sku_id, start_time, end_time (unix s)


def parse_live_session(raw: Mapping[str, Any]) -> LiveSessionRecord:
    """A ``live.sessionDetail`` answer [I] -> :class:`LiveSessionRecord`."""
    room = object_field(raw, "room")
    if not room:
        raise ValueError("live session without room")
    minutes = tuple(
        LiveMinuteRecord(
            minute_at=epoch_time(m, "minute"),
            online=fields.integer(m, "online_ucnt", 0),
            views=fields.integer(m, "watch_cnt", 0),
            new_buyers=fields.integer(m, "new_pay_ucnt", 0),
            gmv_fen=fields.fen(m, "pay_amt", 0),
        )
        for m in list_field(raw, "minute_list")
    )
    explanations = tuple(
        ExplanationRecord(
            platform_item_id=fields.numeric_id(e, "product_id", twin=True),
            started_at=epoch_time(e, "start_time"),
            ended_at=epoch_time(e, "end_time"),
            platform_sku_id=fields.opt_numeric_id(e, "sku_id", twin=True),
        )
        for e in list_field(raw, "explain_list")
    )
    return LiveSessionRecord(
        room_id=fields.numeric_id(room, "room_id", twin=True),
        author_id=fields.numeric_id(room, "author_id", twin=True),
        started_at=epoch_time(room, "start_time"),
        modified_at=epoch_time(room, "update_time"),
        host_name=str(room.get("author_nickname") or ""),
        title=str(room.get("title") or ""),
        ended_at=opt_epoch_time(room, "end_time"),
        views=fields.integer(room, "watch_cnt", 0),
        unique_viewers=fields.integer(room, "watch_ucnt", 0),
        peak_online=fields.integer(room, "max_online_ucnt", 0),
        total_watch_seconds=fields.integer(room, "total_watch_duration", 0),
        minutes=minutes,
        explanations=explanations,
        raw=raw,
    )


# -- paging helpers (pure) -------------------------------------------------------------------------
