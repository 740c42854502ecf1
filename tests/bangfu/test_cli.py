"""The `bangfu` command as a user runs it: a real process, real files, real databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bangfu.cli.app import COMMANDS, app, console, err_console
from tests.conftest import EXAMPLES, REPO_ROOT


def bangfu(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "160", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bangfu", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )


def bangfu_in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``bangfu ...`` as :func:`bangfu` runs it, but in this process: the same typer app through
    its ``CliRunner``, without the ~1.5 s of a new interpreter importing the hub. For tests whose
    point is the command, not the process (this module's own tests are about the process).

    It runs in a thread of its own, so the command's ``asyncio.run`` works from an async test
    too, with a fresh language override and settings read from the environment as given. The
    result reads as :func:`subprocess.run`'s: an exception the command let through is printed on
    stderr as the interpreter would print it, so ``"Traceback" not in stderr`` still means it."""
    import traceback
    from concurrent.futures import ThreadPoolExecutor

    from bangfu.settings import get_settings

    def invoke() -> subprocess.CompletedProcess[str]:
        get_settings.cache_clear()
        # 160 columns, as :func:`bangfu` gives the process: the consoles were made at import
        # (as test_stock.py notes, an earlier test may have fixed their width otherwise)
        widths = [(each, each._width) for each in (console, err_console)]
        for each, _ in widths:
            each._width = 160
        try:
            result = CliRunner().invoke(app, list(args), env={"COLUMNS": "160", **(env or {})})
        finally:
            get_settings.cache_clear()
            for each, width in widths:
                each._width = width
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            stderr += "".join(traceback.format_exception(*result.exc_info))
        return subprocess.CompletedProcess(["bangfu", *args], result.exit_code, result.stdout, stderr)

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(invoke).result()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["db"],
        ["db", "upgrade"],
        ["import"],
        ["demo"],
        ["scenario", "export"],
        ["worker"],
        ["report"],
        ["reconcile"],
        ["verify"],
        ["surplus", "distribute"],
        ["policy", "add"],
        ["agreements", "import"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    # In-process: the help is the same typer app's; the process itself is covered by the two
    # tests below (every command listed, each imported alone).
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


class _Loaded(app.info.cls):  # type: ignore[misc,name-defined]
    """The root group with every sub-command imported: what an eager registration would list."""

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)
        self.load_all()


