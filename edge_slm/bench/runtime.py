"""``edge-slm bench``: latency, throughput, memory, cold start and size, with a PyTorch baseline.

Every figure comes from the same run on the same machine, so ratios are fair.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_slm.bench.load import LoadWatch, note, progress
from edge_slm.engine.nlu import Engine, clean_text

COMMANDS = [
    "turn on the kitchen lights", "switch off the bedroom fan", "set the living room lights to fifty percent",
    "what's the weather like", "start a timer for ten minutes", "turn the thermostat to 21 degrees",
    "play abbey road in the kitchen", "pause the music", "is the front door locked",
    "add milk to my shopping list", "dim the desk lamp to 20 percent", "make the hallway light blue",
    "kill the lights in the den", "it's too dark in here", "open the garage door", "what time is it",
    "cancel the pizza timer", "set the volume to thirty", "send the roomba home", "tell me a joke",
]


def _percentiles(samples: list[float]) -> dict[str, float]:
    data = np.array(samples) * 1000.0
    return {"p50_ms": round(float(np.percentile(data, 50)), 3),
            "p99_ms": round(float(np.percentile(data, 99)), 3),
            "mean_ms": round(float(data.mean()), 3)}


def latency(engine: Engine, iterations: int) -> dict[str, float]:
    for text in COMMANDS:
        engine.parse(text)
    samples = []
    for i in range(iterations):
        text = COMMANDS[i % len(COMMANDS)]
        start = time.perf_counter()
        engine.parse(text)
        samples.append(time.perf_counter() - start)
    return _percentiles(samples)


def throughput(engine: Engine, batch: int, seconds: float = 2.0) -> float:
    texts = (COMMANDS * (batch // len(COMMANDS) + 1))[:batch]
    engine.parse_batch(texts)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        engine.parse_batch(texts)
        done += batch
    return round(done / (time.perf_counter() - start), 1)


def paired_latency(bundle_path: Path, engine: Engine, threads: int,
                   iterations: int) -> tuple[dict[str, float], dict[str, float]] | None:
    """ONNX Runtime and PyTorch on the same commands, in alternating rounds.

    Each round times every command once with each; rounds alternate which goes
    first.  Interleaving puts both under the same load, so the ratio holds on a
    busy machine where back-to-back blocks would not.
    """
    try:
        import torch

        from edge_slm.bench.torch_baseline import load_torch_baseline
    except ImportError:
        return None
    torch.set_num_threads(threads)
    model = load_torch_baseline(bundle_path / "model.onnx")

    def torch_parse(text: str) -> None:
        # The same work as the runtime's parse: clean, tokenize, run, decode.
        encoded = engine.encode([clean_text(text)])
        with torch.inference_mode():
            intent, slots = model(torch.from_numpy(encoded.input_ids),
                                  torch.from_numpy(encoded.attention_mask))
        engine.decode(text, encoded.words[0], encoded.first_tokens[0], intent[0].numpy(), slots[0].numpy())

    runners = {"ort": engine.parse, "torch": torch_parse}
    samples: dict[str, list[float]] = {"ort": [], "torch": []}
    for text in COMMANDS:
        for run in runners.values():
            run(text)
    rounds = max(1, iterations // len(COMMANDS))
    for round_index in range(rounds):
        order = ("ort", "torch") if round_index % 2 == 0 else ("torch", "ort")
        for name in order:
            for text in COMMANDS:
                start = time.perf_counter()
                runners[name](text)
                samples[name].append(time.perf_counter() - start)
    return _percentiles(samples["ort"]), _percentiles(samples["torch"])


_RSS_PROBE = """
import json, sys
from edge_slm.bench.load import LoadWatch, note, progress
from edge_slm.engine.nlu import Engine
COMMANDS = json.loads(sys.argv[2])
engine = Engine.load(sys.argv[1], threads=2)
for _ in range(20):
    for text in COMMANDS:
        engine.parse(text)
modules = sorted(m for m in ("torch", "transformers", "optimum") if m in sys.modules)
# VmHWM, not ru_maxrss: the latter carries the parent's peak across fork + exec.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"peak_rss_mb": hwm / 1024, "heavy_modules": modules}))
"""


def runtime_rss(bundle: str) -> dict[str, Any]:
    # Only the runtime in the probe: the commands travel as an argument, not by importing this module.
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE, bundle, json.dumps(COMMANDS)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_start(bundle: str, runs: int = 3) -> float:
    """Seconds from process start to the first answer of ``edge-slm parse``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "edge_slm", "parse", "--bundle", bundle,
                        "turn on the kitchen lights"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)), 3)


