"""The README on a fresh Debian 12 (slow): its two commands and its next steps, word for word."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, rigs_only

pytestmark = [pytest.mark.slow, rigs_only()]


def _messages(sub: str, topic_end: str) -> list[dict]:
    """The JSON payloads of `mosquitto_sub -v` lines whose topic ends with topic_end."""
    out = []
    for line in sub.splitlines():
        topic, _, payload = line.partition(" ")
        if topic.endswith(topic_end):
            out.append(json.loads(payload))
    return out


def test_readme_commands_install_and_pass_on_a_fresh_debian(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(ROOT / "tests/rigs/fresh-debian.sh"), str(tmp_path)],
                            capture_output=True, text=True, timeout=6000)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = dict(line.split(" ", 1) for line in (tmp_path / "steps.txt").read_text().splitlines())

    def tail(name: str) -> str:
        path = tmp_path / name
        return path.read_text(errors="replace")[-4000:] if path.exists() else f"(no {name})"

    assert steps.get("git") == "ok", tail("log.txt")
    # Command 1: installs and runs the demo end to end.
    assert steps.get("cmd1") == "rc=0", tail("cmd1.txt")
    assert "HassTurnOn" in (tmp_path / "cmd1.txt").read_text()
    # The next steps as the README gives them.
    assert steps.get("parse") == "rc=0", tail("parse.txt")
    assert json.loads((tmp_path / "parse.txt").read_text().splitlines()[-1])["intent"]["name"] == "HassTurnOn"
    assert steps.get("mosquitto") == "active"
    sub = (tmp_path / "sub.txt").read_text()
    intents = _messages(sub, "/intent")
    assert [m["intent"]["name"] for m in intents] == ["HassTurnOff", "HassTurnOn"], sub + tail("run.txt")
    assert intents[1]["id"] == "c1" and intents[1].get("area") == "kitchen"
    assert steps.get("run_exit") == "rc=0", tail("run.txt")
    # Command 2: everything the tests need, then the whole suite passes (its root rigs skip there).
    assert steps.get("cmd2") == "rc=0", tail("cmd2.txt")
    summary = (tmp_path / "cmd2.txt").read_text().strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert steps.get("done") == "ok"
