"""Voice inside the daemon: microphone -> pipeline -> the daemon's queue, with Hermes messages.

Audio trouble (no microphone, a device that disappears) is logged and retried;
the daemon keeps serving text over MQTT throughout.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from typing import TYPE_CHECKING

from .. import hermes
from ..config import Config
from ..wire import loads_untrusted
from .audio import AudioError, Microphone, rescan
from .pipeline import VoicePipeline

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger("edge_slm.voice")
WAKEWORD_ID = "edge-slm"


class VoiceService:
    def __init__(self, config: Config, daemon: "Daemon", pipeline: VoicePipeline | None = None,
                 microphone: Microphone | None = None) -> None:
        self.config = config
        self.daemon = daemon
        self.pipeline = pipeline or VoicePipeline(config.voice, daemon.engine.bundle.path)
        self.microphone = microphone or Microphone(config.voice.device or None, config.voice.samplerate)
        self._stop: queue.Queue[bool] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="edge-slm-voice", daemon=True)
        self.session: str | None = None
        daemon.handlers[hermes.START_LISTENING] = self._start_listening
        daemon.handlers[hermes.STOP_LISTENING] = self._stop_listening

    def start(self) -> "VoiceService":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.put(True)
        self._thread.join(5)

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
        from ..daemon import Request

        site = self.config.site.id
        session = self.session or uuid.uuid4().hex
        ctx = hermes.Context(site, session, None)
        if heard.woke:
            self.daemon.publish_raw(hermes.hotword_topic(WAKEWORD_ID), hermes.hotword_detected(WAKEWORD_ID, ctx))
        if not heard.transcript.text:
            return
        self.daemon.publish_raw(hermes.TEXT_CAPTURED, hermes.text_captured(
            heard.transcript.text, heard.transcript.confidence, heard.transcript.audio_seconds, ctx,
            WAKEWORD_ID if heard.woke else None))
        request_id = uuid.uuid4().hex
        self.daemon.submit(Request(request_id, heard.transcript.text, "voice", received=heard.end_of_speech,
                                   ctx=hermes.Context(site, session, request_id)))
        self.session = None


def start_voice(config: Config, daemon: "Daemon") -> VoiceService | None:
    try:
        return VoiceService(config, daemon).start()
    except Exception as exc:  # voice is optional: text over MQTT must keep working
        log.error("voice disabled", extra={"reason": str(exc)})
        return None
