"""Time Home Assistant's conversation API with edge-slm (Wyoming) as the agent and with Home
Assistant's own built-in agent, side by side on one Home Assistant (the rig's).

    EDGE_SLM_RIGS=1 python tests/rigs/ha_conversation_timing.py     # as root; prints Markdown
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import test_home_assistant as rig_module  # noqa: E402

SENTENCES = ["turn off the kitchen spots", "turn on the kitchen spots", "turn off the hallway light",
             "turn on the hallway light", "open the office blinds", "close the office blinds"]


def main() -> None:
    fixture = rig_module.rig.__wrapped__(type("F", (), {"mktemp": lambda self, name: Path(tempfile.mkdtemp())})())
    rig = next(fixture)
    try:
        ha = rig.ha
        ha.flow("wyoming", {"host": "127.0.0.1", "port": rig.wyoming_port})
        edge = next(s["entity_id"] for s in ha.rest("GET", "/api/states") if s["entity_id"].startswith(
            "conversation.") and s["entity_id"] != "conversation.home_assistant")
        times: dict[str, list[float]] = {edge: [], "conversation.home_assistant": []}
        done: dict[str, int] = {edge: 0, "conversation.home_assistant": 0}
        failed: list[str] = []
        for i in range(20 + 200):
            for agent in times:  # interleaved: the same load for both
                start = time.perf_counter()
                reply = ha.rest("POST", "/api/conversation/process",
                                {"text": SENTENCES[i % len(SENTENCES)], "language": "en", "agent_id": agent})
                if i >= 20:
                    times[agent].append((time.perf_counter() - start) * 1000)
                    ok = reply["response"]["response_type"] == "action_done"
                    done[agent] += ok
                    if not ok and len(failed) < 5:
                        failed.append(f"{agent}: {SENTENCES[i % len(SENTENCES)]!r}: {reply['response']}")
            time.sleep(0.06)  # under edge-slm's 20 commands/s channel limit (a household says far fewer)
        print("| agent (Home Assistant 2026.11, /api/conversation/process) | p50 (ms) | p99 (ms) | acted |")
        print("|---|---|---|---|")
        for agent, samples in times.items():
            samples.sort()
            print(f"| {agent} | {statistics.median(samples):.1f} | {samples[int(len(samples) * 0.99) - 1]:.1f} | "
                  f"{done[agent]}/{len(samples)} |")
        for line in failed:
            print(f"- not done: {line}")
    finally:
        try:
            next(fixture)
        except StopIteration:
            pass


if __name__ == "__main__":
    main()
