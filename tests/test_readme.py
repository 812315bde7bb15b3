"""Every `newsflow` command shown in the README works as written (on a seeded warehouse)."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.conftest import ROOT, newsflow

COMMANDS = [
    line.strip() for line in re.findall(r"^\.venv/bin/newsflow .*$", (ROOT / "README.md").read_text(), re.M)
]


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("command", COMMANDS, ids=[c[len(".venv/bin/newsflow "):][:40] for c in COMMANDS])
def test_readme_command_runs(command, seeded, tmp_path, monkeypatch):
    warehouse, _ = seeded
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE", str(warehouse))
    result = newsflow(*shlex.split(command, comments=True)[1:])  # as the shell reads it: "# ..." is a comment
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    if "bad_spans" in command:
        assert re.search(r"│\s*0\s*│", result.stdout), result.stdout
