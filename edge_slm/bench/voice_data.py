"""``edge-slm bench --voice-data DIR``: spoken-command acceptance on a folder of labelled recordings,
clean and with noise mixed in at given SNRs, scored as speech-to-intent benchmarks score it: a
recording counts only when the intent and every slot (name and value) are right.

The folder holds WAV or FLAC files (any depth) and ``label.json``: ``{"file.wav": {"intent":
"orderDrink", "slots": {"size": "large", ...}}}`` (a FLAC file may be labelled by its WAV name);
``"intent": ""`` labels speech that must be rejected.
Each recording goes through what ``edge-slm listen --wav`` runs: VAD, the recogniser, the engine.
Noise: ``--noise FILE`` (a WAV of your own), or a kitchen-like noise generated here (pink noise,
a running tap, and dish and cutlery clatter); mixed over the whole recording at the SNR asked.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edge_slm.bench.load import LoadWatch, note, progress
from edge_slm.engine.nlu import Engine
from edge_slm.errors import RefusedInput
from edge_slm.errors import EdgeSlmError, ErrorCode
from edge_slm.service.config import VoiceConfig
from edge_slm.voice.audio import RATE, read_wav, recording_chunks, resample
from edge_slm.voice.pipeline import VoicePipeline


@dataclass(frozen=True)
class Recording:
    path: Path
    intent: str
    slots: dict[str, str]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def load_labelled(folder: Path) -> list[Recording]:
    labels_file = folder / "label.json"
    try:
        labels = json.loads(labels_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgeSlmError(f"{labels_file}: cannot be read as labels ({exc})", ErrorCode.DATA_INVALID) from None
    audio = {p.name: p for p in sorted(folder.rglob("*")) if p.suffix.lower() in (".wav", ".flac")}
    recordings = []
    for name, label in sorted(labels.items()):
        path = audio.get(name) or audio.get(Path(name).with_suffix(".flac").name)
        if path is None:
            continue
        recordings.append(Recording(path, str(label.get("intent", "")),
                                    {k: _key(str(v)) for k, v in (label.get("slots") or {}).items()}))
    if not recordings:
        raise EdgeSlmError(f"{folder}: no labelled WAV or FLAC files", ErrorCode.DATA_INVALID)
    return recordings


def read_audio(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".wav":
        return read_wav(path)
    try:
        import soundfile
    except ImportError:
        raise EdgeSlmError("FLAC needs the soundfile package (pip install 'edge-slm[voice]')",
                           ErrorCode.AUDIO_UNAVAILABLE) from None
    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    return resample(data.mean(axis=1).astype(np.int16), rate)


def kitchen_noise(seconds: float, seed: int = 7) -> np.ndarray:
    """Our own kitchen-like noise (float, unit RMS): pink noise (fridge, hood), band-passed hiss
    (a running tap) and short bright transients (dishes, cutlery) at random times."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    pink = np.fft.irfft(spectrum / np.sqrt(np.maximum(freqs, 20.0)), n)
    tap = np.fft.irfft(spectrum * ((freqs > 1500) & (freqs < 6000)), n)
    clatter = np.zeros(n)
    for start in rng.integers(0, max(1, n - RATE // 10), size=max(1, int(seconds * 1.5))):
        length = int(rng.integers(RATE // 200, RATE // 20))
        decay = np.exp(-np.arange(length) / (length / 5))
        clatter[start:start + length] += rng.standard_normal(length) * decay * rng.uniform(2, 6)
    noise = pink / pink.std() + 0.5 * tap / tap.std() + clatter
    return noise / noise.std()


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float, offset: int = 0) -> np.ndarray:
    """Noise added so that speech power / noise power is ``snr_db`` over the recording."""
    clean = speech.astype(np.float64)
    part = np.resize(np.roll(noise, -offset), clean.size)
    scale = np.sqrt(np.mean(clean ** 2) / (np.mean(part ** 2) * 10 ** (snr_db / 10)))
    return np.clip(clean + part * scale, -32768, 32767).astype(np.int16)


def _heard(pipeline: VoicePipeline, audio: np.ndarray) -> tuple[str, float, list[float]]:
    """(the text understood, seconds of speech the recogniser decoded, seconds each utterance took)."""
    texts, speech, decode = [], 0.0, []
    for heard in pipeline.hear(recording_chunks(audio)):
        texts.append(heard.transcript.text)
        speech += heard.transcript.audio_seconds
        decode.append(heard.transcript.decode_seconds)
    return " ".join(t for t in texts if t), speech, decode


def run_voice_data_bench(bundle: str | None, folder: str, snrs: list[float], noise_file: str = "",
                         recognizers: Sequence[str] = ("pocketsphinx",), vosk_model: str = "", limit: int = 0,
                         noise_suppression: int = 0, auto_gain_dbfs: int = 0,
                         whisper_beam: int = 3) -> dict[str, Any]:
    """Each recogniser in turn on the same recordings and noise (a side-by-side in one run)."""
    watch = LoadWatch().start()
    recordings = load_labelled(Path(folder))
    if limit:
        recordings = recordings[:limit]
    engine = Engine.load(bundle, threads=1)
    audio = [read_audio(r.path) for r in recordings]
    seconds = sum(a.size for a in audio) / RATE
    noise = read_audio(Path(noise_file)).astype(np.float64) if noise_file else kitchen_noise(max(60.0, seconds / 4))
    conditions: list[float | None] = [None, *snrs]
    rows = []
    for recognizer in recognizers:
        config = VoiceConfig(recognizer=recognizer, vosk_model=vosk_model, noise_suppression=noise_suppression,
                             auto_gain_dbfs=auto_gain_dbfs, whisper_beam=whisper_beam)
        pipeline = VoicePipeline(config, engine.bundle.path, intent_of=engine.intent_of)
        for snr in conditions:
            rows.append(_condition(pipeline, engine, recordings, audio, noise, snr))
    return {"folder": str(folder), "bundle": engine.manifest.name, "recognizers": list(recognizers),
            "whisper_beam": whisper_beam, "noise_suppression": noise_suppression, "auto_gain_dbfs": auto_gain_dbfs,
            "noise": noise_file or "generated kitchen-like noise", "rows": rows, "audio_seconds": round(seconds, 1),
            "machine_load": watch.result(), "time": time.time()}


def _condition(pipeline: VoicePipeline, engine: Engine, recordings: list[Recording], audio: list[np.ndarray],
               noise: np.ndarray, snr: float | None) -> dict[str, Any]:
    label = "clean" if snr is None else f"noise at {snr:g} dB SNR"
    progress(f"{label}: {len(recordings)} recordings through VAD, {pipeline.recognizer.name} and the engine")
    accepted = heard_nothing = 0
    speech = 0.0
    decode: list[float] = []
    unused_before = pipeline.early_unused
    misses: list[dict[str, Any]] = []
    rng = np.random.default_rng(11)
    for recording, samples in zip(recordings, audio):
        if snr is not None:
            samples = mix(samples, noise, snr, int(rng.integers(0, noise.size)))
        text, seconds_heard, seconds_decoding = _heard(pipeline, samples)
        speech += seconds_heard
        decode += seconds_decoding
        try:
            parse = engine.parse(text) if text else None
        except RefusedInput:
            parse = None
        heard_nothing += not text
        got_intent = parse.intent if parse is not None and parse.recognized else None
        got_slots = {s.name: _key(str(s.raw)) for s in parse.slots} if got_intent else {}
        # An empty intent labels speech that must be rejected (out of the bundle's scope).
        if got_intent == (recording.intent or None) and got_slots == recording.slots:
            accepted += 1
        elif len(misses) < 20:
            misses.append({"file": recording.path.name, "heard": text, "intent": got_intent,
                           "slots": got_slots, "want": recording.slots})
    # RTF over the speech the VAD passed on, as `bench --voice` and the daemon report it: the
    # silence around each recording is never decoded, and counting it would flatter the figure.
    return {"recognizer": pipeline.recognizer.name, "condition": label, "snr_db": snr, "accepted": accepted,
            "total": len(recordings), "heard_nothing": heard_nothing, "speech_seconds": round(speech, 1),
            "rtf": round(sum(decode) / speech, 4) if speech else 0.0,
            # Recognition starts 192 ms into the closing silence: from the last word the wait is
            # max(silence_ms, 192 ms + this), so long commands can outlast the hang-over.
            "decode_ms": {"p50": round(1000 * float(np.percentile(decode, 50)), 1),
                          "max": round(1000 * max(decode), 1)} if decode else None,
            # Recognitions started in a pause that was not the end: extra work, no extra wait.
            "early_unused": pipeline.early_unused - unused_before, "misses": misses}


def voice_data_markdown(result: dict[str, Any]) -> str:
    lines = [f"| recogniser | condition (bundle {result['bundle']}) | accepted (intent and every slot) "
             "| heard nothing | recognition RTF | decoding, ms p50 / max |", "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        share = 100 * row["accepted"] / row["total"]
        decode = row.get("decode_ms") or {"p50": "-", "max": "-"}
        name = row["recognizer"] + (f" (beam {result['whisper_beam']})" if row["recognizer"] == "whisper" else "")
        lines.append(f"| {name} | {row['condition']} | {row['accepted']}/{row['total']} ({share:.1f}%) | "
                     f"{row['heard_nothing']} | {row['rtf']} | {decode['p50']} / {decode['max']} |")
    return ("\n".join(lines) + f"\n\n- {result['audio_seconds']} s of recordings per condition (RTF: decoding "
            "time over the speech the VAD passed to the recogniser); noise: "
            f"{result['noise']}; noise suppression {result.get('noise_suppression', 0)}, automatic gain "
            f"{result.get('auto_gain_dbfs', 0)} dBFS (0: off)\n" + note(result.get("machine_load", {})))
