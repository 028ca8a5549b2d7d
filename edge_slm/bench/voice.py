"""``edge-slm bench --voice``: spoken commands through the ALSA capture path, end to end.

Speech comes from espeak-ng (a US voice at 140 wpm), is played into the default
capture device through ALSA's file plugin, and ``edge-slm listen`` hears it:
VAD, the recogniser (``--recognizer``), the engine.  Needs espeak-ng and sox on the machine.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_slm.bench.load import LoadWatch, note, progress
from edge_slm.bench.rig import alsa_mic, have_speech_tools, raw_samples, silence, speak

COMMANDS = [
    "turn on the kitchen lights", "turn off the bedroom lights", "what time is it", "pause the music",
    "set the living room lights to fifty percent", "what is the weather like", "open the garage door",
    "add milk to my shopping list", "set the temperature to twenty degrees", "turn on the heater",
]


def run_voice_bench(bundle: str | None, recognizer: str = "pocketsphinx") -> dict[str, Any]:
    if not have_speech_tools():
        raise RuntimeError("the voice benchmark needs espeak-ng and sox")
    watch = LoadWatch().start()
    progress(f"speaking {len(COMMANDS)} commands with espeak-ng")
    folder = Path(tempfile.mkdtemp(prefix="edge-slm-voice-bench-"))
    gap = silence(1.2)
    stream = gap + b"".join(raw_samples(speak(t, folder / f"c{i}.wav")) + gap
                            for i, t in enumerate(COMMANDS)) + gap
    env = dict(os.environ, **alsa_mic(folder, stream))
    args = [sys.executable, "-m", "edge_slm", "listen", "--seconds", f"{len(stream) / 32000:.2f}",
            "--recognizer", recognizer]
    if bundle:
        args += ["--bundle", bundle]
    progress(f"edge-slm listen on a virtual microphone ({len(stream) / 32000:.0f} s of audio, real time)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    messages = [json.loads(line) for line in out.stdout.splitlines()]
    latency = np.array([m["latency_ms"] for m in messages])
    rtf = np.array([m["asr"]["rtf"] for m in messages])
    return {
        "utterances": len(COMMANDS), "heard": len(messages),
        "recognizer": messages[0]["asr"]["recognizer"] if messages else None,
        "end_of_speech_to_intent_ms": {"p50": round(float(np.percentile(latency, 50)), 1),
                                       "max": round(float(latency.max()), 1)} if messages else None,
        "real_time_factor": {"mean": round(float(rtf.mean()), 4), "max": round(float(rtf.max()), 4)} if messages else None,
        "peak_rss_mb": round(max(peak, before) / 1024, 1),
        "texts": [m["text"] for m in messages],
        "machine_load": watch.result(),
    }


def voice_markdown(result: dict[str, Any]) -> str:
    return (
        f"| measure ({result['recognizer']}, {result['heard']} of {result['utterances']} spoken commands heard) | value |\n"
        "|---|---|\n"
        f"| end of speech -> intent message, p50 / max | {result['end_of_speech_to_intent_ms']['p50']} / "
        f"{result['end_of_speech_to_intent_ms']['max']} ms |\n"
        f"| real-time factor of recognition, mean / max | {result['real_time_factor']['mean']} / "
        f"{result['real_time_factor']['max']} |\n"
        f"| peak RSS of `edge-slm listen` (engine + VAD + recogniser) | {result['peak_rss_mb']} MB |\n\n"
        + note(result.get("machine_load", {}))
    )
