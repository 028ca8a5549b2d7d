"""What a new user or maintainer meets first: the README's commands, the documents the code cites,
and an architecture section that names every module."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT


def _readme_command(number: int) -> str:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"# {number}. "))
    return lines[start + 1].strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = _readme_command(2)
    assert "apt-get install" in command and "pytest" in command  # it installs what the tests need itself
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == command


def test_readme_commands_use_a_virtual_environment() -> None:
    """Debian 12 and Raspberry Pi OS refuse pip outside a venv (PEP 668): both commands make one."""
    for number in (1, 2):
        command = _readme_command(number)
        assert "python3 -m venv .venv && . .venv/bin/activate && pip install" in command
    assert "mosquitto-clients" in _readme_command(1)  # mosquitto_pub / mosquitto_sub of the next steps


def test_documents_the_code_cites_are_in_the_repository() -> None:
    cited = set()
    for path in [*(ROOT / "edge_slm").rglob("*.py"), *(ROOT / "tests").glob("*.py")]:
        cited |= set(re.findall(r"\b((?:docs/)?[A-Z]+\.md)\b", path.read_text(encoding="utf-8")))
    assert cited, "nothing cited"
    assert [name for name in cited if not (ROOT / name).is_file()] == []


def test_the_architecture_section_names_every_module() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Architecture"):text.index("## Using it")]
    modules = sorted(p for p in (ROOT / "edge_slm").rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    missing = [str(p.relative_to(ROOT)) for p in modules if not re.search(rf"\b{re.escape(p.name)}\b", section)]
    assert missing == []


def test_no_service_module_is_over_300_lines() -> None:
    long = {p.name: n for p in (ROOT / "edge_slm" / "service").glob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert long == {}
