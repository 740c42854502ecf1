"""`bangfu policy add/list`: versioned split policies, validated before anything is stored."""

from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bangfu.models import SplitPolicy
from tests.bangfu.test_cli import bangfu_in_process as bangfu
from tests.conftest import EXAMPLES

RULES = {
    "retention_bp": 800,
    "collective_bp": 500,
    "priority_bonus_bp": 300,
    "grade_coefficients": {"A": 100, "B": 90},
    "estimates_bp": {"platform_fee": 500, "payment_fee": 60, "logistics": 800},
    "patronage_return_bp": 6000,
}


def _write(tmp_path: Path, rules: dict[str, object], name: str = "policy.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rules), encoding="utf-8")
    return path


@pytest.fixture
def coop_db(db_url: str) -> str:
    result = bangfu("import", "cooperatives", str(EXAMPLES / "cooperatives.csv"), "--db", db_url)
    assert result.returncode == 0, result.stderr
    return db_url


def _credit_code() -> str:
    header, first = (EXAMPLES / "cooperatives.csv").read_text(encoding="utf-8-sig").splitlines()[:2]
    return first.split(",")[header.split(",").index("统一社会信用代码")]


def add(
    db_url: str, policy: Path, effective_from: str, cooperative: str | None = None, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``bangfu policy add`` as a user types it."""
    return bangfu(
        "policy",
        "add",
        "--cooperative",
        cooperative or _credit_code(),
        "--file",
        str(policy),
        "--effective-from",
        effective_from,
        "--db",
        db_url,
        *extra,
    )


async def _versions(db_url: str) -> list[tuple[int, date]]:
    from bangfu.store import make_engine

    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(SplitPolicy.version, SplitPolicy.effective_from).order_by(SplitPolicy.id))
            return [(v, d) for v, d in rows]
    finally:
        await engine.dispose()


async def test_versions_are_added_in_order_and_listed(coop_db: str, tmp_path: Path) -> None:
    code = _credit_code()
    first = (date.today() + timedelta(days=10)).isoformat()
    later = (date.today() + timedelta(days=40)).isoformat()
    policy = _write(tmp_path, RULES)
    assert add(coop_db, policy, first, code).returncode == 0
    again = add(coop_db, policy, first, code)
    assert again.returncode == 2
    assert first in again.stderr and "Traceback" not in again.stderr
    ok = add(coop_db, policy, later, code, "--note", "general meeting 2026")
    assert ok.returncode == 0, ok.stderr
    assert [v for v, _ in await _versions(coop_db)] == [1, 2]
    listing = bangfu("policy", "list", "--db", coop_db)
    assert listing.returncode == 0, listing.stderr
    assert "60.00%" in listing.stdout and later in listing.stdout


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_policy_below_the_art_44_floor_is_refused_naming_the_file(coop_db: str, tmp_path: Path) -> None:
    policy = _write(tmp_path, {**RULES, "patronage_return_bp": 5500}, "low.json")
    result = add(coop_db, policy, (date.today() + timedelta(days=3)).isoformat())
    assert result.returncode == 2
    assert "low.json" in result.stderr and "patronage_return_bp" in result.stderr and "44" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_past_dates_unknown_cooperatives_and_bad_files_are_refused(coop_db: str, tmp_path: Path) -> None:
    good = _write(tmp_path, RULES)
    past = add(coop_db, good, date.today().isoformat())
    assert past.returncode == 2 and "Traceback" not in past.stderr
    nobody = add(coop_db, good, "2099-01-01", "no such coop")
    assert nobody.returncode == 2 and "no such coop" in nobody.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    bad = add(coop_db, broken, "2099-01-01")
    assert bad.returncode == 2 and "broken.json" in bad.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_unknown_keys_and_broken_shares_are_refused_and_nothing_is_stored(coop_db: str, tmp_path: Path) -> None:
    policy = _write(tmp_path, {**RULES, "host_share_bp": 100})
    result = add(coop_db, policy, "2099-01-01")
    assert result.returncode == 2 and "host_share_bp" in result.stderr
    policy = _write(tmp_path, {**RULES, "retention_bp": 9000, "collective_bp": 2000})
    add(coop_db, policy, "2099-01-01")
    assert await _versions(coop_db) == []


def withdraw(db_url: str, version: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return bangfu(
        "policy", "withdraw", "--cooperative", _credit_code(), "--version", str(version), "--db", db_url, *extra
    )


async def _withdrawals(db_url: str) -> list[tuple[int, date, str | None]]:
    from bangfu.models.org import SplitPolicyWithdrawal
    from bangfu.store import make_engine

    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    SplitPolicyWithdrawal.version, SplitPolicyWithdrawal.effective_from, SplitPolicyWithdrawal.reason
                ).order_by(SplitPolicyWithdrawal.version)
            )
            return [(v, d, r) for v, d, r in rows]
    finally:
        await engine.dispose()


async def test_a_date_beyond_the_horizon_is_refused(coop_db: str, tmp_path: Path) -> None:
    """Issue 12 item 14: ``--effective-from 9999-12-31`` (or a typo like 2207) was accepted, and
    then no later version could ever be added. At most MAX_POLICY_LEAD_YEARS (2) ahead now."""
    from bangfu.cli.policy import today
    from bangfu.policy import latest_effective_from

    policy = _write(tmp_path, RULES)
    horizon = latest_effective_from(today())  # the command's today: Asia/Shanghai
    for typo in ("9999-12-31", "2207-01-01", (horizon + timedelta(days=1)).isoformat()):
        result = add(coop_db, policy, typo)
        assert result.returncode == 2, result.stdout
        assert typo in result.stderr and horizon.isoformat() in result.stderr and "Traceback" not in result.stderr
    assert await _versions(coop_db) == []
    assert add(coop_db, policy, horizon.isoformat()).returncode == 0
    assert [v for v, _ in await _versions(coop_db)] == [1]


@pytest.mark.slow
async def test_a_version_not_yet_in_force_can_be_withdrawn_and_is_recorded(coop_db: str, tmp_path: Path) -> None:
    """Issue 12 item 14: a version added with the wrong date could never be taken back, so nothing
    after it could be added. ``policy withdraw`` takes back a version not yet in force (recorded,
    its number never reused); a version in force or past is refused (simulated by the date)."""
    policy = _write(tmp_path, RULES)
    soon = date.today() + timedelta(days=10)
    far = date.today() + timedelta(days=700)
    assert add(coop_db, policy, soon.isoformat()).returncode == 0
    assert add(coop_db, policy, far.isoformat(), None, "--note", "typo: meant next month").returncode == 0
    blocked = add(coop_db, policy, (soon + timedelta(days=30)).isoformat())
    assert blocked.returncode == 2 and far.isoformat() in blocked.stderr
    done = withdraw(coop_db, 2, "--reason", "wrong year")
    assert done.returncode == 0, done.stderr
    assert await _versions(coop_db) == [(1, soon)]
    assert await _withdrawals(coop_db) == [(2, far, "wrong year")]
    again = withdraw(coop_db, 2)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    # The next version follows; number 2 stays the withdrawn one's.
    later = soon + timedelta(days=30)
    assert add(coop_db, policy, later.isoformat()).returncode == 0
    assert await _versions(coop_db) == [(1, soon), (3, later)]
    listing = bangfu("policy", "list", "--db", coop_db, env={"BANGFU_LANG": "en"})
    assert listing.returncode == 0, listing.stderr
    assert far.isoformat() in listing.stdout and "withdrawn" in listing.stdout
    # In force today (version 1 from today on): refused, and it stays.
    from bangfu.store import make_engine

    engine = make_engine(coop_db)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(SplitPolicy).where(SplitPolicy.version == 1).values(effective_from=date.today()))
    finally:
        await engine.dispose()
    refused = withdraw(coop_db, 1)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr and date.today().isoformat() in refused.stderr
    missing = withdraw(coop_db, 9)
    assert missing.returncode == 2 and "9" in missing.stderr
    assert [v for v, _ in await _versions(coop_db)] == [1, 3]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_policy_leaving_households_nothing_per_sale_is_refused(coop_db: str, tmp_path: Path) -> None:
    """Issue 12 item 14: retention 90% + collective 10% was accepted: nothing per sale went to the
    member households."""
    policy = _write(tmp_path, {**RULES, "retention_bp": 9000, "collective_bp": 1000, "priority_bonus_bp": 0}, "r.json")
    result = add(coop_db, policy, (date.today() + timedelta(days=3)).isoformat(), None)
    assert result.returncode == 2
    for text in ("r.json", "retention_bp", "collective_bp", "60", "44"):
        assert text in result.stderr, text
    assert "Traceback" not in result.stderr
    assert await _versions(coop_db) == []
