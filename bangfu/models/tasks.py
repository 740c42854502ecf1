"""The department task ledger (消费帮扶工作调度台账): a county's tasks, each with a responsible
department and owner, a measure, a deadline and a target, and the append-only history of its
progress (``bangfu.tasks``).

A target and every progress value are whole numbers in the task's *unit*'s base
(:data:`bangfu.tasks.units.UNITS`): fen for money, households, a count, or hundredths of a
percent for a rate, so no float or Numeric column is needed on either back end.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.models.base import Base, IdMixin, IdType, JSONDoc, utcnow


class LedgerTask(IdMixin, Base):
    """One task of a county's ledger (key: ``code``).

    ``metric_kind`` / ``metric_params`` bind the task to a hub figure
    (:mod:`bangfu.tasks.metrics`): its progress is then appended by the periodic refresh
    (``who = "metric"``); an unbound task's progress is reported by hand with evidence."""

    __tablename__ = "ledger_tasks"
    __table_args__ = (Index("ix_ledger_tasks_region_year", "region_id", "year"),)

    code: Mapped[str] = mapped_column(String(32), unique=True)
    region_id: Mapped[int] = mapped_column(IdType, ForeignKey("regions.id"))
    year: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date] = mapped_column(Date)
    target: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(16))  # fen | households | percent | count
    metric_kind: Mapped[str | None] = mapped_column(String(32))
    metric_params: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    note: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)  # order within the ledger, as imported
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskProgress(IdMixin, Base):
    """One progress report of a task, as of a date (append-only: a correction is a new entry).

    ``who``: ``"metric"`` for the automatic refresh, ``"import"`` for an imported list, else
    the console user's name (``recorded_by`` their id)."""

    __tablename__ = "ledger_task_progress"
    __table_args__ = (Index("ix_ledger_task_progress_task_as_of", "task_id", "as_of"),)

    task_id: Mapped[int] = mapped_column(IdType, ForeignKey("ledger_tasks.id"))
    as_of: Mapped[date] = mapped_column(Date)
    value: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    who: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
