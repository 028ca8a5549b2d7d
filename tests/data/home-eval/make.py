"""Writes commands.jsonl beside this file: our own phrasings for every target of home.yaml.

Each line: {"text", "intent", "targets": [entity ids]}; "targets": [] with "needs_target": true
for commands that must not be acted on. Run from the project root: python tests/data/home-eval/make.py
"""

import json
import random
from pathlib import Path

ON = ["turn on the {n}", "switch on the {n}", "please turn the {n} on", "could you turn on the {n}",
      "{n} on", "power up the {n}", "turn the {n} on please", "i want the {n} on", "can you switch the {n} on",
      "start the {n}"]
OFF = ["turn off the {n}", "switch off the {n}", "please turn the {n} off", "shut off the {n}", "{n} off",
       "kill the {n}", "power down the {n}", "turn the {n} off please", "can you switch off the {n}",
       "stop the {n}"]
AREA_ON = ["turn on the lights in the {a}", "switch on the {a} lights", "lights on in the {a}",
           "turn the {a} lights on", "can you turn on the {a} lights"]
AREA_OFF = ["turn off the lights in the {a}", "switch off the {a} lights", "lights off in the {a}",
            "turn the {a} lights off", "kill the lights in the {a}"]
OPEN = ["open the {n}", "please open the {n}", "raise the {n}"]
CLOSE = ["close the {n}", "please close the {n}", "shut the {n}", "lower the {n}"]
TYPOS = {"porch lantern": "porch lanturn", "aquarium heater": "aquarium heatr", "espresso machine": "expresso machine",
         "clothes airer": "clothes airor", "kitchen": "kitchn", "nursery fan": "nursey fan"}
UNTARGETED = ["turn on the lights", "turn it off", "switch everything on", "turn on", "switch it off please",
              "turn off the spaceship", "turn on the lights in the attic", "open it", "turn on the thing",
              "switch off the lights in the cellar"]


def main() -> None:
    import yaml

    here = Path(__file__).parent
    home = yaml.safe_load((here / "home.yaml").read_text())
    lines: list[dict] = []
    for entity in home["entities"]:
        names = [entity["name"].lower()] + [a.lower() for a in entity.get("aliases", [])]
        for name in names:
            if entity["entity_id"].startswith("cover."):
                lines += [{"text": t.format(n=name), "intent": "HassTurnOn", "targets": [entity["entity_id"]]}
                          for t in OPEN]
                lines += [{"text": t.format(n=name), "intent": "HassTurnOff", "targets": [entity["entity_id"]]}
                          for t in CLOSE]
                continue
            lines += [{"text": t.format(n=name), "intent": "HassTurnOn", "targets": [entity["entity_id"]]} for t in ON]
            lines += [{"text": t.format(n=name), "intent": "HassTurnOff", "targets": [entity["entity_id"]]} for t in OFF]
        typo = TYPOS.get(entity["name"].lower())
        if typo:
            lines += [{"text": f"turn on the {typo}", "intent": "HassTurnOn", "targets": [entity["entity_id"]]},
                      {"text": f"switch off the {typo}", "intent": "HassTurnOff", "targets": [entity["entity_id"]]}]
    for area in home["areas"]:
        lights = [e["entity_id"] for e in home["entities"] if e.get("area") == area["id"] and e["entity_id"].startswith("light.")]
        if not lights:
            continue
        for name in [area["name"].lower()] + [a.lower() for a in area.get("aliases", [])]:
            lines += [{"text": t.format(a=name), "intent": "HassTurnOn", "targets": sorted(lights)} for t in AREA_ON]
            lines += [{"text": t.format(a=name), "intent": "HassTurnOff", "targets": sorted(lights)} for t in AREA_OFF]
    lines += [{"text": "turn on the lights in the kitchn", "intent": "HassTurnOn",
               "targets": ["light.kitchen_pendant", "light.pantry_strip"]}]
    lines += [{"text": t, "intent": None, "targets": [], "needs_target": True} for t in UNTARGETED]
    random.Random(1).shuffle(lines)
    (here / "commands.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    print(len(lines), "commands")


if __name__ == "__main__":
    main()
