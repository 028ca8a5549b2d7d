"""A local Mosquitto broker as a child process: for ``edge-slm demo``, the MQTT bench and tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edge_slm.errors import EdgeSlmError


class BrokerError(EdgeSlmError, RuntimeError):
    """No local broker could be started (demo and benchmarks)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class LocalBroker:
    """Mosquitto on 127.0.0.1; ``extra`` lines go into its config (auth, TLS, ACL, persistence)."""

    def __init__(self, port: int | None = None, extra: str = "", workdir: Path | None = None,
                 persistence: bool = False) -> None:
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if binary is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.port = port or free_port()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="edge-slm-broker-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.extra = extra
        self.persistence = persistence
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / "mosquitto.log"

    def config_text(self) -> str:
        lines = [f"listener {self.port} 127.0.0.1", "set_tcp_nodelay true",
                 "max_queued_messages 100000", "log_dest file " + str(self.log), "log_type error", "log_type information",
                 "log_type warning", "log_type notice"]
        if os.geteuid() == 0:
            # Keep root: the work directory (often under a private temp dir) is root's alone.
            lines.append("user root")
        if "allow_anonymous" not in self.extra and "listener" not in self.extra:
            lines.append("allow_anonymous true")
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.workdir}/", "autosave_interval 1"]
        return "\n".join(lines) + "\n" + self.extra + "\n"

    def start(self) -> "LocalBroker":
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        self.process = subprocess.Popen([self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        if not wait_port(self.port):
            self.stop()
            raise BrokerError(f"mosquitto did not start: {self.log.read_text()[-500:]}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
