"""The README starts with the two commands, and CI runs exactly the second one."""

from __future__ import annotations

from tests.conftest import REPO_ROOT


def _readme_commands() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in first_block.splitlines() if line.strip()]


def test_readme_starts_with_demo_and_test_commands() -> None:
    head = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert head[0].startswith("# ") and head[2] == "```sh"
    demo, test = _readme_commands()
    assert demo.endswith("bangfu demo")
    assert "pytest" in test and "ruff check" in test and "mypy" in test


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci_lines = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _readme_commands()[1] in ci_lines
