"""The units pass systemd's own checks; device profiles load; the installer's drop-ins follow them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from edge_slm.service.config import load_config
from edge_slm.service.install import dropin

UNITS = ["edge-slm.service", "edge-slm@.service"]
PROFILES = ["pi-zero-2w", "pi-3", "pi-4", "pi-5", "generic-arm64", "x86-dev"]
analyze = shutil.which("systemd-analyze")


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root holding systemd's stock units, our units and the venv's entry point they start."""
    root = tmp_path_factory.mktemp("root")
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    entry = root / "opt/edge-slm/venv/bin/edge-slm"
    entry.parent.mkdir(parents=True)
    entry.write_text("#!/bin/sh\n")
    entry.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(ROOT / "systemd" / unit, root / "etc/systemd/system" / unit)
    return root


@pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["edge-slm.service", "edge-slm@kitchen.service"])
def test_verify_is_clean(unit_root: Path, unit: str) -> None:
    result = subprocess.run([analyze, "verify", f"--root={unit_root}", "--man=no", unit],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "" and result.stdout.strip() == ""


@pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["edge-slm.service", "edge-slm@kitchen.service"])
def test_security_exposure_at_most_1_5(unit_root: Path, unit: str) -> None:
    result = subprocess.run([analyze, "security", "--offline=yes", f"--root={unit_root}", "--threshold=15", unit],
                            capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:] + result.stderr
    assert float(match.group(1)) <= 1.5
    assert result.returncode == 0


def test_units_have_the_required_settings() -> None:
    for unit in UNITS:
        text = (ROOT / "systemd" / unit).read_text()
        for needle in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "DynamicUser=yes", "StateDirectory=",
                       "CacheDirectory=", "ProtectSystem=strict", "CapabilityBoundingSet=\n",
                       "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallErrorNumber=EPERM",
                       "MemoryMax=", "CPUQuota=", "PrivateDevices=yes", "RestartPreventExitStatus=2"):
            assert needle in text, (unit, needle)


@pytest.mark.parametrize("profile", PROFILES)
def test_device_profiles_load_and_validate(profile: str) -> None:
    config = load_config(ROOT / "device_configs" / f"{profile}.toml")
    assert config.model.threads >= 1
    assert config.service.memory_max and config.service.cpu_quota
    text = dropin(config)
    assert f"MemoryMax={config.service.memory_max}" in text and "DeviceAllow" not in text


def test_voice_profile_gets_audio_devices_only_then(tmp_path: Path) -> None:
    body = (ROOT / "device_configs" / "pi-4.toml").read_text().replace("enabled = false", "enabled = true", 1)
    voice = tmp_path / "voice.toml"
    voice.write_text(body.replace("[voice]\nenabled = false", "[voice]\nenabled = true"))
    text = dropin(load_config(voice))
    assert "DeviceAllow=char-alsa rw" in text and "SupplementaryGroups=audio" in text


def test_installer_installs_and_uninstalls_into_a_scratch_root(tmp_path: Path) -> None:
    calls = tmp_path / "systemctl.log"
    fake_systemctl = tmp_path / "systemctl"
    # systemctl is the one piece that needs a running systemd; record what would be asked of it.
    fake_systemctl.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    fake_systemctl.chmod(0o755)
    env = dict(os.environ, EDGE_SLM_PREFIX=str(tmp_path / "opt"), EDGE_SLM_ETC=str(tmp_path / "etc"),
               EDGE_SLM_UNITS=str(tmp_path / "units"), SYSTEMCTL=str(fake_systemctl))
    (tmp_path / "units").mkdir()
    # Reuse this interpreter's packages instead of downloading into a fresh venv.
    venv = tmp_path / "opt" / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    pip_log = tmp_path / "pip.log"
    (venv / "pip").write_text(f"#!/bin/sh\necho \"$@\" >> {pip_log}\n")
    (venv / "pip").chmod(0o755)
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(["bash", str(ROOT / "systemd/install.sh"), "install", "--profile", "pi-4",
                             "--instance", "kitchen"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "units/edge-slm@.service").exists()
    assert "MemoryMax=400M" in (tmp_path / "units/edge-slm@kitchen.service.d/10-profile.conf").read_text()
    assert (tmp_path / "etc/kitchen.toml").read_text() == (ROOT / "device_configs/pi-4.toml").read_text()
    assert "enable --now edge-slm@kitchen.service" in calls.read_text()
    assert "[" not in pip_log.read_text()  # the pi-4 profile turns on no extra
    # A config that turns on Wyoming and a home: the installer installs those extras with the service.
    home = tmp_path / "home.yaml"
    home.write_text("areas: [{id: kitchen, name: Kitchen}]\n")
    (tmp_path / "etc" / "hall.toml").write_text(f'[home]\nfile = "{home}"\n[wyoming]\nenabled = true\n')
    result = subprocess.run(["bash", str(ROOT / "systemd/install.sh"), "install", "--instance", "hall"], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"install --quiet {ROOT}[home,wyoming]" in pip_log.read_text()
    result = subprocess.run(["bash", str(ROOT / "systemd/install.sh"), "uninstall", "--instance", "kitchen",
                             "--purge"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "units/edge-slm@.service").exists()
    assert not (tmp_path / "etc/kitchen.toml").exists()
    assert "disable --now edge-slm@kitchen.service" in calls.read_text()
