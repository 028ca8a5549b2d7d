"""Whisper's input: an 80-band log-mel spectrogram of 16 kHz audio, computed with numpy as OpenAI's
``whisper.audio.log_mel_spectrogram`` computes it (25 ms Hann window, 10 ms hop, Slaney mel
filters, log10 floored 8 below the peak, scaled to about -1..1), so the runtime needs no torch,
librosa or PyAV.
"""

from __future__ import annotations

import numpy as np

from edge_slm.voice.audio import RATE

N_FFT = 400
HOP = 160
N_MELS = 80
FRAMES_30S = 3000  # the encoder's full window: 30 s of audio


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale: linear to 1 kHz, logarithmic above (librosa's default, which Whisper used).
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_region = hz >= 1000.0
    mel[log_region] = 15.0 + np.log(hz[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    log_region = mel >= 15.0
    hz[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel[log_region] - 15.0))
    return hz


def mel_filters(rate: int = RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, each normalised to unit area (Slaney)."""
    fft_freqs = np.linspace(0.0, rate / 2.0, n_fft // 2 + 1)
    low, high = _hz_to_mel(np.array([0.0, rate / 2.0]))
    edges = _mel_to_hz(np.linspace(low, high, n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


_FILTERS = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def log_mel(audio: np.ndarray, frames: int | None = None) -> np.ndarray:
    """(80, frames) float32 features of int16 or float audio. ``frames``: pad with silence (or cut)
    to this many 10 ms frames; None keeps the audio's own length."""
    samples = audio.astype(np.float32)
    if audio.dtype == np.int16:
        samples /= 32768.0
    if frames is not None:
        # Silence, as Whisper pads a short recording to its 30 s window: zeros before the STFT.
        want = frames * HOP
        samples = np.pad(samples, (0, max(0, want - samples.size)))[:want]
    padded = np.pad(samples, N_FFT // 2, mode="reflect") if samples.size > N_FFT // 2 else \
        np.pad(samples, N_FFT // 2)
    count = 1 + (padded.size - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    spectrum = np.fft.rfft(padded[index] * _WINDOW, axis=1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2)[:-1].T  # the last frame dropped, as Whisper does
    mel = _FILTERS @ power.astype(np.float32)
    log = np.log10(np.maximum(mel, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    return ((log + 4.0) / 4.0).astype(np.float32)
