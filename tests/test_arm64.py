"""ARM64 proof: the runtime under qemu-aarch64 (Cortex-A72) gives the same intents as on x86."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

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


SPOKEN = ["turn on the kitchen lights", "is the front door locked"]


def test_whisper_hears_the_same_on_arm64(tmp_path) -> None:
    """The Pi 5's recogniser: CTranslate2's aarch64 wheel hears what x86 hears and the engine takes
    it for the same intent (for correctness only: qemu is 50-350 times slower than the board).
    Its int8 kernels are not x86's, and at the margin a word may differ: "turn on the kitchen
    light" on arm64 in one of two runs, "lights" on x86."""
    pytest.importorskip("ctranslate2")
    from difflib import SequenceMatcher

    from edge_slm.bench.rig import speak
    from edge_slm.voice.audio import read_wav
    from edge_slm.voice.whisper import Whisper

    script = ROOT / "tests" / "rigs" / "arm64-root.sh"
    prepare = subprocess.run(["bash", str(script), "prepare"], capture_output=True, text=True, timeout=1800)
    assert prepare.returncode == 0, prepare.stderr[-3000:]
    root = Path(os.environ.get("EDGE_SLM_ARM64_ROOT", "/var/cache/edge-slm/arm64-root"))
    audio = root / "opt" / "audio"
    shutil.rmtree(audio, ignore_errors=True)
    audio.mkdir(parents=True)
    wavs = [speak(text, audio / f"{i}.wav") for i, text in enumerate(SPOKEN)]
    run = subprocess.run(["bash", str(script), "run", str(ROOT / "tests" / "rigs" / "arm64_whisper.py"), "3",
                          *[f"/opt/audio/{w.name}" for w in wavs]], capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stderr[-3000:]
    arm = json.loads(run.stdout.strip().splitlines()[-1])
    assert arm["machine"] == "aarch64"
    whisper = Whisper(ROOT / "edge_slm" / "bundles" / "default", beam=3, threads=2)
    x86 = [whisper.transcribe(read_wav(w)).text for w in wavs]
    engine = Engine.load(None, threads=1, cache_size=0)
    for said, on_arm, on_x86 in zip(SPOKEN, arm["texts"], x86):
        assert SequenceMatcher(None, on_arm, on_x86).ratio() > 0.9, (on_arm, on_x86)
        assert engine.parse(on_arm).intent == engine.parse(on_x86).intent == engine.parse(said).intent, \
            (on_arm, on_x86)
