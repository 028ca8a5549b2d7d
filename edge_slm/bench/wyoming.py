"""``edge-slm bench --wyoming``: transcript in -> intent out through the Wyoming service, loopback TCP.

The service runs as the daemon runs it (its own thread and event loop, one understanding worker);
the client is the ``wyoming`` package's own, one connection, commands one after another.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from edge_slm.bench.load import LoadWatch, note, p50_p99, progress
from edge_slm.bench.runtime import COMMANDS
from edge_slm.engine.nlu import Engine
from edge_slm.service.broker import free_port, wait_port
from edge_slm.service.config import Config
from edge_slm.service.homefile import HomeFile
from edge_slm.service.wyoming import Understanding, WyomingThread


def run_wyoming_bench(bundle: str | None, count: int = 500) -> dict[str, Any]:
    from wyoming.asr import Transcript
    from wyoming.client import AsyncTcpClient

    watch = LoadWatch().start()
    progress("starting the Wyoming service on a loopback port")
    port = free_port()
    engine = Engine.load(bundle, threads=2, cache_size=0)
    # The channel's rate limit is off: the bench sends far more than a household's 20 commands/s,
    # and limited answers (which cost nothing) would be timed instead of understanding.
    config = dataclasses.replace(Config(), limits=dataclasses.replace(Config().limits, rate_per_second=0.0))
    service = WyomingThread(f"tcp://127.0.0.1:{port}", Understanding(engine, config, HomeFile(None))).start()
    wait_port(port)

    kinds: dict[str, int] = {}

    async def rounds() -> list[float]:
        samples = []
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for i in range(count + 50):
                start = time.perf_counter()
                await client.write_event(Transcript(text=COMMANDS[i % len(COMMANDS)]).event())
                event = await client.read_event()
                if i >= 50:  # the first 50 warm up
                    samples.append(time.perf_counter() - start)
                    kind = event.type if event is not None else "closed"
                    kinds[kind] = kinds.get(kind, 0) + 1
        return samples

    progress(f"{count} transcripts, one after another")
    try:
        samples = asyncio.run(rounds())
    finally:
        service.stop()
    return {"round_trip": p50_p99(samples), "answers": kinds,
            "count": count, "machine_load": watch.result()}


def wyoming_markdown(result: dict[str, Any]) -> str:
    return ("| path (loopback TCP, wyoming's own client, cache off) | p50 (ms) | p99 (ms) |\n|---|---|---|\n"
            f"| transcript -> intent (or not-recognized) | {result['round_trip']['p50_ms']} | "
            f"{result['round_trip']['p99_ms']} |\n\n"
            f"- {result['count']} commands one after another on one connection (rate limit off); answers: "
            + ", ".join(f"{k} {v}" for k, v in sorted(result.get("answers", {}).items())) + "\n"
            + note(result.get("machine_load", {})))
