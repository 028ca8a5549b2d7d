"""The ``edge-slm`` command: parse, eval, bench, run, demo, listen."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from edge_slm.engine.bundle import BundleError
from edge_slm.errors import ErrorCode


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _engine(args: argparse.Namespace):  # noqa: ANN202 - Engine import is deferred for fast --help
    from edge_slm.engine.nlu import Engine

    return Engine.load(args.bundle, threads=args.threads or 2,
                       threshold=0.5 if args.threshold is None else args.threshold)


def understander(args: argparse.Namespace):  # noqa: ANN201 - Understander import is deferred for fast --help
    """The daemon's own understanding: a config's [model], [home], [site] and [limits] (``--config``),
    with ``--bundle``, ``--threads``, ``--threshold``, ``--home`` and ``--area`` over them."""
    import dataclasses

    from edge_slm.cli.daemon import load_or_exit
    from edge_slm.service.understand import Understander

    config = load_or_exit(getattr(args, "config", None))
    model = dataclasses.replace(config.model, threads=args.threads or config.model.threads,
                                confidence_threshold=config.model.confidence_threshold if args.threshold is None
                                else args.threshold)
    home = dataclasses.replace(config.home, file=getattr(args, "home", None) or config.home.file)
    site = dataclasses.replace(config.site, area=getattr(args, "area", None) or config.site.area)
    config = dataclasses.replace(config, model=model, home=home, site=site)
    return Understander.from_config(config, bundle=args.bundle)


def cmd_parse(args: argparse.Namespace) -> int:
    from edge_slm.errors import RefusedInput
    from edge_slm.service.config import ConfigError
    from edge_slm.service.messages import ModelInfo, Source
    from edge_slm.service.outbox import printed_messages

    try:
        understanding = understander(args)
    except ConfigError as exc:
        print(f"edge-slm parse: {exc}", file=sys.stderr)
        return 2
    manifest = understanding.engine.manifest
    model = ModelInfo(manifest.name, manifest.version)

    def one(text: str) -> tuple[dict[str, Any], bool]:
        """The intent message of the command's first action, as the intent topic carries it; a compound
        command's every action in ``actions`` (one line out for every line in)."""
        start = time.perf_counter()
        try:
            decisions = understanding.understand(text)
        except RefusedInput as exc:
            return {"error": {"code": str(exc.code), "message": exc.message}}, False
        latency = (time.perf_counter() - start) * 1000
        messages = printed_messages(uuid.uuid4().hex, decisions, Source.CLI, model, latency,
                                    understanding.home.resolver is not None)
        first = dict(messages[0])
        if len(messages) > 1:
            first["actions"] = messages
        return first, True

    if args.text is not None:
        result, ok = one(args.text)
        print(_dump(result), flush=True)
        return 0 if ok else 1
    # One JSON line out for every line in, in order, whatever the line holds.
    for number, raw in enumerate(sys.stdin.buffer, 1):
        line = raw.rstrip(b"\r\n")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            result = {"error": {"code": str(ErrorCode.INVALID_UTF8), "message": f"line is not UTF-8 ({exc.reason})"}}
        else:
            result, _ = one(text)
        result["line"] = number
        sys.stdout.write(_dump(result) + "\n")
        sys.stdout.flush()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from edge_slm.engine.labelled import read_jsonl
    from edge_slm.engine.metrics import Scores

    engine = _engine(args)
    examples = list(read_jsonl(Path(args.data)))
    scores = Scores()
    for start in range(0, len(examples), 64):
        chunk = examples[start:start + 64]
        for example, parse in zip(chunk, engine.parse_batch([e.text for e in chunk])):
            predicted = parse.intent if parse.recognized else engine.manifest.out_of_scope
            scores.add(example.intent, predicted, example.slot_values(),
                       [(s.name, s.raw) for s in parse.slots])
    report = scores.report()
    if args.json:
        print(_dump(report))
        return 0
    print(f"examples        {report['count']}")
    for key in ("intent_accuracy", "slot_precision", "slot_recall", "slot_f1", "exact_match"):
        print(f"{key:<16}{report[key]:.2f}")
    print("\nper intent: count  intent_acc  slot_f1  exact")
    for name, s in report["per_intent"].items():  # type: ignore[union-attr]
        print(f"  {name:<32}{s['count']:>5}  {s['intent_accuracy']:>9.2f}  {s['slot_f1']:>7.2f}  {s['exact_match']:>6.2f}")
    return 0


