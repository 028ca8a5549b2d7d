"""Readers and recipe validation: every bad input is a clear error before training starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, ROOT

pytest.importorskip("hassil")

from edge_slm.engine.labelled import DataError, read_jsonl  # noqa: E402
from export.build import load_dataset  # noqa: E402
from export.data import from_bio, read_slurp, read_snips, relabel  # noqa: E402
from export.recipe import RecipeError, load_recipe  # noqa: E402
from export.templates import TemplateSampler, number_words  # noqa: E402

pytest.importorskip("home_assistant_intents")
from export.recipe import package_file  # noqa: E402

# Home Assistant's English templates as the pinned home-assistant-intents package ships them.
HA = package_file("home-assistant-intents", "en", Path("test"), "path")


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_spans_from_list_and_object(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.jsonl",
                  '{"text": "turn on the kitchen light", "intent": "On", "slots": [{"name": "area", "value": "kitchen"}]}\n'
                  '{"text": "dim to 50 percent", "intent": "Dim", "slots": {"brightness": "50"}}\n')
    first, second = list(read_jsonl(path))
    assert first.slot_values() == [("area", "kitchen")]
    assert first.word_tags() == (["turn", "on", "the", "kitchen", "light"], ["O", "O", "O", "B-area", "O"])
    assert second.spans == (("brightness", 7, 9),)


@pytest.mark.parametrize("line,message", [
    ("{bad json", "d.jsonl:2: not valid JSON"),
    ('{"text": "", "intent": "x"}', "d.jsonl:2: 'text' must be a non-empty string"),
    ('{"text": "hello", "intent": 3}', "d.jsonl:2: 'intent' must be"),
    ('{"text": "turn on the den", "intent": "On", "slots": [{"name": "area", "value": "attic"}]}',
     "d.jsonl:2: slot 'area' value 'attic' does not occur"),
    ('["a list"]', "d.jsonl:2: expected a JSON object"),
])
def test_jsonl_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, "d.jsonl", '{"text": "ok", "intent": "A"}\n' + line + "\n")
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        list(read_jsonl(path))


def test_snips_split_reads_and_checks_tags(tmp_path: Path) -> None:
    examples = list(read_snips(DATA / "snips-mini"))  # 60 lines of SNIPS' validation split, all 7 intents
    assert len(examples) == 60
    assert {e.intent for e in examples} >= {"PlayMusic", "GetWeather", "BookRestaurant"}
    assert any(e.spans for e in examples)
    with pytest.raises(DataError, match="3 words but 2 slot tags"):
        from_bio(["a", "b", "c"], ["O", "O"], "X", "f:1")
    bad = tmp_path / "snips"
    bad.mkdir()
    (bad / "seq.in").write_text("play some jazz\n")
    (bad / "seq.out").write_text("O O B-genre\n")
    (bad / "label").write_text("PlayMusic\nExtra\n")
    with pytest.raises(DataError, match="different line counts"):
        list(read_snips(bad))


def test_slurp_parts_do_not_overlap_and_map_slots() -> None:
    path = DATA / "slurp-mini.jsonl"  # 191 lines of SLURP's devel split
    train = list(read_slurp(path, {"house_place": "area"}, "train"))
    evals = list(read_slurp(path, {"house_place": "area"}, "eval"))
    assert len(train) + len(evals) == sum(1 for _ in path.open())
    assert not {e.text.lower() for e in train} & {e.text.lower() for e in evals}
    lights = [e for e in train if e.intent == "iot_hue_lightoff" and e.spans]
    assert lights and all(name == "area" for e in lights for name, _, _ in e.spans)
    mapped = list(relabel(train, {"iot_hue_lightoff": "HassTurnOff"}, ("iot_",), "oos"))
    assert {e.intent for e in mapped} == {"HassTurnOff", "oos"}
    assert all(not e.spans for e in mapped if e.intent == "oos")


def test_templates_sampled_with_hassil_and_spans_are_exact() -> None:
    lists = {"area": ["kitchen", "den"], "floor": ["upstairs"], "name": {"light": ["desk lamp"], "fan": ["fan"]}}
    sampler = TemplateSampler.load(HA, lists, seed=1, only=["HassTurnOn", "HassLightSet"])
    examples = sampler.sample(40)
    assert {e.intent for e in examples} == {"HassTurnOn", "HassLightSet"}
    for example in examples:
        for name, start, end in example.spans:
            value = example.text[start:end]
            assert value == value.strip() and value
            if name == "area":
                assert value in ("kitchen", "den")
    assert number_words(42) == "forty two" and number_words(21.5) == "twenty one point five"


def test_templates_need_the_homes_lists() -> None:
    sampler = TemplateSampler.load(HA, {}, seed=1, only=["HassShoppingListAddItem"])
    with pytest.raises(DataError, match="shopping_list_item"):
        sampler.sample(5)


def _recipe(tmp_path: Path, body: str) -> Path:
    data = tmp_path / "d.jsonl"
    if not data.exists():
        data.write_text((DATA / "tiny.jsonl").read_text())
    return _write(tmp_path, "r.toml", body)


BASE = 'name = "t"\nversion = "1"\n[[data.train]]\nkind = "jsonl"\npath = "{path}"\n'


def test_recipe_unknown_key_and_wrong_type(tmp_path: Path) -> None:
    good = BASE.format(path=tmp_path / "d.jsonl")
    with pytest.raises(RecipeError, match=r"r\.toml: unknown key 'teacher.epoch'"):
        load_recipe(_recipe(tmp_path, good + "[teacher]\nepoch = 3\n"))
    with pytest.raises(RecipeError, match=r"'teacher.lr' must be float, not str"):
        load_recipe(_recipe(tmp_path, good + '[teacher]\nlr = "fast"\n'))
    with pytest.raises(RecipeError, match=r"'data.train\[0\].kind' must be one of"):
        load_recipe(_recipe(tmp_path, good.replace('"jsonl"', '"csv"')))
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(_recipe(tmp_path, "name = \n"))


def test_empty_data_and_intent_without_examples(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    recipe = load_recipe(_recipe(tmp_path, BASE.format(path=empty)))
    with pytest.raises(DataError, match="no examples"):
        load_dataset(recipe)
    extra = tmp_path / "eval.jsonl"
    extra.write_text(json.dumps({"text": "open the pod bay doors", "intent": "OpenPod"}) + "\n")
    body = BASE.format(path=tmp_path / "d.jsonl") + f'[[data.eval]]\nkind = "jsonl"\npath = "{extra}"\n'
    with pytest.raises(DataError, match="intent.s. with no training examples: OpenPod"):
        load_dataset(load_recipe(_recipe(tmp_path, body)))


def test_a_template_typo_names_the_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "sentences"
    folder.mkdir()
    _write(folder, "lights.yaml", 'language: en\nintents:\n  HassTurnOn:\n    data:\n      - sentences:\n'
                                  '          - "turn on [the] {name}"\n          - "switch (on|off [the] {name}"\n')
    with pytest.raises(DataError, match=r"lights\.yaml:7: template 'switch \(on\|off \[the\] \{name\}' does not parse"):
        TemplateSampler.load(folder, {}, seed=1)
    _write(folder, "lights.yaml", "language: en\nintents:\n  X:\n    data:\n      - sentences:\n         - a\n"
                                  "        - b: [\n")
    with pytest.raises(DataError, match=r"lights\.yaml:7: not valid YAML"):
        TemplateSampler.load(folder, {}, seed=1)


def test_a_response_naming_an_unknown_slot_is_an_error(tmp_path: Path) -> None:
    from export.responses import build_responses

    settings = {"intents": {"LightsOn": ["Turned on the {area} lights", "Turned on the {room} lights"]}}
    with pytest.raises(DataError, match=r"responses.intents.LightsOn: .*\{room\}.* names slot\(s\) room"):
        build_responses(settings, ["LightsOn"], ["area"])
    assert build_responses({"intents": {"LightsOn": "On in the {area}"}}, ["LightsOn"], ["area"])["LightsOn"] == \
        ["On in the {area}"]


def test_numeric_slots_of_a_users_recipe_become_numbers(tmp_path: Path) -> None:
    from edge_slm.engine.nlu import Decoder, slot_value

    lines = [{"text": f"remind me in {n} days", "intent": "Remind", "slots": [{"name": "days", "value": n}]}
             for n in ("three", "two", "10", "twenty one", "a hundred")]
    lines += [{"text": "call mom", "intent": "Call", "slots": [{"name": "who", "value": "mom"}]}] * 3
    data = tmp_path / "remind.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    dataset = load_dataset(load_recipe(_recipe(tmp_path, BASE.format(path=data))))
    assert dataset.numeric_slots == ["days"]
    decoder = Decoder(["Remind"], ["O"], None, 0.5, {}, dataset.numeric_slots)
    assert slot_value("days", "three days", decoder.numeric) == 3
    assert slot_value("who", "Mom", decoder.numeric) == "mom"


def test_check_prints_counts_per_intent() -> None:
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "export", "check", str(DATA / "tiny.toml")], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "LightsOff" in out and "train" in out and "numeric slots" in out and out.strip().endswith("slot types")


@pytest.mark.parametrize("name", ["home", "snips", "templates"])
def test_every_shipped_recipe_loads(name: str, tmp_path: Path) -> None:
    from export.recipe import load_recipe

    recipe = load_recipe(ROOT / "export" / "recipes" / f"{name}.toml", tmp_path)
    assert recipe.name and recipe.train and recipe.eval


def _fsg_sentences(fsg: str) -> set[str]:
    """Every word sequence from the start state to the final state (the grammar is acyclic)."""
    lines = fsg.splitlines()
    start = int(next(line.split()[1] for line in lines if line.startswith("START_STATE")))
    final = int(next(line.split()[1] for line in lines if line.startswith("FINAL_STATE")))
    arcs: dict[int, list[tuple[int, str]]] = {}
    for line in lines:
        if line.startswith("TRANSITION"):
            parts = line.split()
            arcs.setdefault(int(parts[1]), []).append((int(parts[2]), parts[4] if len(parts) > 4 else ""))
    out: set[str] = set()

    def walk(state: int, said: tuple[str, ...]) -> None:
        if state == final:
            out.add(" ".join(said))
        for target, word in arcs.get(state, []):
            walk(target, said + ((word,) if word else ()))

    walk(start, ())
    return out


def test_the_speech_grammar_says_exactly_what_the_templates_say() -> None:
    """Compiled from the expression tree; compared with hassil's own expansion of the templates."""
    from hassil.sample import sample_intents

    from export.grammar import FsgCompiler
    from export.templates import _load_intents

    intents = _load_intents(DATA / "grammar")
    compiler = FsgCompiler(intents, {})
    fsg = compiler.compile()
    expected = {" ".join(words(text)) for _, text in sample_intents(intents, expand_ranges=True)}
    assert _fsg_sentences(fsg) == expected
    assert "make me a cup of mint tea with a bit of sugar" in expected and "make three cups" in expected
    assert compiler.skipped == ["Note: list {text} is free text"]  # a wildcard: the n-gram model's
    # Shared prefixes and suffixes: far smaller than the sentences written out.
    assert fsg.count("TRANSITION") < sum(len(s.split()) for s in expected) / 4


def words(text: str) -> list[str]:
    from export.grammar import words as grammar_words

    return grammar_words(text)
