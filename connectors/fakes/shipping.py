"""What every fake's ship endpoint checks before it ships an order in its world.

Each platform names carriers with its own codes (the tables below, canonical carrier -> the
platform's code; [I] for the codes no public source here shows, see each fake's docstring), and
refuses a tracking number that is not 8-30 letters and digits [I: the platforms check the
format per carrier; this is the common part]. The business refusals themselves (already
shipped, refunded, closed, unknown order) come from :meth:`FakeWorld.ship` as a
:class:`~connectors.fakes.world.ShipError`, which each fake maps to its own error codes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bangfu.enums import Carrier

TRACKING_NO = re.compile(r"[A-Za-z0-9]{8,30}")

#: TOP ``company_code`` (taobao.logistics.companies.get codes)
TAOBAO_CARRIERS: Mapping[Carrier, str] = {c: c.value for c in Carrier}
#: JOS ``logiCoprId`` [I numbers]
JD_CARRIERS: Mapping[Carrier, str] = {
    Carrier.SF: "467",
    Carrier.ZTO: "463",
    Carrier.YTO: "2171",
    Carrier.STO: "470",
    Carrier.YUNDA: "1327",
    Carrier.EMS: "465",
    Carrier.POSTB: "2170",
    Carrier.JD: "1274",
}
#: Douyin ``company_code`` (pinyin codes of order.logisticsCompanyList)
DOUYIN_CARRIERS: Mapping[Carrier, str] = {
    Carrier.SF: "shunfeng",
    Carrier.ZTO: "zhongtong",
    Carrier.YTO: "yuantong",
    Carrier.STO: "shentong",
    Carrier.YUNDA: "yunda",
    Carrier.EMS: "ems",
    Carrier.POSTB: "youzhengguonei",
    Carrier.JD: "jd",
}
#: Kuaishou ``expressCode`` [I numbers]
KUAISHOU_CARRIERS: Mapping[Carrier, int] = {
    Carrier.SF: 4,
    Carrier.ZTO: 2,
    Carrier.YTO: 6,
    Carrier.STO: 1,
    Carrier.YUNDA: 3,
    Carrier.EMS: 5,
    Carrier.POSTB: 7,
    Carrier.JD: 8,
}
#: Youzan ``out_stype`` (express company id) [I numbers]
YOUZAN_CARRIERS: Mapping[Carrier, int] = {
    Carrier.SF: 7,
    Carrier.ZTO: 3,
    Carrier.YTO: 2,
    Carrier.STO: 1,
    Carrier.YUNDA: 4,
    Carrier.EMS: 11,
    Carrier.POSTB: 12,
    Carrier.JD: 138,
}


def valid_tracking(text: str) -> bool:
    return TRACKING_NO.fullmatch(text) is not None


def known_code(table: Mapping[Carrier, str] | Mapping[Carrier, int], code: str) -> bool:
    """Whether ``code`` (as sent, text) is one of the platform's carrier codes."""
    return code in {str(value) for value in table.values()}
