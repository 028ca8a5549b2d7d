"""A real start of edge-slm.service under systemd in a booted nspawn container (slow)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, rigs_only

pytestmark = [pytest.mark.slow, rigs_only()]


def test_service_starts_answers_and_is_restarted_by_the_watchdog(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(ROOT / "tests/rigs/nspawn-service.sh"), str(tmp_path)],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads((tmp_path / "result.json").read_text())
    journal = (tmp_path / "journal.txt").read_text() if (tmp_path / "journal.txt").exists() else ""
    assert outcome["ready"] == "yes", journal[-3000:]
    intent = json.loads((tmp_path / "intent.json").read_text())
    assert intent["intent"]["name"] == "HassTurnOn"
    assert outcome["user"] not in ("", "root")  # DynamicUser
    assert outcome["restarted"] == "yes", journal[-3000:]
    assert "Watchdog timeout" in (tmp_path / "console.txt").read_text() + journal or int(outcome["restarts"]) >= 1