# --flag: (module of edge_slm.bench, its run and markdown functions, the BENCHMARKS.md marker, the run's
# arguments besides the bundle). Without a flag: the runtime bench.
_BENCHES: dict[str, tuple[str, str, str, str, Callable[[argparse.Namespace], dict[str, Any]]]] = {
    "voice_data": ("voice_data", "run_voice_data_bench", "voice_data_markdown", "bench-voice-data", lambda a: {
        "folder": a.voice_data, "snrs": a.snr if a.snr is not None else [24, 12], "noise_file": a.noise,
        "recognizers": a.recognizer or ["pocketsphinx"], "vosk_model": a.vosk_model, "limit": a.limit,
        "whisper_beam": a.whisper_beam,
        "noise_suppression": a.noise_suppression, "auto_gain_dbfs": a.auto_gain}),
    "voice": ("voice", "run_voice_bench", "voice_markdown", "bench-voice",
              lambda a: {"recognizer": (a.recognizer or ["pocketsphinx"])[0]}),
    "wyoming": ("wyoming", "run_wyoming_bench", "wyoming_markdown", "bench-wyoming", lambda a: {}),
    "home": ("home", "run_home_bench", "home_markdown", "bench-home", lambda a: {}),
    "mqtt": ("mqtt", "run_mqtt_bench", "mqtt_markdown", "bench-mqtt", lambda a: {"count": a.count}),
    "": ("runtime", "run_bench", "markdown", "bench-runtime", lambda a: {"iterations": a.iterations}),
}


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    from edge_slm.bench.runtime import write_section
    from edge_slm.errors import EdgeSlmError

    flag = next((f for f in _BENCHES if f and getattr(args, f)), "")
    module_name, run_name, markdown_name, marker, arguments = _BENCHES[flag]
    module = importlib.import_module(f"edge_slm.bench.{module_name}")
    try:
        result = getattr(module, run_name)(args.bundle, **arguments(args))
    except EdgeSlmError as exc:
        print(f"edge-slm bench: {exc}", file=sys.stderr)
        return 2
    text = getattr(module, markdown_name)(result)
    if not flag and args.plot:
        Path(args.plot).write_text(module.svg(result), encoding="utf-8")
    if args.write:
        write_section(Path(args.write), marker, text)
    print(_dump(result) if args.json else text)
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", default=None, help="bundle directory or .tar (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: 2, or --config's)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="confidence threshold (default: 0.5, or --config's)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-slm", description="Offline intent + slot assistant runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {}

    p = sub.add_parser("parse", help="parse TEXT, or stdin one utterance per line (JSONL out)")
    p.add_argument("text", nargs="?")
    p.add_argument("--config", help="device config TOML: understand as that daemon does ([model], [home], [site])")
    p.add_argument("--home", help="home description YAML (default: the config's [home] file)")
    p.add_argument("--area", help="the room the command is said in (default: the config's [site] area)")
    _common(p)
    commands["parse"] = cmd_parse

    p = sub.add_parser("eval", help="intent accuracy and slot F1 on a labelled JSONL file")
    p.add_argument("--data", required=True)
    p.add_argument("--json", action="store_true")
    _common(p)
    commands["eval"] = cmd_eval

    p = sub.add_parser("bench", help="latency, throughput, memory, cold start, PyTorch baseline")
    p.add_argument("--json", action="store_true")
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--mqtt", action="store_true", help="command-to-intent round trips through Mosquitto")
    p.add_argument("--home", action="store_true", help="resolution against a generated home of 500 entities")
    p.add_argument("--wyoming", action="store_true", help="transcript-to-intent round trips through the Wyoming service")
    p.add_argument("--count", type=int, default=2000, help="--mqtt: commands to send")
    p.add_argument("--voice", action="store_true", help="spoken commands through the ALSA capture path")
    p.add_argument("--voice-data", metavar="DIR",
                   help="accept rate on labelled recordings (WAV/FLAC + label.json), clean and with noise mixed in")
    p.add_argument("--snr", type=float, action="append", help="--voice-data: an SNR in dB to mix noise at "
                                                             "(repeatable; default 24 and 12)")
    p.add_argument("--noise", default="", help="--voice-data: a WAV of your own noise (default: generated kitchen noise)")
    p.add_argument("--recognizer", action="append", choices=["pocketsphinx", "whisper", "vosk"],
                   help="--voice-data: the recogniser (repeatable: each on the same recordings; default pocketsphinx)")
    p.add_argument("--whisper-beam", type=int, default=3, help="--voice-data with whisper: beam width (1: greedy)")
    p.add_argument("--vosk-model", default="", help="--voice-data with --recognizer vosk: the model directory")
    p.add_argument("--limit", type=int, default=0, help="--voice-data: only the first N recordings")
    p.add_argument("--noise-suppression", type=int, default=0, help="--voice-data: WebRTC noise suppression 0-4")
    p.add_argument("--auto-gain", type=int, default=0, help="--voice-data: WebRTC automatic gain target (dBFS, 0 off)")
    p.add_argument("--write", metavar="FILE", help="update this Markdown file (e.g. BENCHMARKS.md)")
    p.add_argument("--plot", metavar="FILE.svg", help="also draw the latency comparison as an SVG")
    _common(p)
    commands["bench"] = cmd_bench

    from edge_slm.cli import daemon as daemon_cli

    daemon_cli.register(sub, commands, _common)
    from edge_slm.cli import home as home_cli

    home_cli.register(sub, commands)
    parser.set_defaults(_commands=commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args._commands[args.command](args)
    except BundleError as exc:
        print(f"edge-slm: bundle error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
