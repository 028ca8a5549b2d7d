"""Voice inside the daemon: microphone -> pipeline -> the daemon's queue, with Hermes messages.

Audio trouble (no microphone, a device that disappears) is logged and retried;
the daemon keeps serving text over MQTT throughout.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Protocol

from edge_slm.service import hermes
from edge_slm.service.config import Config
from edge_slm.service.wire import loads_untrusted
from edge_slm.voice.audio import AudioError, Microphone, rescan
from edge_slm.voice.pipeline import VoicePipeline

log = logging.getLogger("edge_slm.voice")
WAKEWORD_ID = "edge-slm"


class Host(Protocol):
    """What voice needs of the service it runs in (the daemon): no more."""

    @property
    def bundle_path(self) -> Path: ...

    def submit_utterance(self, id: str, text: str, received: float, ctx: hermes.Context) -> bool: ...

    def intent_of(self, text: str) -> str | None: ...

    def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    def on_topic(self, topic: str, handler: Callable[[bytes], None]) -> None: ...


class VoiceService:
    """A daemon component: it starts or raises (the service then says why and exits), and once
    running it keeps retrying the microphone rather than stopping."""

    name = "voice"

    def __init__(self, config: Config, daemon: Host, pipeline: VoicePipeline | None = None,
                 microphone: Microphone | None = None) -> None:
        self.config = config
        self.daemon = daemon
        self.pipeline = pipeline or VoicePipeline(config.voice, daemon.bundle_path, intent_of=daemon.intent_of)
        self.microphone = microphone or Microphone(config.voice.device or None, config.voice.samplerate)
        self._stop: queue.Queue[bool] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="edge-slm-voice", daemon=True)
        self.session: str | None = None
        daemon.on_topic(hermes.START_LISTENING, self._start_listening)
        daemon.on_topic(hermes.STOP_LISTENING, self._stop_listening)

    def start(self) -> "VoiceService":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.put(True)
        self._thread.join(5)

    def failure(self) -> str | None:
        if not self._thread.is_alive() and self._stop.empty():
            return "the voice thread ended"
        return None

    def _start_listening(self, payload: bytes) -> None:
        try:
            request = hermes.ListenRequest.from_dict(loads_untrusted(payload.decode("utf-8")))
        except (ValueError, AttributeError):
            return
        if request.site_id == self.config.site.id:
            self.session = request.session_id or uuid.uuid4().hex
            self.pipeline.gate.arm(self.config.voice.max_utterance_s + 10)

    def _stop_listening(self, payload: bytes) -> None:
        self.session = None
        self.pipeline.gate.disarm()

    def _run(self) -> None:
        while self._stop.empty():
            try:
                for heard in self.pipeline.hear(self.microphone.chunks(self._stop)):
                    self._publish(heard)
            except AudioError as exc:
                log.error("voice input unavailable; retrying in 5 s", extra={"reason": str(exc)})
                try:
                    self._stop.get(timeout=5)
                    return
                except queue.Empty:
                    pass
                # A microphone plugged back in only shows up in a fresh device list.
                try:
                    rescan()
                except Exception as exc:  # noqa: BLE001 - keep retrying; text must keep working
                    log.error("audio device list unavailable", extra={"reason": str(exc)})
            except Exception:
                log.exception("voice pipeline failed; restarting it")
                self._stop_wait(1)

    def _stop_wait(self, seconds: float) -> None:
        try:
            self._stop.get(timeout=seconds)
            self._stop.put(True)
        except queue.Empty:
            pass

    def _publish(self, heard) -> None:  # noqa: ANN001 - Heard
        site = self.config.site.id
        session = self.session or uuid.uuid4().hex
        ctx = hermes.Context(site, session, None)
        if heard.woke:
            self.daemon.publish(hermes.hotword_topic(WAKEWORD_ID), hermes.HotwordDetected(WAKEWORD_ID, ctx).to_dict())
        if not heard.transcript.text:
            return
        self.daemon.publish(hermes.TEXT_CAPTURED, hermes.TextCaptured(
            heard.transcript.text, heard.transcript.confidence, heard.transcript.audio_seconds, ctx,
            WAKEWORD_ID if heard.woke else None).to_dict())
        request_id = uuid.uuid4().hex
        self.daemon.submit_utterance(request_id, heard.transcript.text, heard.end_of_speech,
                                     hermes.Context(site, session, request_id))
        self.session = None
