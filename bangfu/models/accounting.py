"""The accounting pipeline's own state: attribution, per-line progress, refunds folded in,
reconciliation verdicts and year-end surplus distributions.

Journals and postings (``bangfu.models.ledger``) are the money; these tables say which source
events have been turned into journals, so a task that runs twice (or on two workers at once)
finds the work done and does nothing. Unlike the ledger they may be updated: an attribution is
redone when a live session arrives after its orders, and ``line_accounting`` moves forward as
a line's inputs change.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.enums import AttributionConfidence
from bangfu.models.base import Base, Fen, IdMixin, IdType, JSONDoc, enum_column, utcnow


class LineAttribution(IdMixin, Base):
    """Which live session (and host) sold an order line, and how sure the hub is.

    ``rule`` names the evidence: ``room_id``, ``author_id`` (exact), ``campaign_code`` (link),
    ``explanation`` or ``after_session`` (inferred), ``none``. Redone (updated in place) when a
    session arrives after its orders; ``line_version`` is the order-line version it looked at.
    """

    __tablename__ = "line_attributions"
    __table_args__ = (
        # Re-attribution (workers/attribution.py) finds the lines a new or changed session could
        # take by shop and paid time, or by the order's campaign code, without touching orders.
        Index("ix_line_attributions_shop_paid", "shop_id", "paid_at"),
        Index("ix_line_attributions_campaign", "campaign_code"),
        Index("ix_line_attributions_attributed_at", "attributed_at"),
    )

    order_line_id: Mapped[int] = mapped_column(IdType, ForeignKey("order_lines.id"), unique=True)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("live_sessions.id"), index=True)
    host_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("hosts.id"), index=True)
    explanation_window_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("explanation_windows.id"))
    confidence: Mapped[AttributionConfidence] = enum_column(AttributionConfidence)
    rule: Mapped[str] = mapped_column(String(24))
    line_version: Mapped[int] = mapped_column(Integer)
    attributed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Copied from the order when attributed (for re-attribution lookups; see __table_args__).
    paid_at: Mapped[datetime | None] = mapped_column()
    campaign_code: Mapped[str | None] = mapped_column(String(64))


class LineChange(IdMixin, Base):
    """A stored change that may have made an order line due for a pipeline stage: the stages'
    work queue, so a pass reads what changed instead of every line ever stored.

    Written only by database triggers (migration 0009), in the transaction of the change
    itself, so no change is ever missed: a new order line, or a new version, SKU or quantity of
    one, queues the line for ``attribute``, ``allocate`` and ``post``; so does a change of its
    order's payment or status; a new settlement line queues the lines of its order for
    ``post``; a SKU's first lot queues its undrawn lines for ``allocate``. A stage deletes a
    row only once its line is no longer due for that stage (a line another worker holds, or one
    waiting for stock, keeps its row), so a change that arrives while a stage runs leaves a row
    of its own behind. ``bangfu verify`` checks that every due line is queued. Each row names
    the line's SKU when it was queued (migration 0037), so the lot draws count and read a SKU's
    queued lines through a partial index instead of joining every queued line.

    On PostgreSQL the primary key is ``(stage, id)`` and the two plain indexes below are not made
    (migration 0053: one B-tree entry per queued row instead of three). Every reader names the
    stage, so a query or delete by row id says which stage's rows it means.
    """

    __tablename__ = "line_changes"
    __table_args__ = (
        # SQLite only; PostgreSQL's primary key is (stage, id) (migration 0053).
        Index("ix_line_changes_stage_id", "stage", "id"),
        # The lot draws count and read a SKU's queued lines (migration 0037).
        Index(
            "ix_line_changes_allocate_sku",
            "sku_id",
            postgresql_where=text("stage = 'allocate'"),
            sqlite_where=text("stage = 'allocate'"),
        ),
    )

    stage: Mapped[str] = mapped_column(String(16))  # attribute | allocate | post
    order_line_id: Mapped[int] = mapped_column(IdType, index=True)  # index: SQLite only (0053)
    # The line's SKU when the change was queued (NULL for a bill's ``post`` rows); a change of
    # the SKU queues the line again with the new one.
    sku_id: Mapped[int | None] = mapped_column(IdType)


class LineAccounting(IdMixin, Base):
    """Where one order line stands in the pipeline (attribute -> allocate -> post).

    ``input_rev`` is bumped by every stage that changes an input of the line's journals (a new
    line version, an attribution that changes the host, a lot draw, a refund, a bill line);
    posting records the ``input_rev`` it read as ``posted_rev``. A line is due for posting while
    ``posted_rev < input_rev``, so an input changed during a posting is never lost.
    ``status``: ``pending``, ``posted``, ``waiting_lots`` (no stock in any lot yet),
    ``not_split`` (supplier is not a cooperative: the net goes to the supplier), ``failed``
    (``reason`` says why; retried on the next run).
    """

    __tablename__ = "line_accounting"
    __table_args__ = (
        Index("ix_line_accounting_due", "status", "shop_id"),
        # The lines due for posting: the next batch is read without skipping posted lines.
        Index(
            "ix_line_accounting_due_rev",
            "id",
            postgresql_where=text("posted_rev < input_rev"),
            sqlite_where=text("posted_rev < input_rev"),
        ),
    )

    order_line_id: Mapped[int] = mapped_column(IdType, ForeignKey("order_lines.id"), unique=True)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    line_version: Mapped[int] = mapped_column(Integer, default=0)
    input_rev: Mapped[int] = mapped_column(Integer, default=1)
    posted_rev: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    fees_source: Mapped[str | None] = mapped_column(String(16))  # estimate | bill
    bill_lines: Mapped[int] = mapped_column(Integer, default=0)  # settlement lines folded in
    posted_fingerprint: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Posting's own state (workers/posting.py): what the line's ledger holds is exactly
    # ``bangfu.ledger.refunded_legs(desired_legs, refunded_num / refunded_den)``, so "already
    # posted for the line" is read here, never summed from the journals (verify checks both agree).
    desired_legs: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # full journal last posted, fen by account
    sale_version: Mapped[int | None] = mapped_column(Integer)  # line version in the sale journal's key
    journal_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # sale + true-ups posted
    refunded_num: Mapped[int] = mapped_column(Fen, default=0, server_default="0")  # refunded part of the line
    refunded_den: Mapped[int] = mapped_column(Fen, default=1, server_default="1")
    checked_rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # rev a failed try looked at


class LineHouseholdCredit(Base):
    """What one order line's journals (sale, true-ups, refunds) credited to one household, net,
    in fen (positive: credited): the sum of the legs on the household's accounts (rebate, bonus,
    guarantee recovered), negated. A pre-aggregate of the ledger kept so pages need not re-sum
    postings: written by ``bangfu.ledger.post`` in the transaction that posts each journal
    (:func:`bangfu.line_credits.credit_households`), backfilled from the ledger by migration
    0016, and equal to the ledger's figure (``bangfu.line_credits.credits_differing_from_ledger``).
    A household a line's journals touched keeps its row when the figure returns to zero (a full
    refund), as the ledger does.
    """

    __tablename__ = "line_household_credits"

    order_line_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    household_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    credit_fen: Mapped[int] = mapped_column(Fen)


class CooperativeLineFact(Base):
    """One order line's line journals (sale, true-ups, refunds) as one cooperative's dashboard
    reads them, summed per Asia/Shanghai day of the journals, in fen: every leg of each journal
    that posts to the cooperative's own accounts (retention or village collective), booked by the
    role of its account (``bangfu.queries.cooperatives.Figures``: receivable as sales or refunds,
    credits positive), and ``to_non_members``, the households' legs that went to households of
    other cooperatives. A pre-aggregate of the ledger kept so the cooperative pages need not
    re-sum postings: written by ``bangfu.ledger.post`` in the transaction that posts each
    journal (:func:`bangfu.line_credits.record_cooperative_facts`), backfilled from the ledger by
    migration 0019, and equal to the ledger's figures
    (``bangfu.line_credits.facts_differing_from_ledger``).
    """

    __tablename__ = "cooperative_line_facts"
    # A line's rows, for the triggers and the line's earlier days (migration 0036).
    __table_args__ = (Index("ix_cooperative_line_facts_line", "order_line_id", "cooperative_id", "day"),)

    cooperative_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    order_line_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    sales: Mapped[int] = mapped_column(Fen)
    refunds: Mapped[int] = mapped_column(Fen)
    platform_fee: Mapped[int] = mapped_column(Fen)
    payment_fee: Mapped[int] = mapped_column(Fen)
    logistics: Mapped[int] = mapped_column(Fen)
    commission: Mapped[int] = mapped_column(Fen)
    retention: Mapped[int] = mapped_column(Fen)
    collective: Mapped[int] = mapped_column(Fen)
    guaranteed: Mapped[int] = mapped_column(Fen)
    rebate: Mapped[int] = mapped_column(Fen)
    bonus: Mapped[int] = mapped_column(Fen)
    other: Mapped[int] = mapped_column(Fen)
    to_non_members: Mapped[int] = mapped_column(Fen)


class CooperativeDayGroup(IdMixin, Base):
    """``cooperative_line_facts`` summed per cooperative and day by what the dashboard groups by
    (``bangfu.cooperative_groups``, migration 0036): the line's product (through its SKU), shop
    and live session, its lot key (0: no draws, the lot when it drew from one, -1 when from
    several, then ``split_line`` is the line, else 0) and ``prev_day``, the line's latest earlier
    day in the cooperative's facts (NULL: none), so a period counts each line once: on its rows
    whose ``prev_day`` is NULL or before the period. ``title`` is the least title of the lines
    (the label of those without a product), ``lines`` the number of lines. Recomputed whole per
    (cooperative, day) from the facts; a (cooperative, day) with a row in
    ``cooperative_group_dirty`` is read from the facts instead."""

    __tablename__ = "cooperative_day_groups"
    __table_args__ = (Index("ix_cooperative_day_groups_day", "cooperative_id", "day"),)

    cooperative_id: Mapped[int] = mapped_column(IdType)
    day: Mapped[date] = mapped_column(Date)
    product_id: Mapped[int | None] = mapped_column(IdType)
    shop_id: Mapped[int | None] = mapped_column(IdType)  # NULL: the order line is gone
    session_id: Mapped[int | None] = mapped_column(IdType)
    lot_id: Mapped[int] = mapped_column(IdType)
    split_line: Mapped[int] = mapped_column(IdType)
    prev_day: Mapped[date | None] = mapped_column(Date)
    title: Mapped[str | None] = mapped_column(String(255))
    lines: Mapped[int] = mapped_column(Fen)
    sales: Mapped[int] = mapped_column(Fen)
    refunds: Mapped[int] = mapped_column(Fen)
    platform_fee: Mapped[int] = mapped_column(Fen)
    payment_fee: Mapped[int] = mapped_column(Fen)
    logistics: Mapped[int] = mapped_column(Fen)
    commission: Mapped[int] = mapped_column(Fen)
    retention: Mapped[int] = mapped_column(Fen)
    collective: Mapped[int] = mapped_column(Fen)
    guaranteed: Mapped[int] = mapped_column(Fen)
    rebate: Mapped[int] = mapped_column(Fen)
    bonus: Mapped[int] = mapped_column(Fen)
    other: Mapped[int] = mapped_column(Fen)
    to_non_members: Mapped[int] = mapped_column(Fen)


class CooperativeDayTotal(Base):
    """``cooperative_line_facts`` summed per cooperative and day (the list's and the trend's
    figures), recomputed with ``cooperative_day_groups`` by the same markers (migration 0036)."""

    __tablename__ = "cooperative_day_totals"

    cooperative_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sales: Mapped[int] = mapped_column(Fen)
    refunds: Mapped[int] = mapped_column(Fen)
    platform_fee: Mapped[int] = mapped_column(Fen)
    payment_fee: Mapped[int] = mapped_column(Fen)
    logistics: Mapped[int] = mapped_column(Fen)
    commission: Mapped[int] = mapped_column(Fen)
    retention: Mapped[int] = mapped_column(Fen)
    collective: Mapped[int] = mapped_column(Fen)
    guaranteed: Mapped[int] = mapped_column(Fen)
    rebate: Mapped[int] = mapped_column(Fen)
    bonus: Mapped[int] = mapped_column(Fen)
    other: Mapped[int] = mapped_column(Fen)
    to_non_members: Mapped[int] = mapped_column(Fen)


class CooperativeGroupDirty(IdMixin, Base):
    """A (cooperative, day) whose ``cooperative_day_groups`` rows may be stale: written by
    triggers (never by the application), removed by the refresh that read it; its
    ``cooperative_day_totals`` row too."""

    __tablename__ = "cooperative_group_dirty"
    __table_args__ = (Index("ix_cooperative_group_dirty_day", "cooperative_id", "day"),)

    cooperative_id: Mapped[int] = mapped_column(IdType)
    day: Mapped[date] = mapped_column(Date)


class HouseholdDailyIncome(Base):
    """What the ledger credited one household's accounts on one Asia/Shanghai day, net, in fen
    (positive: credited): ``trade_fen`` from line journals (sale, true-up, refund), ``surplus_fen``
    from surplus returns; the ``household-income`` report's sums, per day. A pre-aggregate of the
    ledger the cooperative pages read for *paid to households* and *households reached*: written
    by ``bangfu.ledger.post`` in the transaction that posts each journal
    (:func:`bangfu.line_credits.record_household_income`), backfilled by migration 0019, and equal
    to the ledger's figures (``bangfu.line_credits.income_differing_from_ledger``).
    """

    __tablename__ = "household_daily_income"

    household_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    trade_fen: Mapped[int] = mapped_column(Fen)
    surplus_fen: Mapped[int] = mapped_column(Fen)


class HouseholdLineDay(Base):
    """One household's income legs of one order line on one Asia/Shanghai day, in fen (positive:
    credited): the household statement's sums (``bangfu.queries.households.statement``), kept per
    (household, day, line) so a statement reads the household's rows of the period's days
    instead of its postings scattered over the ledger. ``order_line_id`` is the line of a trade
    journal (sale, true-up, refund), 0 for a journal of no line (the year-end surplus return).
    ``journals``: how many income journals (sale, true-up, refund, surplus) post to the
    household's accounts (``household:<id>``, ``:bonus``, ``:advance``); a journal has one day
    and one line, so the counts of a month's rows add up to its distinct journals.
    ``guaranteed_fen``, ``rebate_fen``, ``bonus_fen``: the sale and true-up legs on the advance,
    rebate and bonus accounts; ``refunds_fen``: every household leg of refund journals;
    ``surplus_fen``: of surplus returns, all legs negated as the statement's ``Legs``. Day, not
    month: any whole-day period (every console period) is answered from it. A pre-aggregate of
    the ledger: written by ``bangfu.ledger.post`` in the transaction that posts each journal
    (:func:`bangfu.line_credits.credit_households`), backfilled by migration 0047, and equal to the
    ledger's figures (``bangfu.line_credits.household_line_days_differing_from_ledger``).
    ``sku_id``: the line's SKU (``order_lines.sku_id``, set when the line is resolved; only
    resolved lines are posted), NULL for line 0, so the statement sums a month's rows per SKU and
    names them from the SKUs, not from each line (migration 0052;
    ``bangfu.line_credits.household_line_day_skus_differing_from_lines`` is the check).
    """

    __tablename__ = "household_line_days"

    household_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    order_line_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    journals: Mapped[int] = mapped_column(Fen)
    guaranteed_fen: Mapped[int] = mapped_column(Fen)
    rebate_fen: Mapped[int] = mapped_column(Fen)
    bonus_fen: Mapped[int] = mapped_column(Fen)
    refunds_fen: Mapped[int] = mapped_column(Fen)
    surplus_fen: Mapped[int] = mapped_column(Fen)
    sku_id: Mapped[int | None] = mapped_column(IdType)


class HouseholdMonthlyIncome(Base):
    """``household_daily_income`` summed per Asia/Shanghai month (``month``: its first day): what
    the ledger credited one household's accounts in the month, net, in fen (``trade_fen`` from
    line journals, ``surplus_fen`` from surplus returns). The county overview's households-driven
    figures read a period's whole months here and its partial edge months from the daily rows
    (:func:`bangfu.reports.households.income_by_household`): per household and month over two
    months that was about 180,000 day rows grouped on each view at 1,000,000 lines, against about
    6,000 rows here. Written by ``bangfu.ledger.post`` with the daily rows, in the transaction that
    posts each journal (:func:`bangfu.line_credits.credit_households`), backfilled by migration
    0048, and equal to the ledger's figures
    (``bangfu.line_credits.monthly_income_differing_from_ledger``).
    """

    __tablename__ = "household_monthly_income"

    household_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    trade_fen: Mapped[int] = mapped_column(Fen)
    surplus_fen: Mapped[int] = mapped_column(Fen)


class CooperativeHouseholdVolume(Base):
    """One household's transaction volume with one cooperative in one Asia/Shanghai month, in
    fen (positive: credited): what the line journals (sale, true-up, refund) that post to the
    cooperative's own accounts (retention or village collective) credited to the household's
    rebate (``household:<id>``) and guaranteed-price (``household:<id>:advance``) accounts, the
    legs negated; the bonus is aid, not volume. ``month`` is the month's first day. The volume
    the year-end surplus splits the patronage return by (``workers.surplus.compute_surplus``),
    summed over the year's twelve months. A pre-aggregate of the ledger: written by
    ``bangfu.ledger.post`` in the transaction that posts each journal
    (:func:`bangfu.line_credits.credit_households`), backfilled by migration 0044, and equal to the
    ledger's figures (``bangfu.line_credits.volumes_differing_from_ledger``).
    """

    __tablename__ = "cooperative_household_volumes"

    # Keyed month before household: the surplus reads one cooperative's months of one year.
    cooperative_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    household_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    volume_fen: Mapped[int] = mapped_column(Fen)


class CooperativeForeignRetention(Base):
    """What the line journals that post to one cooperative's own accounts credited to *other*
    cooperatives' retention accounts, per Asia/Shanghai month (its first day), in fen (positive:
    credited). ``cooperative_line_facts.retention`` books every retention leg of a cooperative's
    journals, so for a journal posting to two cooperatives (a true-up moving a line from one
    cooperative to another) it counts the other's leg too; the year-end surplus subtracts these
    rows to get the cooperative's own retention account (``workers.surplus.kept_figures``). Rows
    exist only for such journals. Written by ``bangfu.ledger.post`` in the posting transaction
    (:func:`bangfu.line_credits.credit_households`), backfilled by migration 0044, and equal to the
    ledger's figures (``bangfu.line_credits.foreign_retention_differing_from_ledger``).
    """

    __tablename__ = "cooperative_foreign_retention"

    cooperative_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    retention_fen: Mapped[int] = mapped_column(Fen)


class RefundPosting(IdMixin, Base):
    """A refund folded into its line's journals, once (``refund_id`` unique).

    ``journal_id`` is NULL when the refund was too small to move a single fen (the next refund
    of the line catches it up).
    """

    __tablename__ = "refund_postings"
    __table_args__ = (CheckConstraint("returned_units >= 0", name="returned_units_not_negative"),)

    refund_id: Mapped[int] = mapped_column(IdType, ForeignKey("refunds.id"), unique=True)
    order_line_id: Mapped[int] = mapped_column(IdType, ForeignKey("order_lines.id"), index=True)
    journal_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journals.id"))
    amount_fen: Mapped[int] = mapped_column(Fen)
    returned_units: Mapped[int] = mapped_column(Integer, default=0)  # units put back into lots
    occurred_at: Mapped[datetime] = mapped_column()
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReconciliationResult(IdMixin, Base):
    """One order's settlement verdict for a shop: the latest reconcile run's finding.

    ``kind``: ``matched``, ``amount_differs`` (``differences`` holds fen by fee type),
    ``payout_missing`` (no payout N days after the order completed), ``unknown_order`` (a payout
    for an order the hub does not have), ``pending`` (no payout yet, not overdue). ``fee_basis``
    says where the expected fees came from: ``bill`` (already folded into the ledger), ``ledger``
    or ``estimate`` (see ``workers/reconcile.py``). ``resolved_at`` is set by an operator clearing
    it and cleared again when a later run reaches a different verdict.
    """

    __tablename__ = "reconciliation_results"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id"),
        Index("ix_reconciliation_results_shop_period", "shop_id", "period", "kind"),
    )

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"))
    platform_order_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("orders.id"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM of the order's payment (or payout)
    kind: Mapped[str] = mapped_column(String(24))
    expected_fen: Mapped[int | None] = mapped_column(Fen)
    actual_fen: Mapped[int | None] = mapped_column(Fen)
    differences: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    fee_basis: Mapped[str | None] = mapped_column(String(16))
    expected_by_type: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # fen per type, the bill's sign
    actual_by_type: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # the bill's lines summed per type
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)


EXCEPTION_STATES = ("open", "accepted", "resolved", "reopened")


class ReconciliationException(IdMixin, Base):
    """A reconciliation exception an operator works through: one per (shop, platform order).

    Opened by a reconcile run that finds the order ``amount_differs``, ``payout_missing`` or
    ``unknown_order``. ``state``: ``open``; ``accepted`` (the difference stands, for ``reason``);
    ``resolved`` (the cause was dealt with, or a later run matched the order); ``reopened`` (a
    person reopened it, or a run found a different verdict after it was accepted or resolved).
    ``kind`` and ``differences`` are the verdict the current state was reached on. Every change
    appends a :class:`ReconciliationEvent` (who and when); this row is only the latest state.
    Keyed by order number, not by ``reconciliation_results.id``: an unknown order's verdict row
    is replaced when the order arrives, and its exception goes on.
    """

    __tablename__ = "reconciliation_exceptions"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id"),
        Index("ix_reconciliation_exceptions_state", "state", "shop_id"),
        CheckConstraint("state IN ('open', 'accepted', 'resolved', 'reopened')", name="state_known"),
    )

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"))
    platform_order_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(24))
    differences: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    reason: Mapped[str | None] = mapped_column(Text)  # the latest acceptance reason or note
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))  # None: a reconcile run


class ReconciliationEvent(IdMixin, Base):
    """One step of an exception's history, append-only (the application role may not update or
    delete it, ``bangfu.grants``): ``action`` ``opened``, ``changed`` (a run found other amounts
    while open), ``accepted``, ``resolved`` or ``reopened``; ``state`` after it; ``user_id`` who
    (None: the reconcile run); ``reason``; the verdict (``kind``, ``differences``) it saw."""

    __tablename__ = "reconciliation_events"
    __table_args__ = (Index("ix_reconciliation_events_exception", "exception_id", "id"),)

    exception_id: Mapped[int] = mapped_column(IdType, ForeignKey("reconciliation_exceptions.id"))
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(24))
    differences: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SurplusDistribution(IdMixin, Base):
    """A cooperative's year-end surplus distribution (Farmers' Professional Cooperatives Law arts. 40-44).

    Posted once per (cooperative, year) as one journal; ``plan`` keeps the computed parts per
    member household (patronage return by transaction volume, the rest by capital, reserve and
    subsidy shares) so the member-account statement can show how each amount was reached.
    """

    __tablename__ = "surplus_distributions"
    __table_args__ = (UniqueConstraint("cooperative_id", "year"),)

    cooperative_id: Mapped[int] = mapped_column(IdType, ForeignKey("cooperatives.id"))
    year: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[int] = mapped_column(Integer)
    distributable_fen: Mapped[int] = mapped_column(Fen)
    patronage_fen: Mapped[int] = mapped_column(Fen)
    shares_fen: Mapped[int] = mapped_column(Fen)
    journal_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journals.id"))
    plan: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CountyIncomeDay(Base):
    """What the ledger's income journals credited one household on one Asia/Shanghai day, by the
    line's shop and SKU (``bangfu.county_income``, migration 0039): ``shop_id`` and ``sku_id`` 0
    for income that is not a sale (a surplus return, a line that is gone), ``sku_id`` 0 for a line
    without SKU; ``fen`` positive when credited, rows of 0 not kept. Recomputed per day from that
    day's journals; a day with a row in ``county_income_dirty`` is read from the ledger instead."""

    __tablename__ = "county_income_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    household_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    shop_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    sku_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    fen: Mapped[int] = mapped_column(Fen)


class CountyIncomeMonth(Base):
    """``county_income_days`` summed per month (``month``: its first day), recomputed with them;
    a month with a marked day is read from its days instead."""

    __tablename__ = "county_income_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    household_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    shop_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    sku_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    fen: Mapped[int] = mapped_column(Fen)


class CountyIncomeDirty(IdMixin, Base):
    """A day whose ``county_income_days`` rows (and month) may be stale: written by triggers
    (never by the application), removed by the refresh that read it."""

    __tablename__ = "county_income_dirty"
    __table_args__ = (Index("ix_county_income_dirty_day", "day"),)

    day: Mapped[date] = mapped_column(Date)


class JournalLineDay(Base):
    """An order line and a local day on which it has line journals (sale, refund, true-up),
    written by a trigger on ``journals`` (migration 0039): the days a line's SKU or shop change
    marks in ``county_income_dirty``."""

    __tablename__ = "journal_line_days"

    order_line_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
