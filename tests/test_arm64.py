"""ARM64 proof: the runtime under qemu-aarch64 (Cortex-A72) gives the same intents as on x86."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import ROOT, rigs_only

from edge_slm.engine.nlu import Engine

COMMANDS = [
    "turn on the lights in the kitchen", "switch off the ceiling fan in the bedroom",
    "set the living room lights to fifty percent", "what's the weather like", "set a timer for ten minutes",
    "set the thermostat to 21 degrees", "pause the music", "add milk to my shopping list", "what time is it",
    "kill the lights in the den", "open the garage door", "lock the front door", "tell me a joke",
    "what is the capital of peru", "make the desk lamp blue", "is the front door locked",
]

pytestmark = [pytest.mark.slow, rigs_only()]


def test_default_bundle_gives_the_same_intents_on_arm64() -> None:
    script = ROOT / "tests" / "rigs" / "arm64-root.sh"
    prepare = subprocess.run(["bash", str(script), "prepare"], capture_output=True, text=True, timeout=1800)
    assert prepare.returncode == 0, prepare.stderr[-3000:]
    run = subprocess.run(["bash", str(script), "run", str(ROOT / "tests" / "rigs" / "arm64_parse.py"),
                          json.dumps(COMMANDS)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    arm = json.loads(run.stdout.strip().splitlines()[-1])
    assert arm["machine"] == "aarch64"
    x86 = Engine.load(None, threads=1, cache_size=0).parse_batch(COMMANDS)
    expected = [[p.intent, p.recognized, [[s.name, s.raw] for s in p.slots]] for p in x86]
    assert arm["results"] == expected
