"""README's two fresh-machine commands exist, and CI runs the test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    return re.findall(r"```bash\n([^\n]*python3 -m venv [^\n]+)\n```", (ROOT / "README.md").read_text())


def test_readme_has_a_setup_and_run_command_and_a_test_command() -> None:
    commands = _commands()
    assert len(commands) == 2
    assert "nas." in commands[0] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    assert _commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()
