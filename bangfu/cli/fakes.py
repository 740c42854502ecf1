"""``bangfu fakes``: run the fake platform servers on loopback.

``bangfu fakes serve`` starts one server per platform at ``--port-base`` + the platform's index
in the fixed order taobao, jd, douyin, kuaishou, youzan, selfmall, prints one JSON line per
platform (``{"platform", "base_url", "credentials", "shop_ids"}``) then ``ready``, and serves
until SIGINT/SIGTERM. All platforms share one fake clock (real time; tests move it with
``POST /_fake/clock``).

``--frozen`` serves a frozen world: the clock stops once every world is built, and every order
and refund the list APIs serve is pre-rendered before ``ready`` (a few seconds per 10,000
orders), so a page costs the fake a request check and a join of ready bytes, not a render.
Answers are byte for byte those of the live mode.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import orjson
import typer

from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.registry import PLATFORM_ORDER, FakeNotAvailableError
from connectors.fakes.server import Running, serve_all

fakes_app = typer.Typer(help="Fake platform servers (loopback only) for tests and the demo.", no_args_is_help=True)


def _parse_platforms(value: str) -> list[str]:
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter("name at least one platform", param_hint="--platforms")
    unknown = [name for name in names if name not in PLATFORM_ORDER]
    if unknown:
        raise typer.BadParameter(
            f"unknown platform(s) {', '.join(unknown)}; known: {', '.join(PLATFORM_ORDER)}",
            param_hint="--platforms",
        )
    return names


@fakes_app.command()
def serve(
    platforms: Annotated[str, typer.Option(help="Comma-separated platforms to serve.")] = ",".join(PLATFORM_ORDER),
    host: Annotated[str, typer.Option(help="Interface to listen on (keep it loopback).")] = "127.0.0.1",
    port_base: Annotated[int, typer.Option(help="Port of taobao; the others follow in fixed order.")] = 18600,
    seed: Annotated[int, typer.Option(help="Seed of every world and of the fault injector.")] = 7,
    orders: Annotated[int, typer.Option(min=0, help="Orders per shop.")] = 2000,
    faults: Annotated[str, typer.Option(help="Fault profile: none, light or chaos.")] = "none",
    latency_ms: Annotated[int, typer.Option(min=0, help="Fixed delay added to every API request.")] = 0,
    shops: Annotated[int, typer.Option(min=1, help="Shops per platform.")] = 1,
    days: Annotated[int, typer.Option(min=1, help="Days of order history before now.")] = 60,
    frozen: Annotated[
        bool,
        typer.Option(
            "--frozen",
            help="Frozen world: stop the platforms' clock at start (data no longer changes) and pre-render"
            " every listed order and refund before `ready`, so a page costs the fake the request checks and a"
            " join of ready bytes, not a render (answers identical to the live mode's).",
        ),
    ] = False,
) -> None:
    """Start the fakes, print one JSON line per platform, then `ready`; stop on SIGINT/SIGTERM."""
    names = _parse_platforms(platforms)
    try:
        FaultProfile.named(faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None
    try:
        asyncio.run(_serve(names, host, port_base, seed, orders, faults, latency_ms, shops, days, frozen))
    except FakeNotAvailableError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}: {exc}", err=True)
        raise typer.Exit(1) from None


async def _serve(
    names: list[str],
    host: str,
    port_base: int,
    seed: int,
    orders: int,
    faults: str,
    latency_ms: int,
    shops: int,
    days: int,
    frozen: bool = False,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running: list[Running] = []
    clock = FakeClock()
    try:
        running = await serve_all(
            names, host, port_base, seed, orders, faults, latency_ms, clock, shops=shops, days=days, frozen=frozen
        )
        out = sys.stdout.buffer
        for item in running:
            out.write(orjson.dumps(item.describe()) + b"\n")
        out.write(b"ready\n")
        out.flush()
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for item in running:
            await item.close()
