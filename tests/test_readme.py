"""Every `newsflow` command shown in the README works as written, and prints the output pasted under it.

Commands that name no warehouse run on a seeded one. The README's walkthroughs name warehouses of
their own (`--warehouse demo-warehouse`, `--warehouse sample-warehouse`): those run in a folder
where `seeds/` and `samples/` are the project's, on warehouses loaded there, once per session, by
the README's own `run` line or by the Makefile's (`make demo`).
"""

from __future__ import annotations

import re
import shlex

import pytest

from tests.conftest import ROOT, newsflow

pytestmark = pytest.mark.slow  # real `newsflow` runs, processes or servers (see pyproject.toml)

README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()

COMMANDS = [line.strip() for line in re.findall(r"^\.venv/bin/newsflow .*$", README, re.M)]

# A ```text block right after a ```sh block is the output of that block's last command.
OUTPUTS = dict(re.findall(r"^(\.venv/bin/newsflow [^\n]*)\n```\n```text\n(.*?)^```", README, re.M | re.S))

# The Makefile's `newsflow run` lines (`make demo` loads demo-warehouse with one), as the README's are written.
MAKE_RUNS = [f".venv/bin/newsflow {line}" for line in re.findall(r"^\t\$\(BIN\)/newsflow (run .*)$", MAKEFILE, re.M)]

# `make demo`'s filtered download (curl + wc -l) and the line count pasted under it.
DOWNLOAD = re.search(r'^curl -s -OJ "http://127\.0\.0\.1:8000(/api/export/[^"]+)"\nwc -l (\S+)\n```\n```text\n(\d+) \2\n',
                     README, re.M)


def _args(command: str) -> list[str]:
    return shlex.split(command, comments=True)[1:]  # as the shell reads it: "# ..." is a comment


def _named_warehouse(command: str) -> str | None:
    args = _args(command)
    return args[args.index("--warehouse") + 1] if "--warehouse" in args else None


def _loads(name: str) -> list[str]:
    """The README and Makefile `run` commands that load the warehouse folder `name`."""
    return [c for c in COMMANDS + MAKE_RUNS if _args(c)[0] == "run" and _named_warehouse(c) == name]


OWN_WAREHOUSES = sorted({n for c in COMMANDS if (n := _named_warehouse(c)) and _loads(n)})


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 5
    assert {"demo-warehouse", "sample-warehouse"} <= set(OWN_WAREHOUSES)
    assert len(OUTPUTS) >= 5 and set(OUTPUTS) <= set(COMMANDS)
    assert DOWNLOAD, "the README shows make demo's filtered download with its line count"


@pytest.fixture(scope="session")
def walkthrough(prefect_server, tmp_path_factory):
    """A folder like the project's root (seeds/, samples/), and a loader of its named warehouses.

    `load(name)` runs, once per session, the commands that load `name` and returns their results."""
    folder = tmp_path_factory.mktemp("walkthrough")
    for sub in ("seeds", "samples"):
        (folder / sub).symlink_to(ROOT / sub, target_is_directory=True)
    loaded: dict[str, dict[str, object]] = {}

    def load(name: str) -> dict[str, object]:
        if name not in loaded:
            with pytest.MonkeyPatch.context() as patch:
                patch.chdir(folder)
                patch.delenv("NEWSFLOW_WAREHOUSE", raising=False)
                loaded[name] = {command: newsflow(*_args(command)) for command in _loads(name)}
            for command, result in loaded[name].items():
                assert result.exit_code == 0, f"{command}\n{result.output}"
        return loaded[name]

    return folder, load


@pytest.mark.parametrize("command", COMMANDS, ids=[c[len(".venv/bin/newsflow "):][:40] for c in COMMANDS])
def test_readme_command_runs(command, seeded, walkthrough, tmp_path, monkeypatch):
    name = _named_warehouse(command)
    if name in OWN_WAREHOUSES:
        folder, load = walkthrough
        loads = load(name)
        monkeypatch.chdir(folder)
        result = loads[command] if command in loads else newsflow(*_args(command))
    else:
        warehouse, _ = seeded
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("NEWSFLOW_WAREHOUSE", str(warehouse))
        result = newsflow(*_args(command))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    if "bad_spans" in command:
        assert re.search(r"│\s*0\s*│", result.stdout), result.stdout
    if command in OUTPUTS:
        assert result.stdout.rstrip("\n") == OUTPUTS[command].rstrip("\n")


def test_readme_demo_download(walkthrough):
    """The filtered download of the walkthrough gives the file name and the line count pasted under it."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    folder, load = walkthrough
    load("demo-warehouse")
    path, file_name, lines = DOWNLOAD.groups()
    with TestClient(create_app(folder / "demo-warehouse")) as client:
        answer = client.get(path)
    assert answer.status_code == 200, answer.text
    assert f'filename="{file_name}"' in answer.headers["content-disposition"]
    assert answer.content.count(b"\n") == int(lines)
