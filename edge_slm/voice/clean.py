"""Noise suppression and automatic gain before voice activity detection and recognition, with
WebRTC's audio processing (the ``webrtc-noise-gain`` package, as Wyoming satellites use it).

``[voice] noise_suppression`` 0 (off) to 4 (strongest); ``[voice] auto_gain_dbfs`` 0 (off) to 31
(the level gain aims for, in dB below full scale). Both off by default: a close microphone in a
quiet room needs neither, and suppression costs a little of the speech too.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from edge_slm.voice.asr import AsrError

FRAME = 160  # 10 ms at 16 kHz: WebRTC's unit


class Cleaner:
    def __init__(self, noise_suppression: int, auto_gain_dbfs: int) -> None:
        if not 0 <= noise_suppression <= 4 or not 0 <= auto_gain_dbfs <= 31:
            raise AsrError("[voice] noise_suppression must be 0-4 and auto_gain_dbfs 0-31")
        try:
            from webrtc_noise_gain import AudioProcessor
        except ImportError as exc:
            raise AsrError("noise suppression needs webrtc-noise-gain (pip install 'edge-slm[voice]')") from exc
        self._processor = AudioProcessor(auto_gain_dbfs, noise_suppression)
        self._held = np.zeros(0, np.int16)

    def stream(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The same audio, cleaned, in whole 10 ms frames (a remainder waits for the next chunk)."""
        for chunk in chunks:
            samples = np.concatenate([self._held, chunk.astype(np.int16, copy=False)])
            whole = samples.size - samples.size % FRAME
            self._held = samples[whole:]
            if not whole:
                continue
            out = bytearray()
            for start in range(0, whole, FRAME):
                out += self._processor.Process10ms(samples[start:start + FRAME].tobytes()).audio
            yield np.frombuffer(bytes(out), np.int16)
