"""Audio in: WAV files and the microphone (sounddevice), always as 16 kHz mono int16."""

from __future__ import annotations

import logging
import queue
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edge_slm.errors import EdgeSlmError, ErrorCode

RATE = 16000
# Rates capture hardware commonly offers, tried when the configured one is refused.
FALLBACK_RATES = (48000, 44100, 32000, 22050, 16000)
log = logging.getLogger("edge_slm.voice")


class AudioError(EdgeSlmError, RuntimeError):
    """Audio that cannot be used; the message says why and what to do."""

    default_code = ErrorCode.AUDIO_UNAVAILABLE


def resample(samples: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    """Linear-interpolation resampling; enough for speech into a 16 kHz recogniser."""
    if rate == target or samples.size == 0:
        return samples
    duration = samples.size / rate
    count = int(round(duration * target))
    positions = np.linspace(0, samples.size - 1, count)
    return np.interp(positions, np.arange(samples.size), samples.astype(np.float32)).astype(np.int16)


def recording_chunks(audio: np.ndarray, size: int = 512) -> Iterator[np.ndarray]:
    """A recording as a microphone delivers it, then a second of silence so that the endpointer
    closes its last utterance."""
    for start in range(0, audio.size, size):
        yield audio[start:start + size]
    yield np.zeros(RATE, np.int16)


def read_wav(path: Path) -> np.ndarray:
    """Mono 16-bit WAV at 16 kHz or more (higher rates are resampled)."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate, frames = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(),
                                             wav.getnframes())
            data = wav.readframes(frames)
    except FileNotFoundError as exc:
        raise AudioError(f"{path}: no such file") from exc
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{path}: not a WAV file ({exc})") from exc
    if channels != 1:
        raise AudioError(f"{path}: {channels} channels; need mono (sox {path.name} -c 1 mono.wav)")
    if width != 2:
        raise AudioError(f"{path}: {8 * width}-bit samples; need 16-bit PCM (sox {path.name} -b 16 out.wav)")
    if rate < RATE:
        raise AudioError(f"{path}: {rate} Hz is too low for speech recognition; need at least {RATE} Hz")
    if not data:
        raise AudioError(f"{path}: no audio in the file")
    return resample(np.frombuffer(data, dtype=np.int16), rate)


@dataclass(frozen=True)
class Microphone:
    """A capture stream that yields 16 kHz chunks; opens the device at 16 kHz or its own rate."""

    device: str | int | None = None
    rate: int = RATE
    block: int = 512
    # Up to two minutes of audio may wait (4 MB): enough for a busy moment, bounded if stalled.
    max_queued_s: float = 120.0

    def chunks(self, stop: "queue.Queue[bool] | None" = None) -> Iterator[np.ndarray]:
        try:
            import sounddevice as sd
        except OSError as exc:  # PortAudio missing
            raise AudioError(f"no audio system: {exc} (apt-get install libportaudio2)") from exc
        device = self.device if self.device not in ("", None) else None
        try:
            info = sd.query_devices(device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioError(f"no microphone{f' {device!r}' if device else ''}: {exc}") from exc
        rate = self._usable_rate(sd, device, int(info["default_samplerate"]))
        frames: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max(1, int(self.max_queued_s * RATE / self.block)))
        dropped = [0]

        def callback(data: np.ndarray, count: int, when: object, status: object) -> None:
            try:
                frames.put_nowait(data[:, 0].copy())
            except queue.Full:
                dropped[0] += 1
                if dropped[0] % 1000 == 1:
                    log.warning("audio dropped: the recogniser is falling behind", extra={"chunks": dropped[0]})

        def finished() -> None:
            # Never block here: PortAudio runs this on its own thread while abort() waits for it,
            # so a blocking put on a full queue would hang the stream (and the daemon) for good.
            # The reader sees the stream is no longer active once it drains the queue.
            try:
                frames.put_nowait(None)
            except queue.Full:
                pass

        block = int(self.block * rate / RATE)
        try:
            stream = sd.InputStream(device=device, samplerate=rate, channels=1, dtype="int16",
                                    blocksize=block, callback=callback, finished_callback=finished)
            stream.start()
        except sd.PortAudioError as exc:
            raise AudioError(f"cannot open the microphone: {exc}") from exc
        try:
            while stop is None or stop.empty():
                try:
                    chunk = frames.get(timeout=2.0)
                except queue.Empty:
                    # Asking a stream whose device is gone can itself fail: both mean gone.
                    try:
                        active = stream.active
                    except sd.PortAudioError as exc:
                        raise AudioError(f"the microphone went away ({exc})") from None
                    if not active:
                        raise AudioError("the microphone went away") from None
                    continue
                if chunk is None:
                    raise AudioError("the microphone went away (its stream ended)")
                yield resample(chunk, rate)
        finally:
            try:
                stream.abort()
                stream.close()
            except sd.PortAudioError as exc:
                log.warning("microphone did not close cleanly", extra={"reason": str(exc)})

    def _usable_rate(self, sd: Any, device: str | int | None, default: int) -> int:
        """The configured rate, else the first the device accepts (resampled to 16 kHz)."""
        tried = [rate for rate in dict.fromkeys([self.rate, default, *FALLBACK_RATES]) if rate >= RATE]
        for rate in tried:
            try:
                sd.check_input_settings(device=device, samplerate=rate, channels=1, dtype="int16")
            except (ValueError, sd.PortAudioError):
                continue
            if rate != self.rate:
                log.info("microphone refuses the rate; resampling", extra={"asked": self.rate, "using": rate})
            return rate
        raise AudioError(f"the microphone accepts none of {', '.join(map(str, tried))} Hz "
                         f"(need {RATE} Hz or more)")


def rescan() -> None:
    """Forget PortAudio's device list and read it again.

    PortAudio lists devices once, when it starts: a USB microphone unplugged and plugged back
    in is invisible until it restarts. Only call this with no stream open.
    """
    try:
        import sounddevice as sd
    except OSError:
        return
    # No public call exists; this is the maintainers' answer (python-sounddevice#125).
    try:
        sd._terminate()
    except sd.PortAudioError:
        pass  # already shut down under us: initialising again is all that is left
    sd._initialize()
