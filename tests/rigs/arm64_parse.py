"""Run inside the arm64 root: parse a fixed list with the shipped bundle and print JSON."""

import json
import platform
import sys

from edge_slm.engine.nlu import Engine

engine = Engine.load(None, threads=1, cache_size=0)
texts = json.loads(sys.argv[1])
parses = engine.parse_batch(texts)
print(json.dumps({"machine": platform.machine(),
                  "results": [[p.intent, p.recognized, [[s.name, s.raw] for s in p.slots]] for p in parses]}))
