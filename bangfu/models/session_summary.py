"""Per-session sales figures kept exact (``bangfu.session_summaries``, migration 0025).

``session_summaries`` holds what the session list and the session page headline show for one
live session: GMV, paid orders, buyers, units, orders by confidence, refunds, the net passed to
households. ``session_summary_dirty`` is the marker table: database triggers on every input
(``line_attributions``, ``order_lines``, ``orders``, ``refunds``, ``line_household_credits``)
insert the sessions a change touches, in the transaction of the change. A summary row is used
only while its session has no marker; a marked session is computed from its lines until a
refresh recomputes its row and removes the markers it read.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.models.base import Base, Fen, IdMixin, IdType

FIGURES = (
    "gmv_fen",
    "orders",
    "buyers",
    "units",
    "orders_exact",
    "orders_inferred",
    "refunds_fen",
    "net_households_fen",
    "exact_orders",
    "exact_gmv_fen",
    "link_orders",
    "link_gmv_fen",
    "inferred_orders",
    "inferred_gmv_fen",
)


class SessionSummary(Base):
    """One session's figures, equal to ``bangfu.reports.sessions``' computation over its lines
    whenever the session has no ``session_summary_dirty`` row.

    ``orders_exact`` counts distinct orders with an exact or link line (the review's column);
    ``exact_orders``, ``link_orders``, ``inferred_orders`` and their GMV are the session page's
    confidence table (distinct orders per confidence)."""

    __tablename__ = "session_summaries"

    session_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("live_sessions.id"), primary_key=True, autoincrement=False
    )
    gmv_fen: Mapped[int] = mapped_column(Fen)
    orders: Mapped[int] = mapped_column(Fen)
    buyers: Mapped[int] = mapped_column(Fen)
    units: Mapped[int] = mapped_column(Fen)
    orders_exact: Mapped[int] = mapped_column(Fen)
    orders_inferred: Mapped[int] = mapped_column(Fen)
    refunds_fen: Mapped[int] = mapped_column(Fen)
    net_households_fen: Mapped[int] = mapped_column(Fen)
    exact_orders: Mapped[int] = mapped_column(Fen)
    exact_gmv_fen: Mapped[int] = mapped_column(Fen)
    link_orders: Mapped[int] = mapped_column(Fen)
    link_gmv_fen: Mapped[int] = mapped_column(Fen)
    inferred_orders: Mapped[int] = mapped_column(Fen)
    inferred_gmv_fen: Mapped[int] = mapped_column(Fen)


class SessionSummaryDirty(IdMixin, Base):
    """A session whose summary may be stale: written by triggers (never by the application),
    one row per changing statement (PostgreSQL) or row (SQLite); removed by the refresh that
    read it."""

    __tablename__ = "session_summary_dirty"
    __table_args__ = (Index("ix_session_summary_dirty_session_id", "session_id"),)

    session_id: Mapped[int] = mapped_column(IdType)
    # The line whose change touched the session (migration 0037); NULL on markers written
    # before it, which stand for every line of the session.
    order_line_id: Mapped[int | None] = mapped_column(IdType)


class SessionLineFacts(Base):
    """What one attributed line adds to its session's figures (migration 0037): kept by
    ``bangfu.session_summaries.refresh`` for the lines its markers name, so a refresh joins
    only those lines with their orders, refunds and credits, and a session's figures are
    summed (and its distinct orders and buyers counted) over this narrow table."""

    __tablename__ = "session_line_facts"
    # By order and by buyer: the refresh counts the distinct orders and buyers its lines name
    # (migration 0040).
    __table_args__ = (
        Index("ix_session_line_facts_session_id", "session_id"),
        Index("ix_session_line_facts_order_id", "order_id"),
        Index("ix_session_line_facts_buyer_ref", "buyer_ref"),
    )

    order_line_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    session_id: Mapped[int] = mapped_column(IdType)
    order_id: Mapped[int] = mapped_column(IdType)
    buyer_ref: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[str] = mapped_column(String(24))
    paid: Mapped[int] = mapped_column(SmallInteger)  # 1 when the order is paid (counts in the sales)
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    refunds_fen: Mapped[int] = mapped_column(BigInteger)  # succeeded refunds of the line
    net_households_fen: Mapped[int] = mapped_column(BigInteger)  # its household credits, net
    sku_id: Mapped[int | None] = mapped_column(IdType)  # the line's SKU (migration 0040): the page's products


class SessionHouseholdCredit(Base):
    """What one session's lines credited to one household, net, in fen (migration 0046): the sum
    of ``line_household_credits`` over the session's attributed lines, a row for every household
    those lines have a row for (at 0 fen too, as the live sum gives it). Kept by
    ``bangfu.session_summaries.refresh_household_credits``, which rewrites the rows of every
    session ``session_household_dirty`` names; read (the session page's cooperatives) only while
    the session has no marker in either table."""

    __tablename__ = "session_household_credits"

    session_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("live_sessions.id"), primary_key=True, autoincrement=False
    )
    household_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    credit_fen: Mapped[int] = mapped_column(Fen)


class SessionHouseholdDirty(IdMixin, Base):
    """A session whose ``session_household_credits`` rows may be stale (migration 0046): written
    by ``bangfu.session_summaries.refresh`` for every session whose summary markers it read (it
    hands them on instead of rewriting the rows each time), removed by the
    ``refresh_household_credits`` that read it (once per pipeline run)."""

    __tablename__ = "session_household_dirty"
    __table_args__ = (Index("ix_session_household_dirty_session_id", "session_id"),)

    session_id: Mapped[int] = mapped_column(IdType)
