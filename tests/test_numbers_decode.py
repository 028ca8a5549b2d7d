from __future__ import annotations

import numpy as np
import pytest

from edge_slm.engine.decode import BioViterbi, split_words, tags_to_spans
from edge_slm.engine.numbers import words_to_number


# The textbook O(tags^2) Viterbi over an explicit transition matrix: the reference the
# runtime's BioViterbi is checked against.
def bio_transitions(tags: list[str]) -> np.ndarray:
    """Additive transition scores: 0 where allowed, -inf where forbidden (I-x only after B-x
    or I-x; B-x never right after B-x or I-x)."""
    size = len(tags)
    allowed = np.zeros((size + 1, size), dtype=np.float32)  # last row: sentence start
    for j, tag in enumerate(tags):
        if tag == "O":
            continue
        slot = tag[2:]
        for i in range(size + 1):
            prev = tags[i] if i < size else "O"
            same = prev in (f"B-{slot}", f"I-{slot}")
            if same != tag.startswith("I-"):
                allowed[i, j] = -np.inf
    return allowed


def viterbi(log_probs: np.ndarray, transitions: np.ndarray) -> list[int]:
    """Best tag path under the given transition scores."""
    steps, size = log_probs.shape
    if steps == 0:
        return []
    score = transitions[size] + log_probs[0]
    back = np.zeros((steps, size), dtype=np.int64)
    trans = transitions[:size]
    for t in range(1, steps):
        total = score[:, None] + trans
        back[t] = total.argmax(axis=0)
        score = total.max(axis=0) + log_probs[t]
    path = [int(score.argmax())]
    for t in range(steps - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


@pytest.mark.parametrize("text,value", [
    ("fifty percent", 50), ("50%", 50), ("twenty one", 21), ("seventy two degrees", 72),
    ("one hundred", 100), ("a hundred", 100), ("twenty point five", 20.5), ("21.5", 21.5),
    ("two and a half", 2.5), ("ninety-nine", 99), ("kitchen", None), ("a", None), ("", None),
])
def test_spoken_numbers(text: str, value: float | None) -> None:
    assert words_to_number(text) == value


def test_words_keep_character_offsets() -> None:
    words = split_words("Turn on the den's light, please!")
    assert [w.text for w in words] == ["Turn", "on", "the", "den's", "light", ",", "please", "!"]
    assert all("Turn on the den's light, please!"[w.start:w.end] == w.text for w in words)


def test_viterbi_never_starts_a_span_with_i() -> None:
    tags = ["O", "B-area", "I-area", "B-name", "I-name"]
    # Argmax alone would say I-area at word 0 and I-name after B-area.
    probs = np.array([[0.1, 0.3, 0.6, 0.0, 0.0],
                      [0.1, 0.5, 0.1, 0.0, 0.3],
                      [0.1, 0.0, 0.2, 0.0, 0.7]], dtype=np.float32)
    path = BioViterbi(tags)(np.log(probs + 1e-9))
    assert path == viterbi(np.log(probs + 1e-9), bio_transitions(tags))
    assert [tags[i] for i in path] != ["I-area", "B-area", "I-name"]
    for prev, cur in zip(["O"] + [tags[i] for i in path], [tags[i] for i in path]):
        if cur.startswith("I-"):
            assert prev[2:] == cur[2:]
    spans = tags_to_spans(tags, path, probs)
    assert all(0.0 <= s.confidence <= 1.0 for s in spans)


def test_scores_hand_computed() -> None:
    from edge_slm.engine.metrics import Scores

    scores = Scores()
    # gold slots 3, predicted 3, 2 right -> P = R = F1 = 66.67; intents 2/3; exact 1/3
    scores.add("On", "On", [("area", "Kitchen")], [("area", "kitchen ")])
    scores.add("Off", "Off", [("name", "fan"), ("area", "den")], [("name", "fan"), ("area", "hall")])
    scores.add("Time", "Weather", [], [("day", "today")])
    summary = scores.summary()
    assert summary["intent_accuracy"] == 66.67
    assert summary["slot_precision"] == 50.0 and summary["slot_recall"] == 66.67
    assert summary["slot_f1"] == 57.14 and summary["exact_match"] == 33.33
    assert scores.report()["per_intent"]["Time"]["intent_accuracy"] == 0.0


def test_fast_bio_viterbi_matches_the_generic_one() -> None:
    from edge_slm.engine.decode import bio_tags

    tags = bio_tags(["area", "name", "brightness"])
    fast, generic = BioViterbi(tags), bio_transitions(tags)
    rng = np.random.default_rng(1)
    shortcut = 0
    for steps in (1, 2, 5, 12):
        for _ in range(50):
            log_probs = np.log(rng.dirichlet(np.ones(len(tags)), size=steps))
            assert fast(log_probs) == viterbi(log_probs, generic)
            shortcut += fast.valid(log_probs.argmax(axis=1).tolist())
    # Both ways through: greedy paths that obey BIO and ones that need the dynamic programme.
    assert 0 < shortcut < 200
    assert fast(np.zeros((0, len(tags)))) == []


def test_bio_validity() -> None:
    from edge_slm.engine.decode import bio_tags

    tags = bio_tags(["area", "name"])
    check = BioViterbi(tags).valid
    ids = {t: i for i, t in enumerate(tags)}
    assert check([ids[t] for t in ["O", "B-area", "I-area", "I-area", "B-name", "I-name"]])
    assert check([ids[t] for t in ["B-area", "O", "B-area", "I-area"]])
    assert not check([ids[t] for t in ["B-area", "B-area", "I-area"]])  # back to back, one type
    assert not check([ids[t] for t in ["B-area", "I-area", "B-area"]])
    assert not check([ids["I-area"]])
    assert not check([ids[t] for t in ["B-area", "I-name"]])
    assert not check([ids[t] for t in ["B-area", "O", "I-area"]])


def test_bench_plot_is_valid_svg_with_a_bar_per_measure() -> None:
    import xml.etree.ElementTree as ET

    from edge_slm.bench.runtime import svg

    result = {"machine": {"cores": 2},
              "onnxruntime_int8": {"threads_1": {"p50_ms": 1.8}, "threads_2": {"p50_ms": 1.4}},
              "interleaved": {"threads_1": {"onnxruntime_int8": {"p50_ms": 1.7}, "pytorch_fp32": {"p50_ms": 7.6}},
                              "threads_2": {"onnxruntime_int8": {"p50_ms": 1.3}, "pytorch_fp32": {"p50_ms": 8.1}}}}
    root = ET.fromstring(svg(result))
    bars = [el for el in root if el.tag.endswith("rect")]
    assert len(bars) == 4
    widths = [float(b.get("width")) for b in bars]
    assert widths[1] > widths[0] * 4  # the PyTorch bar is drawn to scale


def test_intent_mask_keeps_the_path_to_the_intents_slot_types() -> None:
    from edge_slm.engine.decode import bio_tags, intent_tag_masks

    tags = bio_tags(["area", "artist", "playlist"])
    masks = intent_tag_masks(tags, {"AddToPlaylist": ["playlist"], "Other": []})
    fast, generic = BioViterbi(tags), bio_transitions(tags)
    rng = np.random.default_rng(3)
    for steps in (1, 4, 9):
        for _ in range(30):
            log_probs = np.log(rng.dirichlet(np.ones(len(tags)), size=steps))
            allowed = masks["AddToPlaylist"]
            path = fast(log_probs, allowed)
            assert {tags[i] for i in path} <= {"O", "B-playlist", "I-playlist"}
            assert path == viterbi(np.where(allowed, log_probs, -np.inf), generic)
            assert fast(log_probs, masks["Other"]) == [0] * steps
            assert fast(log_probs, None) == fast(log_probs)


def test_a_slot_is_not_split_into_back_to_back_spans_of_its_own_type() -> None:
    from edge_slm.engine.decode import bio_tags

    tags = bio_tags(["artist", "service"])
    ids = {t: i for i, t in enumerate(tags)}
    # "play a j pero": argmax says B-artist B-artist I-artist; the rule makes it one artist.
    probs = np.full((4, len(tags)), 0.01)
    for row, (tag, p) in enumerate([("O", 0.9), ("B-artist", 0.6), ("B-artist", 0.5), ("I-artist", 0.8)]):
        probs[row, ids[tag]] = p
    probs[2, ids["I-artist"]] = 0.4
    path = BioViterbi(tags)(np.log(probs))
    assert [tags[i] for i in path] == ["O", "B-artist", "I-artist", "I-artist"]
    assert [(s.name, s.first_word, s.last_word) for s in tags_to_spans(tags, path, probs)] == [("artist", 1, 3)]
