"""How the derived data beside this file was made (run once, from the project root):

    python export/recipes/data/derive.py --slurp PATH/TO/slurp/devel.jsonl --snips PATH/TO/snips/train

It applies exactly what the home recipe used to do at build time (SLURP: split by a hash of the
sentence, home intents mapped to Home Assistant's with their slots, the rest out of scope; SNIPS:
the intents a home hub does not serve, as out of scope, 1,200 of them), and writes the result as
labelled JSONL, so that a clone builds the default bundle without either data set.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from edge_slm.engine.labelled import Example
from export.data import read_slurp, read_snips, relabel

HERE = Path(__file__).parent
SKIP = ("iot_", "audio_", "datetime_", "lists_", "alarm_", "music", "play_", "cleaning", "set", "query", "podcasts")
SLOTS = {"house_place": "area", "color_type": "color", "device_type": "name"}
INTENTS = {
    "iot_hue_lightoff": "HassTurnOff", "hue_lightoff": "HassTurnOff", "iot_hue_lighton": "HassTurnOn",
    "iot_wemo_on": "HassTurnOn", "iot_wemo_off": "HassTurnOff", "iot_hue_lightdim": "HassLightSet",
    "iot_hue_lightup": "HassLightSet", "hue_lightup": "HassLightSet", "iot_hue_lightchange": "HassLightSet",
    "iot_cleaning": "HassVacuumStart", "weather_query": "HassGetWeather",
}
SNIPS_SEED = 13  # the home recipe's seed: the same 1,200 sentences it sampled before


def _line(example: Example) -> str:
    slots = [{"name": name, "value": example.text[start:end]} for name, start, end in example.spans]
    return json.dumps({"text": example.text, "intent": example.intent, "slots": slots}, ensure_ascii=False)


def write(path: Path, examples: list[Example]) -> None:
    path.write_text("".join(_line(e) + "\n" for e in examples), encoding="utf-8")
    print(f"{path}: {len(examples)} examples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slurp", type=Path, required=True)
    parser.add_argument("--snips", type=Path, required=True)
    args = parser.parse_args()
    for part in ("train", "eval"):
        examples = list(relabel(read_slurp(args.slurp, SLOTS, part), INTENTS, SKIP, "oos"))
        write(HERE / f"slurp-home-{part}.jsonl", examples)
    oos = list(relabel(read_snips(args.snips), {}, ("PlayMusic", "GetWeather"), "oos"))
    write(HERE / "snips-oos.jsonl", random.Random(SNIPS_SEED).sample(oos, 1200))


if __name__ == "__main__":
    main()
