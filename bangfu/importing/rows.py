"""One pydantic model per import kind: what a valid row is, with Chinese or English headers.

Each field lists the headers it accepts (English first, then Chinese). Parsing is strict, so a
file is never read as something its author did not mean:

- money is yuan as people type it (``12.50``, ``1,234.50``) in the one grammar of
  :func:`bangfu.money.parse_yuan`, with an upper bound per kind of amount (``MAX_YUAN``);
- counts are plain digits (``1,234`` grouping allowed; no ``1_000``, ``1e3`` or full-width digits)
  within the database column;
- text fits its database column; dates of past events (a lot received, a member joining) are not
  in the future, beyond a day's margin for time zones.

A blank cell means "not given" (an upsert keeps what is stored); ``<清空>`` / ``<clear>`` clears an
optional field (back to its default: empty, or 0 for amounts).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from bangfu.clock import SHANGHAI
from bangfu.enums import CertificationStatus, HouseholdCategory, SupplierKind, UnitType
from bangfu.money import FEN_PER_YUAN, MoneyError, fen_to_yuan_str, parse_yuan

_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015 check)."""
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_CHARS[(31 - total % 31) % 31]


def _credit_code(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 18 or any(c not in _CREDIT_CHARS for c in code):
        raise ValueError("unified social credit code must be 18 characters of 0-9 and A-Y (no I, O, S, V, Z)")
    if credit_code_check_char(code[:17]) != code[17]:
        raise ValueError(f"unified social credit code check character should be {credit_code_check_char(code[:17])}")
    return code


def gs1_check_digit(body: str) -> str:
    """The check digit of a GS1 number (EAN-8, UPC-A, EAN-13, ITF-14) whose other digits are ``body``:
    weights 3 and 1 alternate from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _barcode(value: str) -> str:
    code = value.strip()
    if not code.isascii() or not code.isdigit() or len(code) not in (8, 12, 13, 14):
        raise ValueError(f"{value!r} is not a barcode: 8, 12, 13 or 14 digits (EAN-8, UPC-A, EAN-13, ITF-14)")
    if gs1_check_digit(code[:-1]) != code[-1]:
        raise ValueError(f"barcode {code}: the check digit should be {gs1_check_digit(code[:-1])}")
    return code


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


CLEAR_MARKERS = ("<清空>", "<clear>")  # compared case-insensitively

# Upper bounds per kind of amount, in yuan: far above any real value, far below what would
# overflow or hide a typo of a few extra digits.
MAX_YUAN = {
    "member_account": 10_000_000,  # one household's capital, reserve or subsidy share
    "price": 1_000_000,  # one unit of a SKU
    "unit_budget": 1_000_000_000,  # a purchasing unit's yearly target or canteen budget
    "minute_gmv": 100_000_000,  # one minute of one live session
    "sale": 100_000_000,  # one line of a sales file (an amount or a discount)
}
MAX_INT = 2**31 - 1  # INTEGER columns


def _money(bound: str) -> Any:
    max_fen = MAX_YUAN[bound] * FEN_PER_YUAN

    def parse(value: Any) -> Any:
        if value is None or isinstance(value, int):
            return value
        try:
            return parse_yuan(str(value), max_fen=max_fen)
        except MoneyError as exc:
            raise ValueError(str(exc)) from exc

    return BeforeValidator(parse)


_WHOLE = re.compile(r"[0-9]+|[1-9][0-9]{0,2}(?:,[0-9]{3})+")


def _whole(value: Any) -> Any:
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip()
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{value!r} is not a whole number (digits only, like 1234 or 1,234)")
    return int(text.replace(",", ""))


def _today() -> date:
    return datetime.now(SHANGHAI).date()


EARLIEST = date(1950, 1, 1)
LATEST = date(2100, 12, 31)


def _in_horizon(value: date | None) -> date | None:
    if value is not None and not EARLIEST <= value <= LATEST:
        raise ValueError(f"{value} is outside {EARLIEST.year}-{LATEST.year}")
    return value


def _not_future(value: date | None) -> date | None:
    """Past events: a day's margin, so a file written late in the evening elsewhere still fits."""
    if value is not None and value > _today() + timedelta(days=1):
        raise ValueError(f"{value} is in the future (today is {_today()})")
    return _in_horizon(value)


def _time_not_future(value: datetime | None) -> datetime | None:
    if value is not None:
        if value > datetime.now(UTC) + timedelta(days=1):
            raise ValueError(f"{value.astimezone(SHANGHAI):%Y-%m-%d %H:%M} is in the future")
        if value.year < 2015:
            raise ValueError(f"{value.astimezone(SHANGHAI):%Y-%m-%d %H:%M} is before 2015")
    return value


def _choice(table: dict[str, Any]) -> Any:
    def parse(value: Any) -> Any:
        if value is None:
            return None
        key = str(value).strip().lower()
        if key in table:
            return table[key]
        raise ValueError(f"{value!r} is not one of: {', '.join(sorted(set(table)))}")

    return parse


def _bool(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    key = str(value).strip().lower()
    if key in ("1", "true", "yes", "y", "是", "√"):
        return True
    if key in ("0", "false", "no", "n", "否", ""):
        return False
    raise ValueError(f"{value!r} is not yes/no (是/否)")


Opt = BeforeValidator(_blank_to_none)
Whole = BeforeValidator(_whole)
OptDate = Annotated[date | None, Opt, AfterValidator(_in_horizon)]
PastDate = Annotated[date, AfterValidator(_not_future)]
OptPastDate = Annotated[date | None, Opt, AfterValidator(_not_future)]
# Constraints sit on the inner type, so an explicit None (as the scenario builder passes) is fine.
OptCount = Annotated[Annotated[int, Field(ge=0, le=MAX_INT)] | None, Whole, Opt]
CreditCode = Annotated[str, AfterValidator(_credit_code)]
# Text columns, by the length of the database column they go into.
Text32 = Annotated[str, Field(min_length=1, max_length=32)]
Text64 = Annotated[str, Field(min_length=1, max_length=64)]
Text128 = Annotated[str, Field(min_length=1, max_length=128)]
OptText32 = Annotated[Annotated[str, Field(max_length=32)] | None, Opt]
OptText64 = Annotated[Annotated[str, Field(max_length=64)] | None, Opt]
OptText128 = Annotated[Annotated[str, Field(max_length=128)] | None, Opt]
OptText255 = Annotated[Annotated[str, Field(max_length=255)] | None, Opt]
OptLongText = Annotated[Annotated[str, Field(max_length=4000)] | None, Opt]
RegionCode = Annotated[str, Field(pattern=r"^[0-9]{6}([0-9]{3})?([0-9]{3})?$")]
OptBarcode = Annotated[Annotated[str, AfterValidator(_barcode)] | None, Opt]

SUPPLIER_KINDS = {
    "cooperative": SupplierKind.COOPERATIVE,
    "合作社": SupplierKind.COOPERATIVE,
    "农民专业合作社": SupplierKind.COOPERATIVE,
    "enterprise": SupplierKind.ENTERPRISE,
    "企业": SupplierKind.ENTERPRISE,
}
CATEGORIES = {
    "lifted": HouseholdCategory.LIFTED,
    "脱贫户": HouseholdCategory.LIFTED,
    "monitored": HouseholdCategory.MONITORED,
    "监测户": HouseholdCategory.MONITORED,
    "ordinary": HouseholdCategory.ORDINARY,
    "一般农户": HouseholdCategory.ORDINARY,
}
UNIT_TYPES = {
    "government": UnitType.GOVERNMENT,
    "机关": UnitType.GOVERNMENT,
    "政府": UnitType.GOVERNMENT,
    "hospital": UnitType.HOSPITAL,
    "医院": UnitType.HOSPITAL,
    "医疗机构": UnitType.HOSPITAL,
    "school": UnitType.SCHOOL,
    "学校": UnitType.SCHOOL,
    "union": UnitType.UNION,
    "工会": UnitType.UNION,
    "company": UnitType.COMPANY,
    "企业": UnitType.COMPANY,
    "canteen": UnitType.CANTEEN,
    "食堂": UnitType.CANTEEN,
    "other": UnitType.OTHER,
    "其他": UnitType.OTHER,
}
CERT_STATUSES = {
    "valid": CertificationStatus.VALID,
    "有效": CertificationStatus.VALID,
    "expired": CertificationStatus.EXPIRED,
    "过期": CertificationStatus.EXPIRED,
    "已过期": CertificationStatus.EXPIRED,
    "revoked": CertificationStatus.REVOKED,
    "撤销": CertificationStatus.REVOKED,
    "已撤销": CertificationStatus.REVOKED,
}


class ImportRow(BaseModel):
    """Base of every row model. ``HEADERS`` maps each field to the headers it accepts."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)
    HEADERS: ClassVar[dict[str, tuple[str, ...]]]
    KEY: ClassVar[tuple[str, ...]]


class CooperativeRow(ImportRow):
    HEADERS = {
        "credit_code": ("credit_code", "统一社会信用代码"),
        "name": ("name", "名称", "主体名称"),
        "kind": ("kind", "类型", "主体类型"),
        "county_code": ("county_code", "县区代码", "区县代码"),
        "county_name": ("county_name", "县区", "区县"),
        "village_collective": ("village_collective", "村集体"),
        "registered_on": ("registered_on", "成立日期"),
        "contact_name": ("contact_name", "联系人"),
        "contact_phone": ("contact_phone", "联系电话"),
    }
    KEY = ("credit_code",)

    credit_code: CreditCode
    name: Text128
    kind: Annotated[SupplierKind, BeforeValidator(_choice(SUPPLIER_KINDS))]
    county_code: RegionCode
    county_name: Text64
    village_collective: OptText128 = None
    registered_on: OptPastDate = None
    contact_name: OptText64 = None
    contact_phone: Annotated[Annotated[str, Field(pattern=r"^[0-9\-+ ]{7,20}$")] | None, Opt] = None


class HouseholdRow(ImportRow):
    HEADERS = {
        "cooperative_code": ("cooperative_code", "合作社信用代码", "合作社统一社会信用代码"),
        "member_no": ("member_no", "成员编号"),
        "head_name": ("head_name", "户主姓名", "户主"),
        "category": ("category", "农户类别", "类别"),
        "village": ("village", "村", "所在村"),
        "id_number": ("id_number", "身份证号", "身份证号码"),
        "phone": ("phone", "电话", "联系电话"),
        "members": ("members", "家庭人口"),
        "joined_on": ("joined_on", "入社日期"),
        "capital": ("capital", "出资额", "出资额(元)", "出资额（元）"),
        "reserve_share": ("reserve_share", "公积金份额", "公积金份额(元)", "公积金份额（元）"),
        "subsidy_share": ("subsidy_share", "补助量化份额", "补助量化份额(元)", "补助量化份额（元）"),
    }
    KEY = ("cooperative_code", "member_no")

    cooperative_code: CreditCode
    member_no: Annotated[str, Field(min_length=1, max_length=32)]
    head_name: Text64
    category: Annotated[HouseholdCategory, BeforeValidator(_choice(CATEGORIES))]
    village: Text64
    id_number: Annotated[Annotated[str, Field(pattern=r"^[0-9]{17}[0-9Xx]$")] | None, Opt] = None
    phone: Annotated[Annotated[str, Field(pattern=r"^[0-9\-+ ]{7,20}$")] | None, Opt] = None
    members: Annotated[int, Whole, Opt, Field(ge=1, le=30)] = 1
    joined_on: OptPastDate = None
    capital: Annotated[int, _money("member_account"), Opt] = 0
    reserve_share: Annotated[int, _money("member_account"), Opt] = 0
    subsidy_share: Annotated[int, _money("member_account"), Opt] = 0


class ProductRow(ImportRow):
    """One SKU per row; rows of the same product must agree on the product's fields."""

    HEADERS = {
        "spu_code": ("spu_code", "产品编码"),
        "name": ("name", "产品名称", "品名"),
        "category": ("category", "品类"),
        "supplier_code": ("supplier_code", "供应商信用代码", "供应商统一社会信用代码"),
        "sku_code": ("sku_code", "SKU编码", "规格编码"),
        "spec": ("spec", "规格"),
        "unit": ("unit", "单位"),
        "barcode": ("barcode", "条码", "商品条码", "条形码"),
        "retail_price": ("retail_price", "零售价", "零售价(元)", "零售价（元）"),
        "promo_price": ("promo_price", "促销活动价", "促销价", "促销活动价(元)", "促销活动价（元）"),
        "selling_points": ("selling_points", "产品卖点", "卖点"),
        "selection_evaluation": ("selection_evaluation", "选品评估"),
        "perishable": ("perishable", "生鲜"),
        "cert_body": ("cert_body", "认定机构"),
        "cert_number": ("cert_number", "认定编号", "认定批次号"),
        "cert_valid_from": ("cert_valid_from", "认定有效期起"),
        "cert_valid_to": ("cert_valid_to", "认定有效期止"),
        "cert_status": ("cert_status", "认定状态"),
    }
    KEY = ("sku_code",)
    PRODUCT_FIELDS: ClassVar[tuple[str, ...]] = (
        "name",
        "category",
        "supplier_code",
        "selling_points",
        "selection_evaluation",
        "perishable",
    )

    spu_code: Annotated[str, Field(min_length=1, max_length=32)]
    name: Text128
    category: Text32
    supplier_code: CreditCode
    sku_code: Annotated[str, Field(min_length=1, max_length=40)]
    spec: Text64
    unit: Annotated[str, Field(min_length=1, max_length=16)]
    barcode: OptBarcode = None
    retail_price: Annotated[int, _money("price"), Field(gt=0)]
    promo_price: Annotated[Annotated[int, Field(gt=0)] | None, _money("price"), Opt] = None
    selling_points: OptLongText = None
    selection_evaluation: OptLongText = None
    perishable: Annotated[bool, BeforeValidator(_bool)] = False
    cert_body: OptText128 = None
    cert_number: OptText64 = None
    cert_valid_from: OptDate = None
    cert_valid_to: OptDate = None
    cert_status: Annotated[CertificationStatus | None, Opt, BeforeValidator(_choice(CERT_STATUSES))] = None

    @model_validator(mode="after")
    def _check(self) -> ProductRow:
        if self.promo_price is not None and self.promo_price > self.retail_price:
            raise ValueError("promo_price: the promotion price is above the retail price")
        cert = (self.cert_body, self.cert_number, self.cert_valid_from, self.cert_valid_to)
        if any(v is not None for v in cert) and any(v is None for v in cert):
            raise ValueError("cert_number: a certificate needs body, number, valid from and valid to")
        if self.cert_valid_from and self.cert_valid_to and self.cert_valid_to < self.cert_valid_from:
            raise ValueError("cert_valid_to: the certificate ends before it starts")
        return self


class LotRow(ImportRow):
    """One household's delivery into a lot per row; a lot with no households has one row."""

    HEADERS = {
        "lot_code": ("lot_code", "批次号", "收购批次号"),
        "sku_code": ("sku_code", "SKU编码", "规格编码"),
        "receiver_code": ("receiver_code", "收购主体信用代码", "收购主体统一社会信用代码"),
        "received_on": ("received_on", "收购日期"),
        "member_no": ("member_no", "成员编号"),
        "quantity": ("quantity", "数量"),
        "grade": ("grade", "等级"),
        "guaranteed_price": ("guaranteed_price", "保底价", "保底价(元)", "保底价（元）"),
        "harvested_on": ("harvested_on", "采收日期"),
        "inspection_agency": ("inspection_agency", "检测机构", "检验机构"),
        "inspected_on": ("inspected_on", "检测日期", "检验日期"),
        "inspection_result": ("inspection_result", "检测结果", "检验结果"),
    }
    KEY = ("lot_code", "member_no")
    # The lot's own fields: every row of a lot gives the same (bangfu.importing.loaders.load_lots).
    LOT_FIELDS: ClassVar[tuple[str, ...]] = (
        "sku_code",
        "receiver_code",
        "received_on",
        "harvested_on",
        "inspection_agency",
        "inspected_on",
        "inspection_result",
    )

    lot_code: Annotated[str, Field(min_length=1, max_length=40)]
    sku_code: Annotated[str, Field(min_length=1, max_length=40)]
    receiver_code: CreditCode
    received_on: PastDate
    member_no: OptText32 = None
    quantity: Annotated[int, Whole, Field(gt=0, le=MAX_INT)]
    grade: Annotated[str, Opt, Field(pattern=r"^[A-Ea-e特一二三]$")] = "A"
    guaranteed_price: Annotated[int, _money("price"), Opt] = 0
    harvested_on: OptPastDate = None
    inspection_agency: OptText128 = None
    inspected_on: OptPastDate = None
    inspection_result: OptText64 = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> LotRow:
        if self.harvested_on is not None and self.harvested_on > self.received_on:
            raise ValueError("harvested_on: the harvest cannot come after the delivery (received_on)")
        if (self.inspected_on is not None or self.inspection_result is not None) and not self.inspection_agency:
            raise ValueError("inspection_agency: name who inspected the lot when giving an inspection")
        return self


class UnitRow(ImportRow):
    HEADERS = {
        "code": ("code", "单位编码"),
        "name": ("name", "单位名称"),
        "unit_type": ("unit_type", "单位类型", "类型"),
        "region_code": ("region_code", "地区代码"),
        "region_name": ("region_name", "地区"),
        "parent_code": ("parent_code", "上级单位编码"),
        "staff_count": ("staff_count", "职工人数"),
        "year": ("year", "年度"),
        "target": ("target", "预留份额目标", "预留份额目标(元)", "预留份额目标（元）"),
        "canteen_budget": ("canteen_budget", "食堂采购预算", "食堂采购预算(元)", "食堂采购预算（元）"),
    }
    KEY = ("code", "year")

    code: Annotated[str, Field(min_length=1, max_length=32)]
    name: Text128
    unit_type: Annotated[UnitType, BeforeValidator(_choice(UNIT_TYPES))]
    region_code: Annotated[Annotated[str, Field(pattern=r"^[0-9]{6}([0-9]{3})?([0-9]{3})?$")] | None, Opt] = None
    region_name: OptText64 = None
    parent_code: OptText32 = None
    staff_count: OptCount = None
    year: Annotated[Annotated[int, Field(ge=2015, le=2100)] | None, Whole, Opt] = None
    target: Annotated[int | None, _money("unit_budget"), Opt] = None
    canteen_budget: Annotated[int | None, _money("unit_budget"), Opt] = None

    @model_validator(mode="after")
    def _check(self) -> UnitRow:
        if (self.target is not None or self.canteen_budget is not None) and self.year is None:
            raise ValueError("year: a reserved-share target needs its year")
        if self.region_code and not self.region_name:
            raise ValueError("region_name: a region code needs the region's name")
        return self


def _local_time(value: Any) -> Any:
    """``2026-04-19 19:00:00`` as the platforms' exports write it (Beijing time) -> aware UTC."""
    if value is None or isinstance(value, datetime):
        return value
    text = str(value).strip().replace("/", "-")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time like 2026-04-19 19:00:00") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    return parsed.astimezone(UTC)


LocalTime = Annotated[datetime, BeforeValidator(_local_time), AfterValidator(_time_not_future)]
OptLocalTime = Annotated[datetime | None, BeforeValidator(_local_time), Opt, AfterValidator(_time_not_future)]


class SessionRow(ImportRow):
    """A live-session export (直播复盘, as 电商罗盘 exports it) for rooms without API access.

    One row per minute of a session (the minute-trend export); the session's own columns repeat
    on every row and must agree. A row may also name a product explained (讲解) in that span.
    An optional campaign code (活动码: a self-built mall session's link / QR code) is stored on the
    session, so orders carrying it are attributed to it (confidence ``link``); one code, one session.
    """

    HEADERS = {
        "platform": ("platform", "平台"),
        "shop_id": ("shop_id", "店铺ID", "店铺编号"),
        "room_id": ("room_id", "直播间ID", "场次ID"),
        "author_id": ("author_id", "主播ID", "达人ID"),
        "host_name": ("host_name", "主播", "主播昵称"),
        "title": ("title", "直播标题", "标题"),
        "started_at": ("started_at", "开播时间"),
        "ended_at": ("ended_at", "下播时间"),
        "views": ("views", "观看次数"),
        "unique_viewers": ("unique_viewers", "观看人数"),
        "peak_online": ("peak_online", "最高在线人数"),
        "total_watch_seconds": ("total_watch_seconds", "总观看时长(秒)", "总观看时长（秒）"),
        "minute_at": ("minute_at", "时间", "分钟"),
        "online": ("online", "在线人数"),
        "minute_views": ("minute_views", "进入直播间人次"),
        "new_buyers": ("new_buyers", "新增成交人数"),
        "minute_gmv": ("minute_gmv", "成交金额", "成交金额(元)", "成交金额（元）"),
        "explained_item_id": ("explained_item_id", "讲解商品ID"),
        "explain_start": ("explain_start", "讲解开始时间"),
        "explain_end": ("explain_end", "讲解结束时间"),
        "campaign_code": ("campaign_code", "活动码"),
    }
    KEY = ("platform", "shop_id", "room_id", "minute_at")
    SESSION_FIELDS: ClassVar[tuple[str, ...]] = (
        "author_id",
        "host_name",
        "title",
        "started_at",
        "ended_at",
        "views",
        "unique_viewers",
        "peak_online",
        "total_watch_seconds",
        "campaign_code",
    )

    platform: Annotated[str, Field(pattern=r"^(douyin|kuaishou|taobao|tmall|jd|youzan|selfmall)$")]
    shop_id: Annotated[str, Field(min_length=1, max_length=64)]
    room_id: Annotated[str, Field(min_length=1, max_length=64)]
    author_id: Annotated[str, Field(min_length=1, max_length=64)]
    host_name: OptText64 = None
    title: OptText255 = None
    started_at: LocalTime
    ended_at: OptLocalTime = None
    views: OptCount = None
    unique_viewers: OptCount = None
    peak_online: OptCount = None
    total_watch_seconds: OptCount = None
    minute_at: OptLocalTime = None
    online: OptCount = None
    minute_views: OptCount = None
    new_buyers: OptCount = None
    minute_gmv: Annotated[int | None, _money("minute_gmv"), Opt] = None
    explained_item_id: OptText64 = None
    explain_start: OptLocalTime = None
    explain_end: OptLocalTime = None
    # Self-built mall: the session's link / QR campaign code (orders carrying it are attributed to it).
    campaign_code: OptText64 = None

    @model_validator(mode="after")
    def _check(self) -> SessionRow:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at: the session ends before it starts")
        if self.explained_item_id and (self.explain_start is None or self.explain_end is None):
            raise ValueError("explain_start: an explained product needs its start and end times")
        if self.explain_start and self.explain_end and self.explain_end < self.explain_start:
            raise ValueError("explain_end: the explanation ends before it starts")
        return self


class ListingMapRow(ImportRow):
    """A listing mapped by hand (商品对应): the shop (its id or exact name), the platform's item
    and SKU ids, and the hub SKU code; ``<清空>`` / ``<clear>`` in ``sku_code`` unmaps."""

    HEADERS = {
        "shop": ("shop", "店铺", "店铺ID"),
        "platform_item_id": ("platform_item_id", "平台商品ID", "商品ID"),
        "platform_sku_id": ("platform_sku_id", "平台SKU ID", "平台SKUID"),
        "sku_code": ("sku_code", "SKU编码", "中台SKU编码"),
    }
    KEY = ("shop", "platform_item_id", "platform_sku_id")

    shop: Text128
    platform_item_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.:-]+$")]
    platform_sku_id: Annotated[Annotated[str, Field(max_length=64, pattern=r"^[0-9A-Za-z_.:-]*$")] | None, Opt] = None
    sku_code: OptText64 = None


MAX_SALE_QUANTITY = 100_000  # units of one product on one receipt


class SalesRow(ImportRow):
    """One line of a till's, vending machine's or platform's sales export (``bangfu import sales``).

    Rows with the same receipt number are the lines of one order (one receipt, one order, keyed
    by shop and receipt number), and repeat the receipt's own columns (time, payment, unit).
    A line names its product by SKU code or barcode (or both, which must agree); a receipt lists
    each product once. Money: the line's amount is quantity x unit price - discount, to the fen:
    an amount column, when present, must say exactly that (a receipt's rounding, 抹零, goes into
    the discount of one of its lines).
    """

    HEADERS = {
        "receipt_no": ("receipt_no", "小票号", "单号", "交易号", "流水号"),
        "sold_at": ("sold_at", "销售时间", "交易时间"),
        "sku_code": ("sku_code", "商品编码", "SKU编码", "规格编码"),
        "barcode": ("barcode", "条码", "商品条码", "条形码"),
        "title": ("title", "商品名称", "品名"),
        "quantity": ("quantity", "数量"),
        "unit_price": ("unit_price", "单价", "单价(元)", "单价（元）"),
        "amount": ("amount", "金额", "金额(元)", "金额（元）", "实收金额"),
        "discount": ("discount", "优惠", "优惠(元)", "优惠（元）", "优惠金额"),
        "payment": ("payment", "支付方式"),
        "unit_code": ("unit_code", "采购单位", "采购单位编码"),
    }
    KEY = ("receipt_no", "sku_code", "barcode")
    ONE_OF: ClassVar[tuple[tuple[str, ...], ...]] = (("sku_code", "barcode"),)
    RECEIPT_FIELDS: ClassVar[tuple[str, ...]] = ("sold_at", "payment", "unit_code")

    receipt_no: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z_.:/#-]+$")]
    sold_at: LocalTime
    sku_code: Annotated[Annotated[str, Field(max_length=40)] | None, Opt] = None
    barcode: OptBarcode = None
    title: OptText255 = None
    quantity: Annotated[int, Whole, Field(gt=0, le=MAX_SALE_QUANTITY)]
    unit_price: Annotated[int, _money("price"), Field(gt=0)]
    amount: Annotated[int | None, _money("sale"), Opt] = None
    discount: Annotated[int, _money("sale"), Opt] = 0
    payment: OptText32 = None
    unit_code: OptText32 = None

    @property
    def paid(self) -> int:
        """The line's amount in fen: quantity x unit price - discount."""
        return self.quantity * self.unit_price - self.discount

    @model_validator(mode="after")
    def _check(self) -> SalesRow:
        if self.sku_code is None and self.barcode is None:
            raise ValueError("sku_code: give the SKU code or the barcode of the product")
        gross = self.quantity * self.unit_price
        if self.discount > gross:
            raise ValueError(
                f"discount: {fen_to_yuan_str(self.discount)} is more than quantity x unit price "
                f"({fen_to_yuan_str(gross)})"
            )
        if self.amount is not None and self.amount != gross - self.discount:
            raise ValueError(
                f"amount: {fen_to_yuan_str(self.amount)} is not quantity x unit price - discount "
                f"= {self.quantity} x {fen_to_yuan_str(self.unit_price)} - {fen_to_yuan_str(self.discount)} "
                f"= {fen_to_yuan_str(gross - self.discount)}"
            )
        return self


CERT_SUBJECTS = {
    "product": "product",
    "产品": "product",
    "产品认定": "product",
    "supplier": "supplier",
    "经营主体": "supplier",
    "主体": "supplier",
    "经营主体认定": "supplier",
}


class CertificateRow(ImportRow):
    """One certificate of the county's official list (``bangfu certificates import``): a product's
    (消费帮扶产品认定) or a supplier's (经营主体认定, ``subject`` = supplier)."""

    HEADERS = {
        "subject": ("subject", "认定类型", "类型"),
        "product_code": ("product_code", "产品编码"),
        "product_name": ("product_name", "产品名称", "品名"),
        "category": ("category", "品类", "产品类别"),
        "supplier_code": ("supplier_code", "统一社会信用代码", "供应商信用代码", "经营主体信用代码"),
        "supplier_name": ("supplier_name", "经营主体", "经营主体名称", "供应商", "企业名称"),
        "number": ("number", "认定编号", "证书编号"),
        "body": ("body", "认定机构", "认定单位"),
        "batch": ("batch", "认定批次", "公告文号", "批次号"),
        "valid_from": ("valid_from", "有效期起", "认定有效期起"),
        "valid_to": ("valid_to", "有效期止", "认定有效期止"),
        "status": ("status", "状态", "认定状态"),
    }
    KEY = ("subject", "number")
    ONE_OF: ClassVar[tuple[tuple[str, ...], ...]] = (("supplier_code", "supplier_name"),)

    subject: Annotated[str, BeforeValidator(_choice(CERT_SUBJECTS))] = "product"
    product_code: OptText32 = None
    product_name: OptText128 = None
    category: OptText32 = None
    supplier_code: Annotated[CreditCode | None, Opt] = None
    supplier_name: OptText128 = None
    number: Text64
    body: Text128
    batch: OptText64 = None
    valid_from: Annotated[date, AfterValidator(_in_horizon)]
    valid_to: Annotated[date, AfterValidator(_in_horizon)]
    status: Annotated[CertificationStatus | None, Opt, BeforeValidator(_choice(CERT_STATUSES))] = None

    @model_validator(mode="after")
    def _check(self) -> CertificateRow:
        if self.supplier_code is None and self.supplier_name is None:
            raise ValueError("supplier_code: give the supplier's credit code or its name")
        if self.subject == "product" and self.product_code is None and self.product_name is None:
            raise ValueError("product_name: a product certificate names its product (code or name)")
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to: the certificate ends before it starts")
        return self


ROW_MODELS: dict[str, type[ImportRow]] = {
    "cooperatives": CooperativeRow,
    "households": HouseholdRow,
    "products": ProductRow,
    "lots": LotRow,
    "units": UnitRow,
    "sessions": SessionRow,
    "listings": ListingMapRow,
    "sales": SalesRow,
    "certificates": CertificateRow,
}


def header_index(model: type[ImportRow]) -> dict[str, str]:
    """Normalised header text -> field name, for every header the model accepts."""
    index: dict[str, str] = {}
    for field_name, headers in model.HEADERS.items():
        for header in headers:
            index[normalise_header(header)] = field_name
    return index


def normalise_header(text: str) -> str:
    return re.sub(r"[\s_]+", "", text).lower().replace("（", "(").replace("）", ")")
