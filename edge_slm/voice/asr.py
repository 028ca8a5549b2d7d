"""Speech recognisers behind one interface, both biased to the bundle's sentences and words.

- pocketsphinx: its English model ships in the package, so voice works with no download.
- vosk: the usual on-device choice; the user downloads a model directory on the device.
Words the recogniser's dictionary lacks are left out of the bias, never a crash.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from edge_slm.engine.numbers import number_words
from edge_slm.errors import EdgeSlmError, ErrorCode
from edge_slm.voice.audio import RATE
from edge_slm.voice.lm import build_arpa

log = logging.getLogger("edge_slm.voice")
_WORD = re.compile(r"[a-z']+|\d+(?:\.5)?")
# Trust the domain's sentences more than pocketsphinx's default (6.5) does: a closed domain.
LANGUAGE_WEIGHT = 10.0


# A faint noise floor under what pocketsphinx hears (RMS 32 of 32768, about -60 dBFS: a quiet
# room through a real microphone). Its features are logs of filter-bank energies; digital
# silence (exact zeros from speech synthesis, virtual devices, microphones that gate their
# noise) gives values far outside its training audio, and cepstral mean normalisation then
# shifts the whole utterance. Measured on the 30 spoken test commands, five stream offsets:
# 129/150 right without it, 140/150 with it (28 of 30 at every offset).
NOISE_FLOOR_RMS = 32.0


def with_noise_floor(audio: np.ndarray, rms: float = NOISE_FLOOR_RMS) -> np.ndarray:
    """``audio`` plus fixed-seed Gaussian noise: the same input always decodes the same way."""
    noise = np.random.default_rng(0).normal(0.0, rms, audio.size)
    return np.clip(audio.astype(np.float64) + noise, -32768, 32767).astype(np.int16)


class AsrError(EdgeSlmError, RuntimeError):
    """A recogniser that cannot run (no model, a model it cannot read)."""

    default_code = ErrorCode.ASR_UNAVAILABLE


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float
    audio_seconds: float
    decode_seconds: float
    # With a grammar: what the grammar decoded and what the n-gram model decoded, for understanding
    # to choose between (VoicePipeline); ``text`` is the recogniser's own choice.
    alternatives: tuple[str, ...] = ()

    @property
    def real_time_factor(self) -> float:
        return self.decode_seconds / self.audio_seconds if self.audio_seconds else 0.0


class Recognizer(Protocol):
    name: str

    def transcribe(self, audio: np.ndarray) -> Transcript: ...


def _spoken(words: list[str]) -> list[str]:
    """Digits as a recogniser hears them: "21" -> "twenty one"."""
    out: list[str] = []
    for word in words:
        out += number_words(float(word)).split() if word[0].isdigit() else [word]
    return out


def domain_sentences(bundle_dir: Path, wake_phrase: str = "") -> list[list[str]]:
    """The bundle's sentences, alone and after the wake phrase (so both are likely to the recogniser)."""
    path = bundle_dir / "asr" / "sentences.txt"
    if not path.exists():
        raise AsrError(f"{path}: the bundle has no sentences for speech recognition")
    sentences = [_spoken(_WORD.findall(line.lower())) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    wake = _WORD.findall(wake_phrase.lower())
    if wake:
        sentences += [wake] * 50 + [wake + s for s in sentences]
    return sentences


# A grammar path this far (word edits per grammar word) from what the n-gram model heard is the
# grammar forcing speech it does not cover into its nearest sentence: the n-gram text is kept,
# and the engine rejects it.
GRAMMAR_DISTANCE = 0.5


def word_distance(a: list[str], b: list[str]) -> int:
    """Word-level edit distance (insertions, deletions, substitutions)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[len(b)]


def choose(grammar: str, free: str, in_scope: Callable[[str], bool] | None = None) -> str:
    """The grammar's sentence, unless the n-gram model heard something else altogether and, when
    understanding is at hand, something out of the bundle's scope (noise and accents make the free
    model drift: "in adelaide roast iced mocha" is still an order, and the grammar's sentence wins)."""
    g, f = grammar.split(), free.split()
    if not g:
        return free
    if word_distance(g, f) / len(g) <= GRAMMAR_DISTANCE:
        return grammar
    if in_scope is not None and free and in_scope(free):
        return grammar
    return free


class PocketSphinx:
    """The bundle's n-gram model, and with ``asr/grammar.fsg`` its templates' word graph beside it:
    each utterance is decoded with both and ``choose`` keeps one."""

    name = "pocketsphinx"

    def __init__(self, bundle_dir: Path, wake_phrase: str = "") -> None:
        try:
            from pocketsphinx import Config, Decoder, get_model_path
        except ImportError as exc:
            raise AsrError("pocketsphinx is not installed (pip install 'edge-slm[voice]')") from exc
        model = Path(get_model_path()) / "en-us"
        dictionary = model / "cmudict-en-us.dict"
        entries: dict[str, list[str]] = {}
        for line in dictionary.read_text(encoding="utf-8").splitlines():
            if line:
                word = line.split(maxsplit=1)[0]
                entries.setdefault(word.split("(")[0], []).append(line)
        known = set(entries)
        grammar_file = bundle_dir / "asr" / "grammar.fsg"
        grammar_words: set[str] = set()
        if grammar_file.exists() and not wake_phrase:
            grammar_words = {line.split()[4] for line in grammar_file.read_text(encoding="utf-8").splitlines()
                             if line.startswith("TRANSITION") and len(line.split()) > 4}
            if grammar_words - known:
                log.warning("speech grammar not used: words outside the recogniser's dictionary",
                            extra={"words": sorted(grammar_words - known)[:20]})
                grammar_words = set()
        corpus = domain_sentences(bundle_dir, wake_phrase)
        other = bundle_dir / "asr" / "other.txt"
        if grammar_words and other.exists():
            # Speech outside the grammar needs words of its own in the n-gram model to be told apart.
            corpus += [_spoken(_WORD.findall(line.lower())) for line in other.read_text(encoding="utf-8").splitlines()
                       if line.strip()]
        sentences, dropped = [], set()
        for words in corpus:
            unknown = [w for w in words if w not in known]
            # Cutting a word out would teach the model sequences nobody says ("in the </s>").
            if unknown:
                dropped.update(unknown)
            elif words:
                sentences.append(words)
        self.dropped_words = sorted(dropped)
        if dropped:
            log.info("words outside the recogniser's dictionary left out", extra={"count": len(dropped)})
        work = Path(tempfile.mkdtemp(prefix="edge-slm-asr-"))
        self._lm = work / "domain.arpa"
        self._lm.write_text(build_arpa(sentences), encoding="utf-8")
        # Only the domain's words: the full dictionary takes seconds to load on a Pi.
        domain_dict = work / "domain.dict"
        vocabulary = sorted({w for s in sentences for w in s} | grammar_words)
        domain_dict.write_text("".join(line + "\n" for w in vocabulary for line in entries[w]), encoding="utf-8")
        config = Config(hmm=str(model / "en-us"), dict=str(domain_dict), lm=str(self._lm),
                        samprate=RATE, loglevel="FATAL", lw=LANGUAGE_WEIGHT)
        self._decoder = Decoder(config)
        self._free_search = self._decoder.current_search()
        self.grammar = bool(grammar_words)
        if self.grammar:
            self._decoder.add_fsg("grammar", self._decoder.read_fsg(str(grammar_file)))

    def _decode(self, search: str, raw: bytes) -> tuple[str, float]:
        self._decoder.activate_search(search)
        self._decoder.start_utt()
        self._decoder.process_raw(raw, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        if not hyp:
            return "", 0.0
        return hyp.hypstr, float(np.clip(self._decoder.get_logmath().exp(hyp.prob), 0, 1))

    def transcribe(self, audio: np.ndarray) -> Transcript:
        start = time.perf_counter()
        raw = with_noise_floor(audio).tobytes()
        text, confidence = self._decode(self._free_search, raw)
        alternatives: tuple[str, ...] = ()
        if self.grammar:
            constrained, grammar_confidence = self._decode("grammar", raw)
            alternatives = (constrained, text)
            if choose(constrained, text) == constrained:
                text, confidence = constrained, grammar_confidence
        return Transcript(text, confidence, audio.size / RATE, time.perf_counter() - start, alternatives)


class Vosk:
    name = "vosk"

    def __init__(self, bundle_dir: Path, model_dir: str, wake_phrase: str = "") -> None:
        if not model_dir or not Path(model_dir).is_dir():
            raise AsrError(f"vosk needs a model directory ([voice] vosk_model); '{model_dir}' is not one "
                           "(download one on the device, e.g. vosk-model-small-en-us)")
        try:
            import vosk
        except ImportError as exc:
            raise AsrError("vosk is not installed (pip install 'edge-slm[vosk]')") from exc
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(model_dir)
        except Exception as exc:
            raise AsrError(f"{model_dir}: vosk cannot load this model ({exc})") from exc
        words = sorted({w for s in domain_sentences(bundle_dir, wake_phrase) for w in s})
        # Vosk skips grammar words its lexicon lacks; "[unk]" keeps free speech possible.
        self._grammar = json.dumps([" ".join(words), "[unk]"])
        self._vosk = vosk

    def transcribe(self, audio: np.ndarray) -> Transcript:
        start = time.perf_counter()
        recognizer = self._vosk.KaldiRecognizer(self._model, RATE, self._grammar)
        recognizer.AcceptWaveform(audio.astype(np.int16).tobytes())
        result = json.loads(recognizer.FinalResult())
        text = result.get("text", "").replace("[unk]", "").strip()
        words = result.get("result", [])
        confidence = float(np.mean([w.get("conf", 0.0) for w in words])) if words else 0.0
        return Transcript(" ".join(text.split()), confidence, audio.size / RATE, time.perf_counter() - start)


def make_recognizer(kind: str, bundle_dir: Path, vosk_model: str = "", wake_phrase: str = "") -> Recognizer:
    if kind == "vosk":
        return Vosk(bundle_dir, vosk_model, wake_phrase)
    if kind == "pocketsphinx":
        return PocketSphinx(bundle_dir, wake_phrase)
    raise AsrError(f"unknown recogniser {kind!r}; use pocketsphinx or vosk")
