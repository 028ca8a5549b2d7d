"""Sub-commands around the daemon: ``run`` (the service) and ``demo`` (the whole loop on one machine)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from edge_slm.errors import MissingExtra, require_extra
from edge_slm.service.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from edge_slm.engine.bundle import Bundle
    from edge_slm.voice.asr import Recognizer

DEMO_COMMANDS = [
    "turn on the kitchen lights",
    '{"text": "set the living room lights to fifty percent", "id": "demo-2"}',
    "what's the weather like",
    "kill the lights in the den",
    "start a timer for ten minutes",
    "tell me a joke",
    '{"text": 42}',
]


def open_bundle(config: Config, location: str | None, voice: bool) -> tuple[Bundle, Recognizer | None]:
    """The bundle, and Whisper when ``voice`` is on and it is the recogniser, loaded before any
    engine: Whisper turns its float16 weights into int8 as it loads (about 100 MB for a moment), and
    an engine loaded afterwards reuses what that freed, so peak RSS stays under 250 MB (260 MB the
    other way round; BENCHMARKS.md). Raises BundleError, MissingExtra or AsrError."""
    from edge_slm.engine.bundle import load_bundle

    bundle = load_bundle(location or config.model.bundle, config.model.trusted_keys)
    if not voice or config.voice.recognizer != "whisper":
        return bundle, None
    require_extra("voice")
    require_extra("whisper")
    from edge_slm.voice.asr import make_recognizer

    settings = config.voice
    return bundle, make_recognizer("whisper", bundle.path, whisper_model=settings.whisper_model,
                                   whisper_beam=settings.whisper_beam, threads=settings.threads,
                                   wake_phrase=settings.wake_phrase)


def load_or_exit(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        # One line, no traceback: systemd shows it in the journal as is.
        print(f"edge-slm: config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    from edge_slm.engine.bundle import BundleError
    from edge_slm.service import logs
    from edge_slm.service.daemon import Daemon

    config = load_or_exit(args.config)
    logs.setup(config.service.log_level)
    # What the config turns on must start, or the service says why and stops (systemd shows the
    # line); it never reports READY with a part missing.
    try:
        part = "voice" if config.voice.enabled else ""
        bundle, recognizer = open_bundle(config, None, config.voice.enabled)
        part = ""
        daemon = Daemon(config, bundle=bundle)
        if config.voice.enabled:
            part = "voice"
            require_extra("voice")
            from edge_slm.voice.pipeline import VoicePipeline
            from edge_slm.voice.service import VoiceService

            pipeline = VoicePipeline(config.voice, bundle.path, recognizer, intent_of=daemon.intent_of)
            daemon.components.append(VoiceService(config, daemon, pipeline).start())
        if config.wyoming.enabled:
            part = "wyoming"
            require_extra("wyoming")
            from edge_slm.service.wyoming import Channel, WyomingThread

            daemon.components.append(WyomingThread(config.wyoming.uri, Channel(daemon.understander, config)).start())
    except BundleError as exc:
        print(f"edge-slm: bundle error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"edge-slm: config error: {exc}", file=sys.stderr)
        return 2
    except MissingExtra as exc:
        print(f"edge-slm: {part}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback in a restart loop
        print(f"edge-slm: {part or 'the service'} cannot start: {exc}", file=sys.stderr)
        return 2
    daemon.start()
    return daemon.run_forever()


def cmd_wyoming(args: argparse.Namespace) -> int:
    """The Wyoming intent service alone (no MQTT)."""
    import asyncio
    import signal

    from edge_slm.engine.bundle import BundleError
    from edge_slm.service import logs
    from edge_slm.service.understand import Understander

    config = load_or_exit(args.config)
    logs.setup(config.service.log_level)
    try:
        require_extra("wyoming")
        from edge_slm.service.wyoming import Channel, serve

        channel = Channel(Understander.from_config(config), config)
    except (BundleError, ConfigError, MissingExtra) as exc:
        print(f"edge-slm wyoming: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(args.uri or config.wyoming.uri, channel, stop)

    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"edge-slm wyoming: cannot listen on {args.uri or config.wyoming.uri} ({exc.strerror})", file=sys.stderr)
        return 2
    return 0


def _first_seconds(chunks, seconds: float):  # noqa: ANN001, ANN202 - iterator of int16 arrays
    left = int(seconds * 16000)
    try:
        for chunk in chunks:
            if left <= 0:
                return
            yield chunk[:left]
            left -= chunk.size
    finally:
        chunks.close()  # stop the capture stream now, not at garbage collection


def cmd_listen(args: argparse.Namespace) -> int:
    import time
    import uuid
    from pathlib import Path

    from edge_slm.engine.bundle import BundleError
    from edge_slm.errors import RefusedInput
    from edge_slm.service import logs
    from edge_slm.service.messages import ModelInfo, Source
    from edge_slm.service.outbox import printed_messages
    from edge_slm.service.understand import Understander
    from edge_slm.voice.asr import AsrError
    from edge_slm.voice.audio import AudioError, Microphone, read_wav, recording_chunks
    from edge_slm.voice.pipeline import VoicePipeline

    config = load_or_exit(args.config)
    if args.recognizer:
        import dataclasses

        config = dataclasses.replace(config, voice=dataclasses.replace(config.voice, recognizer=args.recognizer))
    logs.setup("warning")
    try:
        require_extra("voice")
        bundle, recognizer = open_bundle(config, args.bundle, voice=True)
        # The daemon's understanding: the config's home and room, compound commands split.
        understander = Understander.from_config(config, bundle=bundle)
    except (MissingExtra, ConfigError, BundleError, AsrError) as exc:
        print(f"edge-slm listen: {exc}", file=sys.stderr)
        return 2
    engine = understander.engine
    model = ModelInfo(engine.manifest.name, engine.manifest.version)
    try:
        pipeline = VoicePipeline(config.voice, bundle.path, recognizer, intent_of=engine.intent_of)
        if args.wav:
            audio = read_wav(Path(args.wav))
            chunks = recording_chunks(audio)
        else:
            chunks = Microphone(config.voice.device or None, config.voice.samplerate).chunks()
        if args.seconds > 0:
            chunks = _first_seconds(chunks, args.seconds)
        for heard in pipeline.hear(chunks):
            if not heard.transcript.text:
                continue
            try:
                decisions = understander.understand(heard.transcript.text)
            except RefusedInput:
                continue
            asr = {"recognizer": pipeline.recognizer.name, "confidence": heard.transcript.confidence,
                   "audio_s": round(heard.transcript.audio_seconds, 3),
                   "rtf": round(heard.transcript.real_time_factor, 4)}
            latency = (time.perf_counter() - heard.end_of_speech) * 1000
            for body in printed_messages(uuid.uuid4().hex, decisions, Source.VOICE, model, latency,
                                         understander.home.resolver is not None, asr):
                print(json.dumps(body, ensure_ascii=False), flush=True)
    except (AudioError, AsrError) as exc:
        print(f"edge-slm listen: {exc}", file=sys.stderr)
        return 2
    return 0


def _broker_reachable(config: Config) -> bool:
    import socket

    try:
        with socket.create_connection((config.mqtt.host, config.mqtt.port), timeout=1.0):
            return True
    except OSError:
        return False


def cmd_demo(args: argparse.Namespace) -> int:
    import paho.mqtt.client as mqtt

    from edge_slm.service.broker import BrokerError, LocalBroker
    from edge_slm.service.daemon import Daemon
    from edge_slm.service.mqtt import make_client

    config = load_or_exit(args.config)
    broker = None
    if args.config and _broker_reachable(config):
        print(f"broker: {config.mqtt.host}:{config.mqtt.port} (configured)")
    else:
        try:
            broker = LocalBroker().start()
        except BrokerError as exc:
            print(f"edge-slm demo: no broker configured and {exc}", file=sys.stderr)
            return 2
        config = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, host="127.0.0.1", port=broker.port,
                                                                          username="", password_file="", tls_ca=""))
        print(f"broker: local mosquitto on 127.0.0.1:{broker.port}")
    daemon = Daemon(config)
    daemon.start()
    try:
        if not daemon.wait_connected(10):
            print("edge-slm demo: the daemon could not connect to the broker", file=sys.stderr)
            return 1
        seen: list[tuple[str, Any]] = []
        lock = threading.Condition()

        def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            if msg.topic.endswith("/command"):
                return
            try:
                payload: Any = json.loads(msg.payload)
            except ValueError:
                payload = msg.payload.decode("utf-8", "replace")
            with lock:
                seen.append((msg.topic, payload))
                lock.notify_all()

        watcher = make_client(config, "edge-slm-demo-watcher", persistent=False)
        watcher.on_message = on_message
        ready = threading.Event()
        watcher.on_subscribe = lambda *a: ready.set()
        watcher.on_connect = lambda c, *a: c.subscribe([(f"{config.mqtt.topic_prefix}/{config.site.id}/#", 1),
                                                        ("hermes/intent/#", 1), ("hermes/tts/say", 1)])
        watcher.connect(config.mqtt.host, config.mqtt.port)
        watcher.loop_start()
        ready.wait(5)
        topic = f"{config.mqtt.topic_prefix}/{config.site.id}/command"
        for command in DEMO_COMMANDS:
            print(f"\n>>> {topic}: {command}")
            with lock:
                start = len(seen)
                watcher.publish(topic, command.encode(), qos=1)
                lock.wait_for(lambda: any(t == "hermes/tts/say" or t.endswith("/error") for t, _ in seen[start:]),
                              timeout=5)
                time.sleep(0.05)
                lock.wait(0.1)
                for t, payload in seen[start:]:
                    if t.endswith("/status"):
                        continue
                    print(f"<<< {t}: {json.dumps(payload, ensure_ascii=False)[:400]}")
        watcher.loop_stop()
        watcher.disconnect()
    finally:
        daemon.stop()
        if broker:
            broker.stop()
    return 0


def register(sub: Any, commands: dict[str, Callable[[argparse.Namespace], int]], common: Callable) -> None:
    p = sub.add_parser("run", help="the daemon: MQTT (and voice) in, intents and responses out")
    p.add_argument("--config", help="device config TOML (default: built-in defaults)")
    commands["run"] = cmd_run

    p = sub.add_parser("listen", help="voice: from the microphone or a WAV file, one intent message per utterance")
    p.add_argument("--wav", help="read this WAV file instead of the microphone")
    p.add_argument("--config", help="device config TOML ([voice] and [model] are used)")
    p.add_argument("--bundle", default=None)
    p.add_argument("--seconds", type=float, default=0.0,
                   help="stop after this much audio (0: run until interrupted)")
    p.add_argument("--recognizer", choices=["pocketsphinx", "whisper", "vosk"],
                   help="instead of the config's [voice] recognizer")
    commands["listen"] = cmd_listen

    p = sub.add_parser("wyoming", help="the Wyoming intent service alone (Home Assistant's conversation agent)")
    p.add_argument("--config", help="device config TOML ([model], [home], [wyoming] are used)")
    p.add_argument("--uri", default="", help="tcp://HOST:PORT (default: [wyoming] uri)")
    commands["wyoming"] = cmd_wyoming

    p = sub.add_parser("demo", help="the whole loop on this machine: broker, daemon, sample commands")
    p.add_argument("--config", help="use this config's broker if it answers")
    commands["demo"] = cmd_demo
