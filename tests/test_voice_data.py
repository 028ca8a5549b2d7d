"""`edge-slm bench --voice-data`: labelled recordings scored clean and with noise mixed in."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from edge_slm.bench.rig import have_speech_tools, speak
from edge_slm.bench.voice_data import kitchen_noise, load_labelled, mix


def test_noise_is_mixed_at_the_snr_asked() -> None:
    rng = np.random.default_rng(0)
    speech = (rng.standard_normal(32000) * 3000).astype(np.int16)
    noise = kitchen_noise(5.0)
    assert abs(noise.std() - 1.0) < 1e-6
    for snr in (24.0, 12.0, 0.0):
        noisy = mix(speech, noise, snr, offset=123)
        added = noisy.astype(np.float64) - speech
        measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(added ** 2))
        assert abs(measured - snr) < 0.2


def test_a_folder_without_labels_is_a_clear_error(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "edge_slm", "bench", "--voice-data", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "label.json: cannot be read as labels" in out.stderr
    assert "Traceback" not in out.stderr


def test_labels_that_name_no_recording_are_left_out_and_none_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "label.json").write_text(json.dumps({"a.wav": {"intent": "X", "slots": {}}}))
    with pytest.raises(Exception, match="no labelled WAV or FLAC"):
        load_labelled(tmp_path)
    (tmp_path / "label.json").write_text("{not json")
    with pytest.raises(Exception, match="cannot be read as labels"):
        load_labelled(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not have_speech_tools(), reason="needs espeak-ng and sox")
def test_spoken_commands_scored_clean_and_in_noise(tmp_path: Path) -> None:
    """Real speech (espeak-ng) of three commands, one of them with a FLAC twin."""
    cases = {"lights.wav": ("turn off the kitchen lights", "HassTurnOff", {"area": "kitchen"}),
             "time.wav": ("what time is it", "HassGetCurrentTime", {}),
             "pause.wav": ("pause the music", "HassMediaPause", {})}
    labels = {}
    for name, (text, intent, slots) in cases.items():
        speak(text, tmp_path / name)
        labels[name] = {"intent": intent, "slots": slots}
    (tmp_path / "label.json").write_text(json.dumps(labels))
    with wave.open(str(tmp_path / "time.wav")) as w:
        assert w.getframerate() == 16000
    out = subprocess.run([sys.executable, "-m", "edge_slm", "bench", "--voice-data", str(tmp_path), "--snr", "6",
                          "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    clean, noisy = result["rows"]
    assert (clean["condition"], noisy["condition"]) == ("clean", "noise at 6 dB SNR")
    assert clean["total"] == 3 and clean["accepted"] == 3, clean["misses"]
    assert 0 < clean["rtf"] < 1
    # RTF is over the speech decoded, never the recordings' silence around it.
    assert 0 < clean["speech_seconds"] < result["audio_seconds"]
    assert 0 < clean["decode_ms"]["p50"] <= clean["decode_ms"]["max"]


def test_noise_suppression_keeps_the_stream_and_lowers_steady_noise() -> None:
    pytest.importorskip("webrtc_noise_gain")
    from edge_slm.voice.clean import Cleaner

    noise = (kitchen_noise(4.0, seed=3) * 2000).astype(np.int16)
    chunks = [noise[i:i + 512] for i in range(0, noise.size, 512)]
    cleaned = np.concatenate(list(Cleaner(4, 0).stream(chunks)))
    assert cleaned.size == noise.size - noise.size % 160  # whole 10 ms frames, none lost
    later = slice(16000, None)  # after the suppressor has learnt the noise
    assert np.abs(cleaned[later].astype(float)).mean() < 0.5 * np.abs(noise[later].astype(float)).mean()
    with pytest.raises(Exception, match="0-4"):
        Cleaner(7, 0)
