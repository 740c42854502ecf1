"""The hub's Python per order between the decoded record and ``COPY``, replayed: CPU per order.

    python bench/parse_replay.py capture --orders 12000 --out /tmp/orders.capture
    python bench/parse_replay.py replay /tmp/orders.capture [--runs 5] [--per-platform 1000]

``capture`` runs ``bench/ingest.py`` (SQLite, frozen fakes served from the hub's own event loop)
with ``StreamDriver.parse_guarded`` wrapped, and keeps every order record a connector was handed
(as JSON bytes, with its platform). ``replay`` builds one connector per platform (no network:
parsing needs none), decodes the records once, then times, in CPU seconds (``process_time``),
what a sync does with each between the decoded page and ``COPY``: the connector's parse and PIPL
scrub (``parse_guarded``), the order digest (``order_hash``), the order row (``_order_tuple``, the
raw payload's serialisation included) and the line rows (``_line_tuples``, their digests
included). Best of ``--runs`` per platform; the platforms interleaved run by run. Load-free
companions: function calls per order (cProfile's count, ``--calls``).

``--digest`` prints one BLAKE2b digest over every row built (and the exception of any record
that did not parse), to check that two versions of the code build the same rows.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pickle
import pstats
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))


def capture(orders: int, out: Path) -> None:
    import ingest  # bench/ingest.py, beside this file

    from connectors.streams import StreamDriver

    kept: list[tuple[str, bytes]] = []
    original = StreamDriver.parse_guarded

    def parse_guarded(self: Any, stream: Any, raw: Any, parse: Any) -> Any:
        if stream.value == "orders":
            kept.append((self.config.platform.value, orjson.dumps(raw)))
        return original(self, stream, raw, parse)

    StreamDriver.parse_guarded = parse_guarded  # type: ignore[method-assign]
    try:
        result = ingest.main(["--orders", str(orders), "--frozen", "--fakes", "inline"])
    finally:
        StreamDriver.parse_guarded = original  # type: ignore[method-assign]
    by_platform: dict[str, list[bytes]] = defaultdict(list)
    for platform, raw in kept:
        by_platform[platform].append(raw)
    out.write_bytes(pickle.dumps(dict(by_platform)))
    sys.stderr.write(f"{result['orders']} orders stored; captured {[(p, len(v)) for p, v in by_platform.items()]}\n")


def _connector(platform: str) -> Any:
    from bangfu.enums import PlatformKind
    from connectors.registry import connector_class
    from connectors.values import ShopConfig

    kind = PlatformKind(platform)
    config = ShopConfig(
        platform=kind,
        base_url="http://127.0.0.1:9",
        app_key="k",
        app_secret="s",
        shop_id="1",
        access_token="t",
        extra={"sign_secret": "x", "username": "u", "password": "p"},
    )
    return connector_class(kind)(config)


def replay(path: Path, runs: int, per_platform: int, calls: bool, digest: bool) -> None:
    from bangfu.enums import SyncStream
    from bangfu.runtime import tune_gc
    from bangfu.upsert import _line_tuples, _order_tuple
    from bangfu.upsert_rules import order_hash

    tune_gc()
    captured: dict[str, list[bytes]] = pickle.loads(path.read_bytes())
    now = datetime(2026, 12, 8, tzinfo=UTC)
    units = {"PU-1": 1}
    stream = SyncStream.ORDERS

    def work(platform: str) -> tuple[Any, list[Any], Any]:
        connector = _connector(platform)
        raws = [orjson.loads(raw) for raw in captured[platform][:per_platform]]

        def parse(raw: Any) -> Any:
            return (connector.parse_order(raw),)

        def one_pass(raws: list[Any] = raws, sink: list[Any] | None = None) -> None:
            for raw in raws:
                try:
                    records = connector.parse_guarded(stream, raw, parse)
                except Exception as exc:  # noqa: BLE001  # quarantined by the sync; counted here
                    if sink is not None:
                        sink.append(f"{type(exc).__name__}: {exc}")
                    continue
                for record in records:
                    row = _order_tuple(1, record, order_hash(record), units, now)
                    lines = list(_line_tuples(1, 7, record))
                    if sink is not None:
                        sink.append((row, lines))

        return connector, raws, one_pass

    platforms = sorted(captured)
    if digest:
        h = hashlib.blake2b(digest_size=16)
        for platform in platforms:
            _, raws, one_pass = work(platform)
            sink: list[Any] = []
            # fresh decoded records: the scrub may set a new payload on a record, never on the raw
            one_pass([orjson.loads(orjson.dumps(r)) for r in raws], sink)
            built = orjson.dumps(sink, default=str, option=orjson.OPT_PASSTHROUGH_DATETIME)
            h.update(built)
            one = hashlib.blake2b(built, digest_size=8).hexdigest()
            sys.stdout.write(f"{platform}: {len(sink)} rows, digest {one}\n")
        sys.stdout.write(f"all: {h.hexdigest()}\n")
        return
    prepared = {platform: work(platform) for platform in platforms}
    best: dict[str, float] = {}
    for _ in range(runs):
        for platform in platforms:
            _, raws, one_pass = prepared[platform]
            fresh = [orjson.loads(orjson.dumps(r)) for r in raws]
            started = time.process_time()
            one_pass(fresh)
            spent = (time.process_time() - started) / len(raws) * 1e6
            best[platform] = min(best.get(platform, spent), spent)
    counts: dict[str, float] = {}
    if calls:
        for platform in platforms:
            _, raws, one_pass = prepared[platform]
            fresh = [orjson.loads(orjson.dumps(r)) for r in raws]
            profile = cProfile.Profile()
            profile.runcall(one_pass, fresh)
            counts[platform] = pstats.Stats(profile).total_calls / len(raws)  # type: ignore[attr-defined]
    for platform in platforms:
        line = f"{platform:9s} {len(prepared[platform][1]):6d} orders  {best[platform]:6.2f} µs/order"
        if calls:
            line += f"  {counts[platform]:6.1f} calls/order"
        sys.stdout.write(line + "\n")
    mean = sum(best.values()) / len(best)
    sys.stdout.write(f"{'mean':9s} {'':13s} {mean:6.2f} µs/order\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("--orders", type=int, default=12_000)
    cap.add_argument("--out", type=Path, required=True)
    rep = sub.add_parser("replay")
    rep.add_argument("path", type=Path)
    rep.add_argument("--runs", type=int, default=5)
    rep.add_argument("--per-platform", type=int, default=1_000)
    rep.add_argument("--calls", action="store_true", help="also count function calls per order (cProfile)")
    rep.add_argument("--digest", action="store_true", help="print a digest of every row built, and stop")
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.orders, args.out)
    else:
        replay(args.path, args.runs, args.per_platform, args.calls, args.digest)


if __name__ == "__main__":
    main()
