"""A virtual microphone for benchmarks and tests: speech from espeak-ng, played through ALSA's
file plugin as the default capture device (a real PortAudio stream, no sound card needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from edge_slm.voice.audio import RATE


def have_speech_tools() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def speak(text: str, path: Path, rate: int = RATE, channels: int = 1) -> Path:
    """A WAV of ``text``: a US voice at a calm pace, closer to a person than the default."""
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", str(channels), "-b", "16", str(path)], check=True)
    raw.unlink()
    return path


def raw_samples(wav: Path, rate: int = RATE) -> bytes:
    return subprocess.run(["sox", str(wav), "-r", str(rate), "-c", "1", "-b", "16", "-t", "raw", "-"],
                          check=True, capture_output=True).stdout


def silence(seconds: float, rate: int = RATE) -> bytes:
    return np.zeros(int(rate * seconds), dtype=np.int16).tobytes()


def alsa_mic(folder: Path, raw: bytes, only_rate: int | None = None) -> dict[str, str]:
    """Environment for a process whose default capture device replays ``raw`` (mono s16).

    With ``only_rate`` the device opens at that rate alone, like much USB hardware: ``raw`` must
    be at that rate. (A plug device whose rate converter does not exist refuses every other rate.)
    """
    infile = folder / "mic.raw"
    infile.write_bytes(raw)
    conf = folder / "asound.conf"
    capture = "wavmic"
    text = f'pcm.wavmic {{ type file; slave.pcm "null"; file "/dev/null"; infile "{infile}"; format "raw" }}\n'
    if only_rate:
        capture = f"mic{only_rate}"
        text += (f'pcm.{capture} {{ type plug; slave {{ pcm "wavmic"; rate {only_rate} }} '
                 f'rate_converter "none_installed" hint {{ show on description "{only_rate} Hz only" }} }}\n')
    text += f'pcm.!default {{ type asym; playback.pcm "null"; capture.pcm "{capture}" }}\n'
    conf.write_text(text)
    return {"ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}"}
