"""The `bangfu` command as a user runs it: a real process, real files, real databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    result = bangfu(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


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
