"""A real Home Assistant Core for the slow tests: started in the root of tests/rigs/ha-root.sh,
onboarded without its UI, driven over its REST and WebSocket APIs."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from conftest import ROOT

RIG = ROOT / "tests" / "rigs" / "ha-root.sh"

# Lights, switches and covers backed by input_booleans, so their state is real and changes.
CONFIGURATION = """\
homeassistant:
  name: Test home
  unit_system: metric
  time_zone: UTC
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  currency: EUR
  country: NL
  language: en
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
conversation:
intent:
blueprint:
automation: !include automations.yaml
input_boolean:
{booleans}
template:
  - light:
{lights}
  - switch:
{switches}
  - cover:
{covers}
"""

LIGHTS = {"kitchen_pendant": "Kitchen Pendant", "kitchen_spots": "Kitchen Spots",
          "hallway_light": "Hallway Light", "reading_lamp": "Reading Lamp"}
SWITCHES = {"aquarium_heater": "Aquarium Heater", "coffee_machine": "Coffee Machine"}
COVERS = {"office_blinds": "Office Blinds"}


def _on_off(key: str, name: str, on: str, off: str, kind: str) -> str:
    return (f"      - name: {name}\n        unique_id: {key}\n"
            f"        {kind}: \"{{{{ is_state('input_boolean.{key}_state', 'on') }}}}\"\n"
            f"        {on}:\n          action: input_boolean.turn_on\n"
            f"          target: {{entity_id: input_boolean.{key}_state}}\n"
            f"        {off}:\n          action: input_boolean.turn_off\n"
            f"          target: {{entity_id: input_boolean.{key}_state}}\n")


def configuration(port: int) -> str:
    everything = {**LIGHTS, **SWITCHES, **COVERS}
    booleans = "".join(f"  {key}_state:\n    name: {name} state\n" for key, name in everything.items())
    return CONFIGURATION.format(
        port=port, booleans=booleans,
        lights="".join(_on_off(k, n, "turn_on", "turn_off", "state") for k, n in LIGHTS.items()),
        switches="".join(_on_off(k, n, "turn_on", "turn_off", "state") for k, n in SWITCHES.items()),
        covers="".join(_on_off(k, n, "open_cover", "close_cover", "state").replace(
            "state: \"{{ is_state", "device_class: blind\n        state: \"{{ is_state") for k, n in COVERS.items()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HomeAssistant:
    """One Home Assistant, its owner onboarded and a long-lived token in hand."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.config_dir = workdir / "config"
        self.config_dir.mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "home-assistant.log"
        self.token = ""

    # ------------------------------------------------------------------ life
    def start(self, timeout: float = 240) -> None:
        (self.config_dir / "configuration.yaml").write_text(configuration(self.port))
        (self.config_dir / "automations.yaml").write_text("[]\n")
        subprocess.run(["bash", str(RIG), "prepare"], check=True, timeout=1800)
        pid = int(subprocess.run(["bash", str(RIG), "start", str(self.config_dir), str(self.log)], check=True,
                                 timeout=60, capture_output=True, text=True).stdout.split()[-1])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists():
                raise AssertionError(f"Home Assistant exited:\n{self.tail()}")
            try:
                self.rest("GET", "/api/onboarding", auth=False)
                break
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        else:
            raise AssertionError(f"Home Assistant did not answer in {timeout} s:\n{self.tail()}")
        self._onboard()
        while time.monotonic() < deadline:
            if self.rest("GET", "/api/config").get("state") == "RUNNING":
                return
            time.sleep(0.5)
        raise AssertionError(f"Home Assistant did not reach RUNNING:\n{self.tail()}")

    def stop(self) -> None:
        subprocess.run(["bash", str(RIG), "stop"], timeout=60, check=False)

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else "(no log)"

    def _onboard(self) -> None:
        client = f"{self.url}/"
        user = self.rest("POST", "/api/onboarding/users", {"client_id": client, "name": "Owner",
                                                            "username": "owner", "password": "owner-pass-1234",
                                                            "language": "en"}, auth=False)
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": user["auth_code"],
                                       "client_id": client}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}/auth/token", data=form), timeout=30) as r:
            self.token = json.loads(r.read())["access_token"]
        self.rest("POST", "/api/onboarding/analytics", {})
        self.rest("POST", "/api/onboarding/integration",
                  {"client_id": client, "redirect_uri": f"{client}?auth_callback=1"})
        self.token = self.ws([{"type": "auth/long_lived_access_token", "client_name": "edge-slm tests",
                               "lifespan": 1}])[0]

    # ------------------------------------------------------------------ APIs
    def rest(self, method: str, path: str, body: Any = None, auth: bool = True, timeout: float = 60) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None
        return json.loads(text) if text else None

    def ws(self, commands: list[dict[str, Any]]) -> list[Any]:
        """Run WebSocket commands in order on one authenticated connection; their results."""
        from websockets.sync.client import connect

        results = []
        with connect(f"ws://127.0.0.1:{self.port}/api/websocket", max_size=64 << 20) as ws:
            json.loads(ws.recv(timeout=30))
            ws.send(json.dumps({"type": "auth", "access_token": self.token}))
            assert json.loads(ws.recv(timeout=30))["type"] == "auth_ok"
            for ident, command in enumerate(commands, start=1):
                ws.send(json.dumps({"id": ident, **command}))
                while True:
                    answer = json.loads(ws.recv(timeout=60))
                    if answer.get("id") == ident and answer.get("type") == "result":
                        break
                assert answer["success"], f"{command['type']}: {answer.get('error')}"
                results.append(answer["result"])
        return results

    def flow(self, handler: str, *steps: dict[str, Any]) -> dict[str, Any]:
        """A config flow through the REST API, step by step; the last answer."""
        answer = self.rest("POST", "/api/config/config_entries/flow", {"handler": handler})
        for step in steps:
            answer = self.rest("POST", f"/api/config/config_entries/flow/{answer['flow_id']}", step)
        return answer

    def state(self, entity_id: str) -> dict[str, Any]:
        return self.rest("GET", f"/api/states/{entity_id}")

    def wait_state(self, entity_id: str, want: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                state = self.state(entity_id)
            except AssertionError:
                state = {}
            if state.get("state") == want:
                return state
            time.sleep(0.2)
        raise AssertionError(f"{entity_id} is {state.get('state')!r}, not {want!r}:\n{self.tail()}")

    def wait_entity(self, entity_id: str, timeout: float = 30) -> dict[str, Any]:
        """Until the entity exists and is available (MQTT entities follow their availability topic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = self.state(entity_id)
                if state["state"] != "unavailable":
                    return state
            except AssertionError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{entity_id} never appeared or stayed unavailable:\n{self.tail()}")
