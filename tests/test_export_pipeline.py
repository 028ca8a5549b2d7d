"""The whole export pipeline on a tiny recipe, loaded by the real runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT

from edge_slm.engine.bundle import load_bundle, sha256_file
from edge_slm.engine.nlu import Engine

pytest.importorskip("torch")


def test_tiny_bundle_matches_design_and_loads(tiny_bundle: Path) -> None:
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    for key in ("format", "name", "version", "created", "language", "intents", "slots", "max_length",
                "inputs", "files", "quantization", "metrics", "source", "runtime"):
        assert key in manifest, key
    assert manifest["inputs"] == ["input_ids", "attention_mask"]
    for name, digest in manifest["files"].items():
        assert sha256_file(tiny_bundle / name) == digest
    metrics = manifest["metrics"]
    for model in ("teacher_fp32", "student_fp32", "student_int8"):
        assert {"intent_accuracy", "slot_f1", "exact_match"} <= set(metrics[model])
    assert 0 <= metrics["parity"]["intent_agreement"] <= 100
    assert manifest["source"]["recipe"]["sha256"] and manifest["source"]["data"]
    assert manifest["quantization"]["weights"] == "uint8"
    assert "MatMulInteger" in manifest["quantization"]["graph_ops"]
    # Weights live in the page-aligned side file; the graph itself is small.
    assert manifest["quantization"]["weights_file"] == "model.onnx.data" in manifest["files"]
    assert (tiny_bundle / "model.onnx").stat().st_size < (tiny_bundle / "model.onnx.data").stat().st_size
    assert (tiny_bundle / "asr" / "sentences.txt").read_text().split()
    assert not (tiny_bundle / "asr" / "words.txt").exists()  # nothing reads a word list
    assert manifest["actions"] == [a for a in ("HassTurnOn", "HassTurnOff") if a in manifest["intents"]]
    load_bundle(tiny_bundle)
    parse = Engine.load(tiny_bundle, threads=1).parse("turn off the lights in the garage")
    assert parse.intent in manifest["intents"]


@pytest.mark.slow
def test_parity_loss_refuses_to_write_a_bundle(tmp_path: Path) -> None:
    recipe = tmp_path / "strict.toml"
    text = (DATA / "tiny.toml").read_text().replace("max_drop = 100.0", "max_drop = -1.0")
    recipe.write_text(text.replace('path = "tiny.jsonl"', f'path = "{DATA / "tiny.jsonl"}"'))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "export", "build", str(recipe), "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 3, result.stderr[-2000:]
    assert "refusing to write the bundle" in result.stderr
    assert "under fp32" in result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_bad_recipe_fails_before_training(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text("bogus = 1\n" + (DATA / "tiny.toml").read_text())
    result = subprocess.run([sys.executable, "-m", "export", "build", str(recipe), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "unknown key 'bogus'" in result.stderr


def test_weights_file_is_page_aligned_and_holds_the_big_tensors(tiny_bundle: Path) -> None:
    import onnx

    graph = onnx.load(str(tiny_bundle / "model.onnx"), load_external_data=False).graph
    external = [t for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert any(t.name.startswith("encoder.embeddings.word_embeddings") for t in external)
    for tensor in external:
        entries = {e.key: e.value for e in tensor.external_data}
        assert entries["location"] == "model.onnx.data"
        assert int(entries["offset"]) % 4096 == 0


def test_fused_graph_and_its_pytorch_baseline_agree(tiny_bundle: Path) -> None:
    import numpy as np
    import torch

    from edge_slm.bench.torch_baseline import load_torch_baseline

    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert {"QAttention", "SkipLayerNormalization"} <= set(manifest["quantization"]["graph_ops"])
    baseline = load_torch_baseline(tiny_bundle / "model.onnx")
    engine = Engine.load(tiny_bundle, threads=1, cache_size=0)
    for text in ("turn off the lights in the garage", "what is the weather", "switch on the kitchen light"):
        encoded = engine.encode([text])
        intent, slots = engine.run(encoded)
        with torch.inference_mode():
            t_intent, t_slots = baseline(torch.from_numpy(encoded.input_ids), torch.from_numpy(encoded.attention_mask))
        # The same weights: int8 activations against fp32 move logits by hundredths (about 0.1 at
        # most here); a misplaced weight (query and key swapped) moves them by more than 1.
        assert np.abs(slots - t_slots.numpy()).max() < 0.5
        assert np.abs(intent - t_intent.numpy()).max() < 0.5


@pytest.mark.slow
def test_checkpoint_cache_reuses_only_what_nothing_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from export.build import build
    from export.recipe import load_recipe

    cache = tmp_path / "cache"
    first = build(load_recipe(DATA / "tiny.toml"), tmp_path / "a", cache=cache)
    assert "reusing" not in capsys.readouterr().out
    second = build(load_recipe(DATA / "tiny.toml"), tmp_path / "b", cache=cache)
    out = capsys.readouterr().out
    assert "teacher: reusing" in out and "student: reusing" in out
    assert sha256_file(first / "model.onnx.data") == sha256_file(second / "model.onnx.data")
    # Another student setting trains the student again on the same teacher.
    recipe = tmp_path / "other.toml"
    text = (DATA / "tiny.toml").read_text().replace("[student]", "[student]\ntemperature = 3.0")
    recipe.write_text(text.replace('path = "tiny.jsonl"', f'path = "{DATA / "tiny.jsonl"}"'))
    build(load_recipe(recipe), tmp_path / "c", cache=cache)
    out = capsys.readouterr().out
    assert "teacher: reusing" in out and "student: reusing" not in out
    assert len(list(cache.glob("student-*.pt"))) == 2


@pytest.mark.slow
def test_a_bundle_under_an_eval_floor_is_not_written(tmp_path: Path) -> None:
    recipe = tmp_path / "floor.toml"
    text = (DATA / "tiny.toml").read_text().replace('path = "tiny.jsonl"', f'path = "{DATA / "tiny.jsonl"}"')
    recipe.write_text(text.replace("limit = 20", "limit = 20\nmin_accuracy = 100.5"))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "export", "build", str(recipe), "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 3, result.stderr[-2000:]
    assert "refusing to write the bundle" in result.stderr and "< 100.5%" in result.stderr
    assert not out.exists()
    # A floor is for what is measured: on a training source it is a recipe error, before training.
    recipe.write_text(text.replace('[[data.eval]]', 'min_accuracy = 90\n\n[[data.eval]]', 1))
    result = subprocess.run([sys.executable, "-m", "export", "build", str(recipe), "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "for eval sources" in result.stderr


def test_figures_per_family_and_the_floors_they_are_held_to(tiny_bundle: Path, tmp_path: Path) -> None:
    from edge_slm.engine.labelled import read_jsonl
    from export.evaluate import below_floor, family_scores, score_engine

    data = tmp_path / "families.jsonl"
    data.write_text('{"text": "turn off the lights in the garage", "intent": "HassTurnOff", "family": "lights"}\n'
                    '{"text": "turn on the lights in the garage", "intent": "HassTurnOn", "family": "lights"}\n'
                    '{"text": "turn on the lights in the garage", "intent": "HassTurnOff", "family": "wrong"}\n')
    examples = list(read_jsonl(data))
    assert [e.family for e in examples] == ["lights", "lights", "wrong"]
    engine = Engine.load(tiny_bundle, threads=1)
    families = family_scores(engine, examples)
    assert set(families) == {"lights", "wrong"} and families["wrong"].total == 1
    overall = score_engine(engine, examples)[0]
    failures = below_floor("set", overall, families, 0.0, 101.0)
    assert len(failures) == 2 and failures[0].startswith("set/lights: intent accuracy")
    assert below_floor("set", overall, families, 0.0, 0.0) == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "intent": "A", "family": 3}\n')
    with pytest.raises(Exception, match="'family' must be a string"):
        list(read_jsonl(bad))
