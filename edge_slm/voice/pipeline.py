"""Utterances to text to intents: the part of voice shared by ``listen`` and the daemon."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from edge_slm.service.config import VoiceConfig
from edge_slm.voice.asr import Recognizer, Transcript, make_recognizer
from edge_slm.voice.vad import Endpointer, Utterance, Vad

log = logging.getLogger("edge_slm.voice")


@dataclass(frozen=True)
class Heard:
    transcript: Transcript
    utterance: Utterance
    end_of_speech: float  # perf_counter() when the endpointer closed the utterance
    woke: bool  # the wake phrase was heard in this utterance


class WakeGate:
    """A wake phrase said before (or as) the command; with no phrase configured, every utterance passes."""

    def __init__(self, phrase: str, window_s: float = 6.0) -> None:
        self.phrase = " ".join(re.findall(r"[a-z']+", phrase.lower()))
        self.window_s = window_s
        self._armed_until = 0.0

    def arm(self, seconds: float | None = None) -> None:
        self._armed_until = time.monotonic() + (self.window_s if seconds is None else seconds)

    def disarm(self) -> None:
        self._armed_until = 0.0

    def admit(self, text: str) -> tuple[str | None, bool]:
        """(command text or None, wake phrase heard)."""
        if not self.phrase:
            return (text or None), False
        words = " ".join(text.lower().split())
        if words.startswith(self.phrase):
            rest = words[len(self.phrase):].strip()
            if rest:
                self.disarm()
                return rest, True
            self.arm()
            return None, True
        if time.monotonic() < self._armed_until and words:
            self.disarm()
            return words, False
        return None, False


class VoicePipeline:
    def __init__(self, config: VoiceConfig, bundle_dir: Path, recognizer: Recognizer | None = None,
                 intent_of: Callable[[str], str | None] | None = None) -> None:
        """``intent_of``: the engine's word on a text (the intent, or None when out of scope); with
        it, understanding chooses among the recogniser's hypotheses (``asr.decide``)."""
        self.config = config
        self.intent_of = intent_of
        self.recognizer = recognizer or make_recognizer(config.recognizer, bundle_dir, config.vosk_model,
                                                           config.wake_phrase, config.whisper_model,
                                                           config.whisper_beam, config.threads)
        self.vad = Vad()
        self.gate = WakeGate(config.wake_phrase)
        # Recognitions run while the closing silence was waited for, and those of them thrown away
        # because speech resumed (a pause, not an end): the price of the early start, for benches.
        self.early_decodes = self.early_unused = 0

    def endpointer(self) -> Endpointer:
        return Endpointer(self.vad, threshold=self.config.vad_threshold, silence_ms=self.config.silence_ms,
                          max_seconds=self.config.max_utterance_s, early=True)

    def hear(self, chunks: Iterable[np.ndarray]) -> Iterator[Heard]:
        if self.config.noise_suppression or self.config.auto_gain_dbfs:
            from edge_slm.voice.clean import Cleaner

            chunks = Cleaner(self.config.noise_suppression, self.config.auto_gain_dbfs).stream(chunks)
        early: tuple[int, Transcript] | None = None
        for utterance in self.endpointer().utterances(chunks):
            if not utterance.final:
                self.early_unused += early is not None
                self.early_decodes += 1
                early = utterance.audio.size, self.recognizer.transcribe(utterance.audio)
                continue
            ended = time.perf_counter()
            if early is not None and early[0] == utterance.audio.size:
                transcript = early[1]  # the same audio: the quiet lasted
            else:
                self.early_unused += early is not None
                transcript = self.recognizer.transcribe(utterance.audio)
            early = None
            if transcript.hypotheses is not None and self.intent_of is not None:
                chosen = transcript.hypotheses.choose(self.intent_of)
                if chosen is None:
                    log.info("speech outside the bundle's grammar ignored",
                             extra={"heard": transcript.hypotheses.heard[:200]})
                transcript = replace(transcript, text=chosen or "")
            text, woke = self.gate.admit(transcript.text)
            if woke and text is None:
                yield Heard(Transcript("", transcript.confidence, transcript.audio_seconds,
                                       transcript.decode_seconds), utterance, ended, True)
                continue
            if text:
                yield Heard(Transcript(text, transcript.confidence, transcript.audio_seconds,
                                       transcript.decode_seconds), utterance, ended, woke)
