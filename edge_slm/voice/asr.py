"""Speech recognisers behind one interface, both biased to the bundle's sentences and words.

- pocketsphinx: its English model ships in the package, so voice works with no download.
- vosk: the usual on-device choice; the user downloads a model directory on the device.
Words the recogniser's dictionary lacks are left out of the bias, never a crash.
"""

from __future__ import annotations

import json
import logging
import math
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
from edge_slm.voice.grammar import SpeechGrammar, reweighted
from edge_slm.voice.lm import build_arpa

log = logging.getLogger("edge_slm.voice")
_WORD = re.compile(r"[a-z']+|\d+(?:\.5)?")
# Trust the domain's sentences more than pocketsphinx's default (6.5) does: a closed domain.
LANGUAGE_WEIGHT = 10.0
# The grammar's branch weights at pocketsphinx's default instead: the grammar already holds only
# the domain's sentences, and weighting its branches as strongly as the n-gram model's words
# favoured the likelier branch over what the sound said. Coffee benchmark, development half, noise
# suppression 2, same cached utterances: at 12 dB 274 of 296 right at 10, 276 at 8, 279 at 6.5;
# clean the same there, 2 fewer in a full bench run (an optional word too many).
GRAMMAR_WEIGHT = 6.5


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
class Hypotheses:
    """What a recogniser with a grammar heard, for understanding to choose from (``decide``)."""

    grammar: str  # the grammar's best sentence; "" when no path through it fits the audio
    free: str  # the n-gram model's best text
    free_in_grammar: bool  # the free text is itself a grammar sentence
    # Per audio frame, the grammar path's acoustic log-score minus the free path's: >= 0 when the
    # grammar's sentence explains the sound at least as well as anything the free model found.
    fit: float
    nbest: str  # the first grammar sentence among the free model's N-best ("" if none)
    # With no grammar path, the grammar sentence that is the free text with one word more ("" if none)
    near: str
    covers: frozenset[str]  # intents the grammar holds whole (SpeechGrammar.covers)

    @property
    def heard(self) -> str:
        return self.free

    def choose(self, intent_of: Callable[[str], str | None] | None = None) -> str | None:
        return decide(self, intent_of)


class Choices(Protocol):
    """A recogniser's hypotheses, for the grammar and understanding to choose from."""

    @property
    def heard(self) -> str: ...

    def choose(self, intent_of: Callable[[str], str | None] | None = None) -> str | None: ...


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float
    audio_seconds: float
    decode_seconds: float
    hypotheses: Choices | None = None  # ``text`` is their choice without understanding

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
# How deep in the free model's N-best a grammar sentence is looked for when the grammar search
# finds no path (a word the speaker dropped or the noise hid).
NBEST = 20
# With no grammar path, a grammar sentence that is the free text with this many words more (lost in
# noise: "... with soy" for "... with soy milk") is what was said, when understanding takes the free
# text for an intent the grammar holds whole. Words heard that the sentence lacks are never dropped:
# "i want a large coffee chocolate" is no order for a coffee.
HIDDEN_WORDS = 1
MIN_LOG = math.log(5e-324)  # a segment score that underflowed to 0: the smallest double's log


