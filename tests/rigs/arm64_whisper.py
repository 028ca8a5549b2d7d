"""Run inside the arm64 root: Whisper (CTranslate2 int8, the aarch64 wheel) on WAV files with the
shipped bundle's prompt and grammar; print JSON."""

import json
import platform
import sys
from pathlib import Path

import edge_slm
from edge_slm.voice.audio import read_wav
from edge_slm.voice.whisper import Whisper

whisper = Whisper(Path(edge_slm.__file__).parent / "bundles" / "default", beam=int(sys.argv[1]), threads=2)
heard = [whisper.transcribe(read_wav(Path(path))) for path in sys.argv[2:]]
print(json.dumps({"machine": platform.machine(), "texts": [t.text for t in heard],
                  "seconds": [round(t.decode_seconds, 1) for t in heard]}))
