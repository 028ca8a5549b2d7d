from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared" / "data"


def rigs_only() -> pytest.MarkDecorator:
    """Rigs that install system packages and build roots under /var/cache/edge-slm run only when asked."""
    if os.environ.get("EDGE_SLM_RIGS") != "1":
        return pytest.mark.skip(reason="root rig: set EDGE_SLM_RIGS=1 to run it (as root; installs debootstrap, "
                                       "qemu-user-static, systemd-container and builds roots in /var/cache/edge-slm, "
                                       "one of them a Debian testing root with Home Assistant Core)")
    if os.geteuid() != 0:
        return pytest.mark.skip(reason="root rig: EDGE_SLM_RIGS=1 is set but this is not root")
    return pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle from the real export pipeline on a tiny recipe (a few training steps)."""
    pytest.importorskip("torch")
    from export.build import build
    from export.recipe import load_recipe

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    return build(load_recipe(DATA / "tiny.toml"), out)


@pytest.fixture()
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, target)
    return target


@pytest.fixture(scope="session")
def engine():
    from edge_slm.engine.nlu import Engine

    return Engine.load(None, threads=1)


@pytest.fixture()
def broker(tmp_path: Path):
    from edge_slm.service.broker import LocalBroker

    with LocalBroker(workdir=tmp_path / "broker") as running:
        yield running


def make_config(port: int, **sections: dict):
    """A real Config, as the daemon would load it, pointed at the test broker."""
    import dataclasses

    from edge_slm.service.config import Config

    config = Config()
    mqtt_overrides = dict(sections.pop("mqtt", {}))
    mqtt_overrides.setdefault("port", port)
    config = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, **mqtt_overrides))
    for name, values in sections.items():
        config = dataclasses.replace(config, **{name: dataclasses.replace(getattr(config, name), **values)})
    return config


@pytest.fixture()
def start_daemon(engine):
    from edge_slm.service.daemon import Daemon

    started = []

    def start(config):
        daemon = Daemon(config, engine=engine)
        daemon.start()
        assert daemon.wait_connected(10), "daemon did not connect"
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if not daemon.stopping.is_set():
            daemon.stop(drain_timeout=2)
