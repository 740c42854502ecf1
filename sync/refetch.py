"""Re-fetch of one quarantined record by id: the console's re-fetch button and
``bangfu sync refetch --quarantine ID``.

A request is a ``quarantine_refetches`` row written ``queued`` (who asked, when: see
:func:`bangfu.queries.operator.request_refetch`); :func:`run_refetch` carries it out, in the
Celery task ``bangfu.refetch_quarantined`` or directly from the command line:

- the record is fetched again through the connector's fetch by id (``order_detail``,
  ``refund_detail``) and, when it parses now, stored through the sync engine's normal write
  path (idempotent upsert, never backwards), which closes the record's open quarantine entries;
  the entry is then marked handled by the requester (``resolved_by``) and the request ``stored``;
- otherwise nothing is written but the request's outcome: ``failed`` with the error class
  (``bad_record`` when it still does not parse, ``auth``, ``not_found``...) and the platform's
  message, redacted of the shop's secrets. The quarantine entry stays open.

A request that is no longer ``queued`` is left as it is, so a task delivered twice does nothing
the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from bangfu.enums import SyncStream
from bangfu.models import QuarantinedRecord, QuarantineRefetch, Shop
from connectors.errors import PlatformError
from sync.engine import SyncEngine
from sync.errors import SyncError

MESSAGE_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class RefetchResult:
    refetch_id: int
    quarantined_id: int
    outcome: str  # stored | failed | queued (not run: see ``ran``)
    error_class: str | None = None
    message: str | None = None
    ran: bool = True  # False: the request had been carried out already

    @property
    def ok(self) -> bool:
        return self.outcome == "stored"


async def run_refetch(sync: SyncEngine, refetch_id: int) -> RefetchResult:
    """Carry out the queued re-fetch ``refetch_id`` (see the module docstring)."""
    async with sync.engine.connect() as conn:
        found = (
            await conn.execute(
                select(
                    QuarantineRefetch.quarantined_id,
                    QuarantineRefetch.requested_by,
                    QuarantineRefetch.outcome,
                    QuarantineRefetch.error_class,
                    QuarantineRefetch.message,
                    QuarantinedRecord.shop_id,
                    QuarantinedRecord.stream,
                    QuarantinedRecord.platform_id,
                )
                .join(QuarantinedRecord, QuarantinedRecord.id == QuarantineRefetch.quarantined_id)
                .where(QuarantineRefetch.id == refetch_id)
            )
        ).first()
        if found is None:
            raise SyncError(f"no re-fetch request {refetch_id}")
        shop_row = (await conn.execute(select(Shop).where(Shop.id == found.shop_id))).first()
    quarantined_id = int(found.quarantined_id)
    if found.outcome != "queued":
        return RefetchResult(refetch_id, quarantined_id, found.outcome, found.error_class, found.message, ran=False)
    assert shop_row is not None  # a foreign key
    shop = Shop(**shop_row._mapping)
    stream = SyncStream(found.stream)
    if found.platform_id is None:
        return await _finish(sync, refetch_id, quarantined_id, None, "unsupported", "the record has no platform id")
    try:
        await sync.refetch(shop, stream, str(found.platform_id))
    except PlatformError as exc:
        message = sync.redacted(shop.id, f"{exc.__class__.__name__}: {exc}")
        return await _finish(sync, refetch_id, quarantined_id, None, exc.error_class.value, message)
    except Exception as exc:  # noqa: BLE001  # a shop that cannot be configured, a refused write: recorded
        message = sync.redacted(shop.id, f"{exc.__class__.__name__}: {exc}")
        return await _finish(sync, refetch_id, quarantined_id, None, "internal", message)
    requested_by = None if found.requested_by is None else int(found.requested_by)
    return await _finish(sync, refetch_id, quarantined_id, requested_by, None, None)


async def _finish(
    sync: SyncEngine,
    refetch_id: int,
    quarantined_id: int,
    requested_by: int | None,
    error_class: str | None,
    message: str | None,
) -> RefetchResult:
    now: datetime = sync.clock()
    outcome = "stored" if error_class is None else "failed"
    async with sync.engine.begin() as conn:
        if outcome == "stored":
            # The write closed the entry (resolved_at); it was handled by this re-fetch and whoever
            # asked for it. An entry still open here (its record came back under another id) is
            # closed too: the record asked for is stored.
            await conn.execute(
                update(QuarantinedRecord)
                .where(QuarantinedRecord.id == quarantined_id, QuarantinedRecord.resolved_by.is_(None))
                .values(resolved_by=requested_by, resolved_at=func.coalesce(QuarantinedRecord.resolved_at, now))
            )
        await conn.execute(
            update(QuarantineRefetch)
            .where(QuarantineRefetch.id == refetch_id, QuarantineRefetch.outcome == "queued")
            .values(
                outcome=outcome,
                finished_at=now,
                error_class=error_class,
                message=message[:MESSAGE_LIMIT] if message else None,
            )
        )
    return RefetchResult(refetch_id, quarantined_id, outcome, error_class, message)


__all__ = ["RefetchResult", "run_refetch"]