def test_the_listing_is_the_one_the_loaded_commands_give(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bangfu --help`` lists the sub-commands from bangfu/cli/app.py's table without importing
    them; each line must be what the command itself says (its Typer help or docstring)."""
    runner = CliRunner()
    lazy = runner.invoke(app, ["--help"], env={"COLUMNS": "160"})
    assert lazy.exit_code == 0, lazy.output
    monkeypatch.setattr(app.info, "cls", _Loaded)
    loaded = runner.invoke(app, ["--help"], env={"COLUMNS": "160"})
    assert loaded.exit_code == 0, loaded.output
    assert lazy.stdout == loaded.stdout
    for entry in COMMANDS:
        assert f" {entry.name} " in lazy.stdout, entry.name


def test_a_command_imports_only_its_own_module() -> None:
    """``bangfu --help`` imports no command module; ``bangfu policy --help`` policy's and what it
    uses, none of the other commands, aiohttp, the importers, the demo: each process pays for what
    it runs."""
    probe = (
        "import sys\n"
        "from bangfu.cli import main\n"
        "for argv in (['--help'], ['policy', '--help']):\n"
        "    sys.argv = ['bangfu', *argv]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith('bangfu.cli.') or m in HEAVY)\n"
        "    print(' '.join(loaded), file=sys.stderr)\n"
    ).replace("HEAVY", repr(("aiohttp", "bangfu.importing", "bangfu.demo", "celery")))
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    after_help, after_policy = done.stderr.strip().splitlines()[-2:]
    assert after_help.split() == ["bangfu.cli.app", "bangfu.cli.lazy"]
    assert "bangfu.cli.policy" in after_policy.split()
    others = {f"bangfu.cli.{name}" for name in ("demo", "sync", "webhooks", "fakes", "imports", "reports", "mall")}
    assert not set(after_policy.split()) & (others | {"aiohttp", "bangfu.importing", "bangfu.demo", "celery"})
    assert "policy" in done.stdout and "Cooperatives' income-split policies" in done.stdout


def test_import_reports_bad_rows_as_lines_and_exits_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "units.csv"
    bad.write_text("单位编码,单位名称,单位类型\nU1,单位一,机关\nU2,单位二,银行\n", encoding="utf-8")
    db = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    result = bangfu("import", "units", str(bad), "--db", db)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}:3:单位类型: '银行' is not one of" in result.stderr
    assert "整个文件未导入" in result.stderr  # Chinese by default
    result = bangfu("--lang", "en", "import", "units", str(bad), "--db", db)
    assert "nothing was imported" in result.stderr


def test_user_mistakes_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = bangfu("import", "units", str(tmp_path / "nope.csv"), "--db", f"sqlite+aiosqlite:///{tmp_path}/h.db")
    assert result.returncode == 2
    assert "no such file" in result.stderr and "Traceback" not in result.stderr
    result = bangfu("import", "animals", str(EXAMPLES / "units.csv"))
    assert result.returncode == 2 and "choose one of" in result.stderr
    result = bangfu("db", "upgrade", "--db", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert "cannot open database" in result.stderr and "Traceback" not in result.stderr


def test_import_twice_through_the_cli(db_url: str) -> None:
    for kind in ("cooperatives", "households"):
        first = bangfu("--lang", "en", "import", kind, str(EXAMPLES / f"{kind}.csv"), "--db", db_url)
        assert first.returncode == 0, first.stderr
        assert "0 updated" in first.stdout
    again = bangfu("--lang", "en", "import", "households", str(EXAMPLES / "households.csv"), "--db", db_url)
    assert "0 new, 0 updated, 60 unchanged" in again.stdout


@pytest.mark.slow
def test_demo_builds_the_county_and_prints_the_summary(tmp_path: Path) -> None:
    env = {"BANGFU_DATA_DIR": str(tmp_path / "data")}
    result = bangfu("demo", "--no-serve", "--households", "300", "--orders", "120", "--days", "5", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "bangfu.db").is_file()  # the embedded default
    out = result.stdout
    assert "场景概览：甘孜县" in out
    for expected in ("经营主体", "成员农户", "│  300 │", "│  130 │", "│  260 │", "含学校 66 所"):
        assert expected in out, expected
    for shop in ("甘孜好物淘宝店", "甘孜特产天猫旗舰店", "甘孜农特京东旗舰店", "雪域好物快手小店"):
        assert shop in out, shop  # every channel connected and synced
    assert "│  120 │" in out  # orders per shop, as the fakes hold them
    assert "县域自营商城：新增 12 笔订单" in out  # the county's own mall, seeded once
    assert "线下渠道：龙泉驿区第一小学食堂帮扶产品售货机（售货机，CSV）导入" in out  # the offline channels' files
    assert "认定目录：导入" in out and "30 天内到期 3 项" in out  # the certified list, near expiry
    assert "采购协议：6 份" in out and "滞后预警 1 条" in out  # seed 004's agreements, one behind
    again = bangfu(
        "--lang", "en", "demo", "--no-serve", "--households", "300", "--orders", "120", "--days", "5", env=env
    )
    assert again.returncode == 0 and "Scenario summary" in again.stdout and "│   300 │" in again.stdout
    assert "Store totals per shop" in again.stdout
    assert "County mall:" not in again.stdout  # nothing seeded twice
    assert "Procurement agreements: 6 (" in again.stdout  # the same six, updated in place


def test_scenario_export_writes_importable_templates(tmp_path: Path) -> None:
    result = bangfu("scenario", "export", str(tmp_path / "x"), "--format", "xlsx", "--english", "--households", "20")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [
        "cooperatives.xlsx",
        "households.xlsx",
        "lots.xlsx",
        "products.xlsx",
        "units.xlsx",
    ]


def test_a_worker_without_redis_says_what_is_missing() -> None:
    result = bangfu("worker", env={"BANGFU_REDIS_URL": "", "BANGFU_CELERY_EAGER": ""})
    assert result.returncode == 2
    assert "BANGFU_REDIS_URL" in result.stderr and "Traceback" not in result.stderr
