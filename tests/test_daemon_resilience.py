"""The daemon as a real process: last will, SIGTERM, broker restarts, TLS + auth + ACL, bad config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT
from mqtt_helpers import Collector

PREFIX = "edge-slm/default"


def write_config(path: Path, port: int, extra: str = "") -> Path:
    path.write_text(f'[mqtt]\nport = {port}\nclient_id = "proc-{path.stem}"\n{extra}')
    return path


def spawn(config: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    """The daemon as a process; with ``log``, its (one line per command) log goes to a file, not a pipe."""
    out = log.open("ab") if log else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "edge_slm", "run", "--config", str(config)],
                            cwd=ROOT, stdout=out, stderr=out)


def wait_online(watch: Collector, timeout: float = 30) -> None:
    assert watch.wait_for(lambda m: any(t.endswith("/status") and json.loads(p)["state"] == "online"
                                        for t, p, _ in m), timeout=timeout), "daemon never came online"


def test_last_will_after_kill_9(broker, tmp_path: Path) -> None:
    proc = spawn(write_config(tmp_path / "kill.toml", broker.port, "keepalive = 5\n"))
    watch = Collector(broker.port, [f"{PREFIX}/status"])
    try:
        wait_online(watch)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert watch.wait_for(lambda m: json.loads(m[-1][1])["state"] == "offline", timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        watch.close()


def test_sigterm_finishes_and_publishes_offline(broker, tmp_path: Path) -> None:
    proc = spawn(write_config(tmp_path / "term.toml", broker.port))
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    try:
        wait_online(watch)
        for i in range(20):
            watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the fan", "id": f"t{i}"}))
        assert watch.wait_for(lambda m: sum(t.endswith("/response") for t, _, _ in m) >= 5, timeout=15)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert watch.wait_for(lambda m: any(t.endswith("/status") and json.loads(p)["state"] == "offline"
                                            for t, p, _ in m), timeout=5)
        stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert "turn on the fan" not in stderr  # command text is never logged above debug
        assert all(json.loads(line)["level"] for line in stderr.splitlines() if line.startswith("{"))
        # What the daemon had taken was finished before it exited; what reached it while it was
        # stopping was left unacknowledged in the broker, and the next start answers it: all 20,
        # each once.
        proc = spawn(write_config(tmp_path / "term.toml", broker.port))

        def answered(messages) -> list[str]:
            return [json.loads(p)["id"] for t, p, _ in messages if t.endswith("/response")]

        assert watch.wait_for(lambda m: len(set(answered(m))) >= 20, timeout=30), sorted(answered(watch.messages))
        time.sleep(0.5)
        assert sorted(answered(watch.messages)) == sorted(f"t{i}" for i in range(20))
    finally:
        if proc.poll() is None:
            proc.kill()
        watch.close()


def test_broker_restart_in_the_middle_of_1000_commands_loses_none(tmp_path: Path, engine) -> None:
    from conftest import make_config

    from edge_slm.service.broker import LocalBroker
    from edge_slm.service.daemon import Daemon

    broker = LocalBroker(workdir=tmp_path / "b", persistence=True).start()
    daemon = Daemon(make_config(broker.port, mqtt={"client_id": "restart-daemon", "keepalive": 5},
                                limits={"rate_per_second": 0.0, "queue_size": 4096}), engine=engine)
    daemon.start()
    assert daemon.wait_connected(10)
    sink = Collector(broker.port, [f"{PREFIX}/response"], client_id="restart-sink", persistent=True)
    source = Collector(broker.port, ["unused/topic"], client_id="restart-source", persistent=True)
    try:
        for i in range(1000):
            source.publish(f"{PREFIX}/command", json.dumps({"text": "open the garage door", "id": f"c{i}"}))
            if i == 400:
                time.sleep(0.2)
                broker.stop()
                time.sleep(1.0)
                broker.start()
        ok = sink.wait_for(lambda m: len({json.loads(p)["id"] for _, p, _ in m}) >= 1000, timeout=90)
        time.sleep(0.5)
        got = Counter(json.loads(p)["id"] for _, p, _ in sink.messages)
        assert ok, f"{1000 - len(got)} commands lost"
        assert set(got) == {f"c{i}" for i in range(1000)}
        # Commands answered but not yet acknowledged when the broker went away come back: never run twice.
        # (The sink itself may see a response twice: its own QoS 1 deliveries are redelivered too.)
        assert daemon.handled == 1000
    finally:
        daemon.stop(drain_timeout=2)
        sink.close()
        source.close()
        broker.stop()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture()
def secure_broker(tmp_path: Path):
    from edge_slm.service.broker import LocalBroker, free_port

    pki = tmp_path / "pki"
    pki.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=edge-slm test CA", cwd=pki)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=pki)
    (pki / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=pki)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pki / "passwd"), "device", "s3cret-pass"], check=True)
    (pki / "acl").write_text("user device\ntopic readwrite edge-slm/#\ntopic readwrite hermes/#\n"
                             "topic readwrite homeassistant/#\n")
    for f in pki.iterdir():
        os.chmod(f, 0o644)
    os.chmod(pki, 0o755)
    port = free_port()
    extra = (f"listener {port} 127.0.0.1\ncafile {pki}/ca.crt\ncertfile {pki}/server.crt\n"
             f"keyfile {pki}/server.key\nallow_anonymous false\npassword_file {pki}/passwd\nacl_file {pki}/acl\n")
    plain = free_port()
    broker = LocalBroker(port=plain, extra=extra + "allow_anonymous false\n", workdir=tmp_path / "broker")
    broker.start()
    assert broker.process is not None
    from edge_slm.service.broker import wait_port

    assert wait_port(port)
    yield port, pki
    broker.stop()


def test_tls_password_acl(secure_broker, tmp_path: Path, engine, caplog: pytest.LogCaptureFixture) -> None:
    import dataclasses
    import logging

    from conftest import make_config

    from edge_slm.service.daemon import Daemon

    port, pki = secure_broker
    (tmp_path / "pw").write_text("s3cret-pass\n")
    (tmp_path / "bad").write_text("wrong\n")
    os.chmod(tmp_path / "pw", 0o600)
    os.chmod(tmp_path / "bad", 0o600)
    good = make_config(port, mqtt={"username": "device", "password_file": str(tmp_path / "pw"),
                                   "tls_ca": str(pki / "ca.crt"), "host": "localhost", "client_id": "tls-ok"})
    daemon = Daemon(good, engine=engine)
    daemon.start()
    try:
        assert daemon.wait_connected(10)
        from edge_slm.service.mqtt import make_client

        seen: list[bytes] = []
        probe = make_client(dataclasses.replace(good, mqtt=dataclasses.replace(good.mqtt, client_id="probe")),
                            "probe", persistent=False)
        probe.on_message = lambda c, u, m: seen.append(m.payload)
        probe.on_connect = lambda c, *a: c.subscribe(f"{PREFIX}/response", 1)
        probe.connect("localhost", port)
        probe.loop_start()
        time.sleep(0.5)
        probe.publish(f"{PREFIX}/command", b"turn on the kitchen lights", qos=1)
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen and json.loads(seen[0])["intent"] == "HassTurnOn"
        probe.loop_stop()
        probe.disconnect()
    finally:
        daemon.stop(drain_timeout=2)

    caplog.set_level(logging.ERROR, logger="edge_slm.service")
    bad = make_config(port, mqtt={"username": "device", "password_file": str(tmp_path / "bad"),
                                  "tls_ca": str(pki / "ca.crt"), "host": "localhost", "client_id": "tls-bad"})
    intruder = Daemon(bad, engine=engine)
    intruder.start()
    try:
        assert not intruder.wait_connected(3)
        refused = [r for r in caplog.records if r.getMessage() == "broker refused the connection"]
        assert refused and refused[0].reason in ("Not authorized", "Bad user name or password")
        assert all("wrong" not in r.getMessage() and "wrong" not in str(vars(r)) for r in caplog.records)
    finally:
        intruder.stop(drain_timeout=1)


@pytest.mark.parametrize("body,needle", [
    ("[mqtt]\nprot = 1\n", "unknown key 'mqtt.prot'"),
    ('[mqtt]\nport = "x"\n', "'mqtt.port' must be int, not str"),
    ('[model]\nbundle = "/nonexistent/bundle"\n', "'model.bundle' /nonexistent/bundle does not exist"),
    ('[mqtt]\ntopic_prefix = "home/+"\n', "'mqtt.topic_prefix' must be non-empty, hold no '+' or '#'"),
    ('[mqtt]\ntopic_prefix = "edge/#"\n', "'mqtt.topic_prefix' must be non-empty, hold no '+' or '#'"),
    ('[site]\nid = "a/b"\n', "'site.id' must be non-empty and hold no '+', '#' or '/'"),
    ('[hermes]\nsite_areas = {satellite = 3}\n', "'hermes.site_areas' must be a table of strings"),
])
def test_bad_config_fails_with_one_line(tmp_path: Path, body: str, needle: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body)
    result = subprocess.run([sys.executable, "-m", "edge_slm", "run", "--config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(config) in lines[0]


def test_a_prefix_with_slashes_is_a_topic_tree(tmp_path: Path) -> None:
    from edge_slm.service.config import load_config

    config = tmp_path / "ok.toml"
    config.write_text('[mqtt]\ntopic_prefix = "home/assistant"\n[hermes]\nsite_areas = {kitchen-sat = "kitchen"}\n')
    loaded = load_config(config)
    assert loaded.mqtt.topic_prefix == "home/assistant" and loaded.hermes.site_areas == {"kitchen-sat": "kitchen"}


def test_a_wyoming_service_that_cannot_listen_stops_the_daemon(broker, tmp_path: Path) -> None:
    """Its port is taken: one clear line and exit status 1, never an "online" daemon without it."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    config = write_config(tmp_path / "w.toml", broker.port,
                          f'[wyoming]\nenabled = true\nuri = "tcp://127.0.0.1:{taken.getsockname()[1]}"\n')
    try:
        result = subprocess.run([sys.executable, "-m", "edge_slm", "run", "--config", str(config)],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        taken.close()
    assert result.returncode == 1, result.stderr[-2000:]
    critical = [json.loads(line) for line in result.stderr.splitlines() if '"critical"' in line.lower()]
    assert critical and "wyoming: cannot serve" in str(critical[0]["threads"]), result.stderr[-2000:]


def test_a_voice_pipeline_that_cannot_start_stops_the_service_with_one_line(broker, tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    config = write_config(tmp_path / "v.toml", broker.port,
                          '[voice]\nenabled = true\nrecognizer = "vosk"\nvosk_model = "/nonexistent/model"\n')
    result = subprocess.run([sys.executable, "-m", "edge_slm", "run", "--config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "edge-slm: voice" in result.stderr and "Traceback" not in result.stderr
    assert "READY" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stop_and_restart_mid_stream_loses_none_and_runs_none_twice(broker, tmp_path: Path, how: int) -> None:
    """1,000 QoS 1 commands; the daemon is stopped a third of the way in and restarted 3 s later."""
    state = tmp_path / "state"
    config = write_config(tmp_path / "restart.toml", broker.port,
                          f'keepalive = 5\n[limits]\nrate_per_second = 0.0\nqueue_size = 4096\n'
                          f'[service]\nstate_dir = "{state}"\n')
    sink = Collector(broker.port, [f"{PREFIX}/intent", f"{PREFIX}/error", f"{PREFIX}/status"],
                     client_id=f"sink-{how}", persistent=True)
    source = Collector(broker.port, ["unused/topic"], client_id=f"source-{how}", persistent=True)
    log = tmp_path / "daemon.log"
    proc = spawn(config, log)
    try:
        wait_online(sink)
        stopped_at = None
        killed_at = 0.0
        for i in range(1000):
            source.publish(f"{PREFIX}/command", json.dumps({"text": "turn on the kitchen lights", "id": f"k{i}"}))
            time.sleep(0.002)
            if i == 330:
                killed_at = time.time()
                proc.send_signal(how)
                proc.wait(20)
                stopped_at = time.monotonic()
            if stopped_at and proc.returncode is not None and time.monotonic() - stopped_at >= 3:
                proc = spawn(config, log)
                stopped_at = None
        if stopped_at:
            time.sleep(max(0.0, 3 - (time.monotonic() - stopped_at)))
            proc = spawn(config, log)

        def answered(messages) -> int:
            return len({json.loads(p)["id"] for t, p, _ in messages if t.endswith("/intent")})

        done = sink.wait_for(lambda m: answered(m) >= 1000, timeout=120)
        time.sleep(1.0)  # anything executed twice would show up now
        intents = Counter(json.loads(p)["id"] for t, p, _ in sink.messages if t.endswith("/intent"))
        lost = [f"k{i}" for i in range(1000) if f"k{i}" not in intents]
        twice = [k for k, n in intents.items() if n > 1]
        duplicates = [json.loads(p) for t, p, _ in sink.messages
                      if t.endswith("/error") and json.loads(p)["code"] == "duplicate"]
        print(f"{how!r}: lost {len(lost)}, executed twice {len(twice)}, redeliveries answered duplicate "
              f"{len(duplicates)}")
        assert done and not lost, f"{len(lost)} lost: {lost[:10]}; log: {log.read_text()[-1500:]}"
        if how == signal.SIGTERM:
            assert not twice, f"{len(twice)} executed twice: {twice[:10]}"
        else:
            # SIGKILL can land after an answer left and before the broker's PUBACK came back: that
            # one command is redelivered and runs again (at least once; docs/DESIGN.md). Only a command
            # answered in the last moment before the kill may do so.
            first = {}
            for t, p, _ in sink.messages:
                if t.endswith("/intent"):
                    message = json.loads(p)
                    first.setdefault(message["id"], message["time"])
            late = [k for k in twice if not killed_at - 1.0 <= first[k] <= killed_at + 0.05]
            assert len(twice) <= 1 and not late, f"executed twice: {twice[:10]}, not at the kill: {late}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)
        sink.close()
        source.close()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_50_mb_payload_never_reaches_the_daemons_memory(broker, tmp_path: Path) -> None:
    """MQTT 5: the daemon's maximum packet size makes the broker drop it (3.1.1: see README)."""
    proc = spawn(write_config(tmp_path / "big.toml", broker.port), tmp_path / "big.log")
    watch = Collector(broker.port, [f"{PREFIX}/#"])
    try:
        wait_online(watch)
        watch.publish(f"{PREFIX}/command", json.dumps({"text": "pause the music", "id": "warm"}))
        assert watch.wait_for(lambda m: any(t.endswith("/response") for t, _, _ in m))
        before = _rss_mb(proc.pid)
        watch.publish(f"{PREFIX}/command", b"x" * (50 << 20)).wait_for_publish(30)
        watch.publish(f"{PREFIX}/command", json.dumps({"text": "turn off the porch light", "id": "after"}))
        assert watch.wait_for(lambda m: any(t.endswith("/response") and json.loads(p)["id"] == "after"
                                            for t, p, _ in m), timeout=20)
        grown = _rss_mb(proc.pid) - before
        print(f"daemon RSS {before:.1f} MB before, grew {grown:.1f} MB with a 50 MB payload sent")
        assert grown < 10
    finally:
        proc.terminate()
        proc.wait(20)
        watch.close()
