"""What every request pays stays small without changing what it answers: static URLs keep
aiohttp's content version, computed once per file version."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from web import render
from web.render import STATIC_DIR, STATIC_PREFIX, static_url

REFERENCED = ("favicon.svg", "css/console.css", "css/mall.css", "vendor/echarts/echarts.min.js", "js/charts.js")


@pytest.mark.parametrize("filename", REFERENCED)
def test_static_url_is_aiohttps_versioned_url(filename: str) -> None:
    app = web.Application()
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name="static", append_version=True)
    assert static_url(filename) == str(app.router["static"].url_for(filename=filename))


def test_static_url_reads_a_file_once_and_again_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR / "css", static / "css")
    monkeypatch.setattr(render, "STATIC_DIR", static)
    render._versioned_url.cache_clear()
    reads: list[Path] = []
    real = Path.read_bytes

    def counted(path: Path) -> bytes:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", counted)
    first = static_url("css/console.css")
    assert static_url("css/console.css") == first and len(reads) == 1
    target = static / "css/console.css"
    target.write_text(target.read_text() + "\n/* changed */\n")
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = static_url("css/console.css")
    assert second != first and second.startswith("/static/css/console.css?v=") and len(reads) == 2
    assert static_url("css/missing.css") == "/static/css/missing.css"
    render._versioned_url.cache_clear()