def word_distance(a: list[str], b: list[str]) -> int:
    """Word-level edit distance (insertions, deletions, substitutions)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[len(b)]


def decide(h: Hypotheses, intent_of: Callable[[str], str | None] | None = None) -> str | None:
    """The text to understand, or None for speech the grammar could not explain.

    The grammar's sentence wins when it is close to what the free model heard, fits the sound at
    least as well, or (with understanding at hand) when the free text is itself taken for one of
    the bundle's intents (noise makes the free model drift: "in adelaide roast iced mocha" is still
    an order). A free text that is itself a grammar sentence and fits better wins over the grammar's
    (the grammar search pruned it). With no grammar path at all, the free model's N-best may still
    hold a grammar sentence. Free text that is no grammar sentence is kept for intents the grammar
    does not hold whole (wildcards: shopping items, names) and for out-of-scope answers; taken for
    an intent the grammar holds whole, it is speech the grammar could not explain: None.
    """
    g, f = h.grammar.split(), h.free.split()
    if h.free_in_grammar and f and h.fit < 0:
        return h.free
    if g:
        if (word_distance(g, f) / len(g) <= GRAMMAR_DISTANCE or h.fit >= 0
                or (intent_of is not None and f and intent_of(h.free) is not None)):
            return h.grammar
    elif h.nbest:
        return h.nbest
    if intent_of is not None and not h.free_in_grammar and f and intent_of(h.free) in h.covers:
        return h.near or None
    return h.free


class PocketSphinx:
    """The bundle's n-gram model, and with ``asr/grammar.fsg`` its templates' word graph beside it:
    each utterance is decoded with both and ``decide`` keeps one."""

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
        grammar_words: frozenset[str] = frozenset()
        weighted = ""
        self.grammar: SpeechGrammar | None = None
        if grammar_file.exists() and not wake_phrase:
            try:
                fsg = grammar_file.read_text(encoding="utf-8")
                self.grammar = SpeechGrammar(fsg)
                weighted = reweighted(fsg, GRAMMAR_WEIGHT / LANGUAGE_WEIGHT)
            except (ValueError, IndexError) as exc:
                raise AsrError(f"{grammar_file}: not a speech grammar ({exc})") from None
            grammar_words = self.grammar.words
            if grammar_words - known:
                log.warning("speech grammar not used: words outside the recogniser's dictionary",
                            extra={"words": sorted(grammar_words - known)[:20]})
                self.grammar, grammar_words = None, frozenset()
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
        # pocketsphinx reads these files when the decoder is built and never again: they go with it.
        with tempfile.TemporaryDirectory(prefix="edge-slm-asr-") as tmp:
            work = Path(tmp)
            lm = work / "domain.arpa"
            lm.write_text(build_arpa(sentences), encoding="utf-8")
            # Only the domain's words: the full dictionary takes seconds to load on a Pi.
            domain_dict = work / "domain.dict"
            vocabulary = sorted({w for s in sentences for w in s} | grammar_words)
            domain_dict.write_text("".join(line + "\n" for w in vocabulary for line in entries[w]), encoding="utf-8")
            # bestpath off: the lattice pass after the search returned grammar paths that stop short of
            # the grammar's end ("... with sugar and": 49 of 297 utterances of the coffee benchmark at
            # 12 dB SNR); the search's own best path always ends in a sentence.
            config = Config(hmm=str(model / "en-us"), dict=str(domain_dict), lm=str(lm),
                            samprate=RATE, loglevel="FATAL", lw=LANGUAGE_WEIGHT, bestpath=False)
            self._decoder = Decoder(config)
            self._free_search = self._decoder.current_search()
            if self.grammar is not None:
                # pocketsphinx scales every search's weights by the one lw: the grammar's get theirs by
                # raising its probabilities to GRAMMAR_WEIGHT / LANGUAGE_WEIGHT.
                (work / "grammar.fsg").write_text(weighted, encoding="utf-8")
                self._decoder.add_fsg("grammar", self._decoder.read_fsg(str(work / "grammar.fsg")))

    def _decode(self, search: str, raw: bytes) -> tuple[str, float, float]:
        """(text, confidence, acoustic log-score per frame)."""
        self._decoder.activate_search(search)
        self._decoder.start_utt()
        self._decoder.process_raw(raw, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        if not hyp or not hyp.hypstr:
            return "", 0.0, 0.0
        # Segment scores come back as probabilities; a very long segment underflows to 0.
        acoustic = sum(math.log(seg.ascore) if seg.ascore > 0 else MIN_LOG for seg in self._decoder.seg() or ())
        confidence = float(np.clip(self._decoder.get_logmath().exp(hyp.prob), 0, 1))
        return hyp.hypstr, confidence, acoustic / max(1, self._decoder.n_frames())

    def _grammar_nbest(self) -> str:
        """The first grammar sentence among the last free decoding's N-best."""
        assert self.grammar is not None
        for rank, hyp in enumerate(self._decoder.nbest()):
            if rank >= NBEST:
                break
            if hyp is None:  # some N-best lists end in an empty entry (a noisy kitchen at 12 dB)
                break
            if hyp.hypstr and self.grammar.accepts(hyp.hypstr.split()):
                return hyp.hypstr
        return ""

    def _fallbacks(self, free: str) -> tuple[str, str]:
        """With no grammar path: (the N-best's grammar sentence, ``free`` completed to a sentence)."""
        assert self.grammar is not None
        return self._grammar_nbest(), " ".join(self.grammar.completion(free.split(), HIDDEN_WORDS))

    def transcribe(self, audio: np.ndarray) -> Transcript:
        start = time.perf_counter()
        raw = with_noise_floor(audio).tobytes()
        hypotheses = None
        if self.grammar is None:
            text, confidence, _ = self._decode(self._free_search, raw)
        else:
            constrained, grammar_confidence, grammar_score = self._decode("grammar", raw)
            free, confidence, free_score = self._decode(self._free_search, raw)
            hypotheses = Hypotheses(
                constrained, free, bool(free) and self.grammar.accepts(free.split()),
                grammar_score - free_score if constrained else 0.0,
                *(("", "") if constrained or not free else self._fallbacks(free)), self.grammar.covers)
            text = decide(hypotheses) or ""
            if text != free:
                confidence = grammar_confidence
        return Transcript(text, confidence, audio.size / RATE, time.perf_counter() - start, hypotheses)


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
        # Only words the model's lexicon has (it would skip the others, a warning each); "[unk]"
        # keeps free speech possible. A model with none of them (another language) decodes freely.
        known = [w for w in words if self._model.vosk_model_find_word(w) >= 0]
        self._grammar: str | None = json.dumps([" ".join(known), "[unk]"]) if known else None
        if not known:
            log.warning("vosk: no word of the bundle is in the model's lexicon; decoding without them",
                        extra={"model": model_dir})
        self._vosk = vosk

    def transcribe(self, audio: np.ndarray) -> Transcript:
        start = time.perf_counter()
        recognizer = self._vosk.KaldiRecognizer(self._model, RATE, *([self._grammar] if self._grammar else []))
        recognizer.AcceptWaveform(audio.astype(np.int16).tobytes())
        result = json.loads(recognizer.FinalResult())
        text = result.get("text", "").replace("[unk]", "").strip()
        words = result.get("result", [])
        confidence = float(np.mean([w.get("conf", 0.0) for w in words])) if words else 0.0
        return Transcript(" ".join(text.split()), confidence, audio.size / RATE, time.perf_counter() - start)


def make_recognizer(kind: str, bundle_dir: Path, vosk_model: str = "", wake_phrase: str = "",
                    whisper_model: str = "", whisper_beam: int = 3, threads: int = 2) -> Recognizer:
    if kind == "whisper":
        from edge_slm.voice.whisper import Whisper  # ctranslate2 loads only when chosen

        return Whisper(bundle_dir, whisper_model, whisper_beam, threads, wake_phrase)
    if kind == "vosk":
        return Vosk(bundle_dir, vosk_model, wake_phrase)
    if kind == "pocketsphinx":
        return PocketSphinx(bundle_dir, wake_phrase)
    raise AsrError(f"unknown recogniser {kind!r}; use pocketsphinx, whisper or vosk")
