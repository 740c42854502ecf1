"""Kuaishou live sessions [I]: the session parser, pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bangfu.records import (
    ExplanationRecord,
    LiveMinuteRecord,
    LiveSessionRecord,
)
from connectors import fields
from connectors.kuaishou.parse import list_field, ms_time, opt_ms_time


def parse_live_stream(raw: Mapping[str, Any]) -> LiveSessionRecord:
    """A live session (``open.live.stream.list`` row merged with its ``.detail``) [I]."""
    minutes = tuple(
        LiveMinuteRecord(
            minute_at=ms_time(m, "minuteTime"),
            online=fields.integer(m, "onlineCount", 0),
            views=fields.integer(m, "enterCount", 0),
            new_buyers=fields.integer(m, "newBuyerCount", 0),
            gmv_fen=fields.fen(m, "payAmount", 0),
        )
        for m in list_field(raw, "minuteList")
    )
    explanations = tuple(
        ExplanationRecord(
            platform_item_id=fields.numeric_id(e, "kwaiItemId"),
            started_at=ms_time(e, "beginTime"),
            ended_at=ms_time(e, "endTime"),
            platform_sku_id=fields.opt_numeric_id(e, "skuId"),
        )
        for e in list_field(raw, "explainList")
    )
    return LiveSessionRecord(
        room_id=fields.numeric_id(raw, "liveStreamId"),
        author_id=fields.numeric_id(raw, "authorId"),
        started_at=ms_time(raw, "startTime"),
        modified_at=ms_time(raw, "updateTime"),
        host_name=str(raw.get("authorName") or ""),
        title=str(raw.get("title") or ""),
        ended_at=opt_ms_time(raw, "endTime"),
        views=fields.integer(raw, "watchCount", 0),
        unique_viewers=fields.integer(raw, "watchUserCount", 0),
        peak_online=fields.integer(raw, "maxOnlineCount", 0),
        total_watch_seconds=fields.integer(raw, "totalWatchDuration", 0),
        minutes=minutes,
        explanations=explanations,
        raw=raw,
    )