def run_bench(bundle: str | None, iterations: int = 400) -> dict[str, Any]:
    watch = LoadWatch().start()
    progress("loading the bundle")
    engine1 = Engine.load(bundle, threads=1, cache_size=0)
    engine2 = Engine.load(bundle, threads=2, cache_size=0)
    path = engine1.bundle.path
    result: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "bundle": {"name": engine1.manifest.name, "version": engine1.manifest.version,
                   "bytes": sum(p.stat().st_size for p in path.rglob("*") if p.is_file()),
                   "model_bytes": sum(p.stat().st_size for p in path.glob("model.onnx*"))},
    }
    progress(f"latency, {iterations} commands at 1 and 2 threads")
    result["onnxruntime_int8"] = {"threads_1": latency(engine1, iterations), "threads_2": latency(engine2, iterations)}
    progress("throughput")
    result["throughput_per_s"] = {
        "single_2_threads": round(1000.0 / max(latency(engine2, 100)["mean_ms"], 1e-6), 1),
        "batch_32_2_threads": throughput(engine2, 32)}
    cached = Engine.load(bundle, threads=2)
    cached.parse(COMMANDS[0])
    result["cache_hit"] = latency(cached, iterations)
    progress("ONNX Runtime and PyTorch interleaved")
    paired = {f"threads_{t}": paired_latency(path, engine1 if t == 1 else engine2, t, iterations)
              for t in (1, 2)}
    if all(paired.values()):
        result["interleaved"] = {k: {"onnxruntime_int8": v[0], "pytorch_fp32": v[1]}  # type: ignore[index]
                                 for k, v in paired.items()}
        result["speedup_vs_pytorch"] = {
            k: round(v[1]["p50_ms"] / v[0]["p50_ms"], 2) for k, v in paired.items()}  # type: ignore[index]
    progress("peak RSS and cold start in fresh processes")
    result["runtime_process"] = runtime_rss(str(path))
    result["cold_start_s"] = cold_start(str(path))
    result["machine_load"] = watch.result()
    return result


def markdown(result: dict[str, Any]) -> str:
    ort1, ort2 = result["onnxruntime_int8"]["threads_1"], result["onnxruntime_int8"]["threads_2"]
    lines = [
        f"Bundle `{result['bundle']['name']}` {result['bundle']['version']}: "
        f"{result['bundle']['bytes'] / 1e6:.2f} MB ({result['bundle']['model_bytes'] / 1e6:.2f} MB model); "
        f"{result['machine']['cores']} cores, Python {result['machine']['python']}.",
        "",
        "| measure | 1 thread | 2 threads |",
        "|---|---|---|",
        f"| ONNX Runtime int8, p50 / p99 (ms) | {ort1['p50_ms']} / {ort1['p99_ms']} | {ort2['p50_ms']} / {ort2['p99_ms']} |",
    ]
    if "interleaved" in result:
        pair = result["interleaved"]
        oi1, oi2 = pair["threads_1"]["onnxruntime_int8"], pair["threads_2"]["onnxruntime_int8"]
        pt1, pt2 = pair["threads_1"]["pytorch_fp32"], pair["threads_2"]["pytorch_fp32"]
        sp = result["speedup_vs_pytorch"]
        lines += [f"| ONNX Runtime int8, interleaved with PyTorch, p50 / p99 (ms) | {oi1['p50_ms']} / {oi1['p99_ms']} | {oi2['p50_ms']} / {oi2['p99_ms']} |",
                  f"| PyTorch fp32 (same weights), interleaved, p50 / p99 (ms) | {pt1['p50_ms']} / {pt1['p99_ms']} | {pt2['p50_ms']} / {pt2['p99_ms']} |",
                  f"| speed-up vs PyTorch (p50, interleaved) | {sp['threads_1']}x | {sp['threads_2']}x |"]
    lines += [
        "",
        f"- throughput: {result['throughput_per_s']['single_2_threads']} commands/s one at a time, "
        f"{result['throughput_per_s']['batch_32_2_threads']} commands/s in batches of 32 (2 threads)",
        f"- repeated command (LRU cache hit): p50 {result['cache_hit']['p50_ms']} ms",
        f"- peak RSS of a runtime-only process (load + 400 parses): {result['runtime_process']['peak_rss_mb']:.1f} MB; "
        f"heavy modules loaded: {result['runtime_process']['heavy_modules'] or 'none'}",
        f"- cold start (process start to first answer, `edge-slm parse`): {result['cold_start_s']} s",
    ]
    return "\n".join(lines) + "\n" + note(result.get("machine_load", {}))


def write_section(path: Path, marker: str, body: str) -> None:
    """Replace the text between ``<!-- marker -->`` and ``<!-- /marker -->`` (or append it)."""
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def svg(result: dict[str, Any]) -> str:
    """A small bar chart of p50 latency, ONNX Runtime int8 against PyTorch fp32, for the README."""
    bars: list[tuple[str, float, str]] = []
    for threads in (1, 2):
        key, plural = f"threads_{threads}", "s" if threads > 1 else ""
        # Beside PyTorch, the interleaved figures: both measured under the same load.
        pair = result.get("interleaved", {}).get(key)
        ort = pair["onnxruntime_int8"] if pair else result["onnxruntime_int8"][key]
        bars.append((f"int8 ONNX Runtime, {threads} thread{plural}", ort["p50_ms"], "#2b8a3e"))
        if pair:
            bars.append((f"fp32 PyTorch, {threads} thread{plural}", pair["pytorch_fp32"]["p50_ms"], "#868e96"))
    top = max(value for _, value, _ in bars) * 1.15
    width, left, row = 640, 230, 34
    height = 50 + row * len(bars) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="13">',
             f'<text x="10" y="22" font-size="15" font-weight="bold">edge-slm: one command, p50 latency (ms), '
             f'{result["machine"]["cores"]} cores</text>']
    for i, (label, value, colour) in enumerate(bars):
        y = 40 + i * row
        length = (width - left - 60) * value / top
        parts += [f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{label}</text>',
                  f'<rect x="{left}" y="{y + 4}" width="{length:.1f}" height="{row - 10}" fill="{colour}"/>',
                  f'<text x="{left + length + 6:.1f}" y="{y + 17}">{value:.2f}</text>']
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
