"""Bundle verification: every file's sha256 and the format version, before anything loads."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from edge_slm import BUNDLE_FORMAT
from edge_slm.engine.bundle import BundleError, load_bundle
from edge_slm.engine.nlu import Engine


def test_default_bundle_verifies_and_lists_its_files() -> None:
    bundle = load_bundle(None)
    files = set(bundle.manifest.files)
    assert {"model.onnx", "model.onnx.data", "tokenizer.json", "responses.json",
            "asr/sentences.txt"} <= files
    assert bundle.manifest.format == BUNDLE_FORMAT
    assert "HassTurnOn" in bundle.manifest.intents
    assert bundle.manifest.out_of_scope in bundle.manifest.intents


def test_tampered_model_is_refused_naming_the_file(bundle_copy: Path) -> None:
    model = bundle_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx: sha256 mismatch"):
        load_bundle(bundle_copy)


def test_tampered_weights_file_is_refused_naming_it(bundle_copy: Path) -> None:
    weights = bundle_copy / "model.onnx.data"
    with weights.open("r+b") as handle:
        handle.seek(weights.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(BundleError, match=r"model\.onnx\.data: sha256 mismatch"):
        load_bundle(bundle_copy)


def test_unlisted_file_is_refused(bundle_copy: Path) -> None:
    # A file the manifest does not vouch for could be read by the model (external weights).
    (bundle_copy / "extra.onnx.data").write_bytes(b"\0" * 16)
    with pytest.raises(BundleError, match=r"extra\.onnx\.data: not listed in manifest\.json"):
        load_bundle(bundle_copy)


def test_truncated_tokenizer_is_refused(bundle_copy: Path) -> None:
    tok = bundle_copy / "tokenizer.json"
    tok.write_bytes(tok.read_bytes()[:100])
    with pytest.raises(BundleError, match=r"tokenizer\.json: sha256 mismatch"):
        load_bundle(bundle_copy)


def test_missing_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "responses.json").unlink()
    with pytest.raises(BundleError, match=r"responses\.json: missing"):
        load_bundle(bundle_copy)


def test_newer_format_asks_for_an_upgrade(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["format"] = BUNDLE_FORMAT + 1
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="upgrade edge-slm"):
        load_bundle(bundle_copy)


def test_corrupt_manifest_and_escaping_paths(bundle_copy: Path) -> None:
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["../etc/passwd"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="escapes the bundle"):
        load_bundle(bundle_copy)
    manifest_path.write_text("{not json")
    with pytest.raises(BundleError, match="manifest.json: not valid JSON"):
        load_bundle(bundle_copy)


def test_missing_bundle_path(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="bundle not found"):
        load_bundle(tmp_path / "nope")


def test_tar_bundle_loads_and_parses(tiny_bundle: Path, tmp_path: Path) -> None:
    archive = tmp_path / "tiny.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tiny_bundle, arcname="tiny")
    engine = Engine.load(archive, threads=1)
    assert engine.parse("turn on the lights in the kitchen").intent == "LightsOn"


def test_shipped_bundle_matches_its_recipe() -> None:
    """The default bundle can be rebuilt: its manifest names the recipe in the tree by hash."""
    import hashlib

    from conftest import ROOT

    manifest = load_bundle(None).manifest
    recipe = ROOT / "export" / "recipes" / manifest.source["recipe"]["file"]
    assert hashlib.sha256(recipe.read_bytes()).hexdigest() == manifest.source["recipe"]["sha256"]
    assert {entry["license"] for entry in manifest.source["licenses"]} >= {"Apache-2.0", "CC BY 4.0"}
    # Its lists' names are examples of what homes hold: no speech grammar forces speech onto them.
    from export.recipe import load_recipe

    assert load_recipe(recipe).speech_grammar is False
    assert not (load_bundle(None).path / "asr" / "grammar.fsg").exists()


def test_the_shipped_bundle_is_signed_by_the_first_shipped_key_and_earlier_keys_stay() -> None:
    """The shipped key file lists the current release key first and earlier releases' after it, so
    that a bundle already on a device keeps loading after an upgrade."""
    from edge_slm.engine.signing import default_public_keys, key_id

    keys = default_public_keys()
    assert len(keys) >= 2 and load_bundle(None).signed_by == key_id(keys[0])


def test_intent_slots_must_name_the_bundles_slots(bundle_copy: Path) -> None:
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["intent_slots"] = {"LightsOn": ["no_such_slot"]}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="intent_slots"):
        load_bundle(bundle_copy)


def test_an_intent_only_gets_its_own_slot_types(bundle_copy: Path) -> None:
    text = "turn on the lights in the kitchen"
    manifest = load_bundle(bundle_copy).manifest
    assert "area" in manifest.intent_slots["LightsOn"]
    assert [s.name for s in Engine.load(bundle_copy, threads=1).parse(text).slots] == ["area"]
    # The same model told that LightsOn has no slots finds none.
    manifest_path = bundle_copy / "manifest.json"
    raw = json.loads(manifest_path.read_text())
    raw["intent_slots"]["LightsOn"] = []
    manifest_path.write_text(json.dumps(raw))
    parse = Engine.load(bundle_copy, threads=1).parse(text)
    assert parse.intent == "LightsOn" and parse.slots == ()
