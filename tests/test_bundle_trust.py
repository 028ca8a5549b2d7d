"""Bundles are not trusted on their own word: signatures, archive bombs, links, leftovers."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT

from edge_slm.engine.bundle import (
    MAX_ARCHIVE_BYTES,
    BundleError,
    default_bundle_path,
    load_bundle,
)
from edge_slm.engine.signing import generate


@pytest.fixture()
def default_copy(tmp_path: Path) -> Path:
    target = tmp_path / "default"
    shutil.copytree(default_bundle_path(), target)
    return target


def swap_intents(bundle: Path, a: str, b: str) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    intents = manifest["intents"]
    i, j = intents.index(a), intents.index(b)
    intents[i], intents[j] = intents[j], intents[i]
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def test_the_shipped_bundle_is_signed_by_the_shipped_key() -> None:
    assert load_bundle(None, trusted_keys=["default"]).signed_by


def test_a_manifest_changed_after_signing_is_refused_with_or_without_trusted_keys(default_copy: Path) -> None:
    swap_intents(default_copy, "HassTurnOn", "HassTurnOff")  # every digest still matches
    for keys in (None, [], ["default"]):
        with pytest.raises(BundleError, match="signature does not match manifest.json"):
            load_bundle(default_copy, trusted_keys=keys)


def test_unsigned_and_foreign_signed_bundles_are_refused(default_copy: Path, tmp_path: Path) -> None:
    from export.bundle_writer import sign_bundle

    key, pub = generate(tmp_path / "keys")
    (default_copy / "manifest.sig").unlink()
    with pytest.raises(BundleError, match="unsigned"):
        load_bundle(default_copy, trusted_keys=["default"])
    assert load_bundle(default_copy).signed_by is None  # unsigned, and no key asked for: digests only
    sign_bundle(default_copy, key)
    for keys in (None, ["default"]):  # signed by a key the device does not know: never loaded
        with pytest.raises(BundleError, match="does not know"):
            load_bundle(default_copy, trusted_keys=keys)
    assert load_bundle(default_copy, trusted_keys=[str(pub)]).signed_by
    assert load_bundle(default_copy, trusted_keys=[pub.read_text().strip(), "default"]).signed_by


def test_export_cli_keygen_and_sign(default_copy: Path, tmp_path: Path) -> None:
    keys = tmp_path / "k"
    run = [sys.executable, "-m", "export"]
    out = subprocess.run(run + ["keygen", "--out", str(keys)], capture_output=True, text=True, check=True)
    assert "key id" in out.stdout and oct((keys / "signing.key").stat().st_mode & 0o777) == "0o600"
    again = subprocess.run(run + ["keygen", "--out", str(keys)], capture_output=True, text=True)
    assert again.returncode == 2 and "not overwritten" in again.stderr
    subprocess.run(run + ["sign", str(default_copy), "--key", str(keys / "signing.key")], check=True,
                   capture_output=True)
    assert load_bundle(default_copy, trusted_keys=[str(keys / "signing.pub")]).signed_by


@pytest.mark.parametrize("command", [
    ["run", "--config", "{config}"],
    ["parse", "--bundle", "{bundle}", "turn on the kitchen lights"],
    ["parse", "--config", "{config}", "turn on the kitchen lights"],
    ["eval", "--bundle", "{bundle}", "--data", "{data}"],
    ["listen", "--bundle", "{bundle}", "--wav", "{wav}"],
    ["wyoming", "--config", "{config}", "--uri", "tcp://127.0.0.1:1"],
    ["home", "check", "{home}", "--bundle", "{bundle}", "--try", "turn on the kitchen lights"],
    ["home", "eval", "{home}", "--bundle", "{bundle}", "--data", "{data}"],
    ["bench", "--bundle", "{bundle}", "--iterations", "1"],
])
def test_a_tampered_signed_bundle_is_refused_everywhere_it_is_loaded(default_copy: Path, tmp_path: Path,
                                                                     command: list[str]) -> None:
    """HassTurnOn and HassTurnOff swapped in the manifest: "turn on" would switch off. With no
    configuration at all, no command of edge-slm loads it."""
    swap_intents(default_copy, "HassTurnOn", "HassTurnOff")
    config = tmp_path / "c.toml"
    config.write_text(f'[model]\nbundle = "{default_copy}"\n')
    home = tmp_path / "home.yaml"
    home.write_text("areas: [{id: kitchen, name: Kitchen}]\nentities: [{entity_id: light.k, name: K, area: kitchen}]\n")
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "turn on the kitchen lights", "intent": "HassTurnOn", "targets": ["light.k"], '
                    '"slots": []}\n')
    wav = tmp_path / "silence.wav"
    wav.write_bytes(_silent_wav())
    args = [a.format(config=config, bundle=default_copy, data=data, home=home, wav=wav) for a in command]
    result = subprocess.run([sys.executable, "-m", "edge_slm", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, (result.stdout[-500:], result.stderr[-1500:])
    assert "signature does not match" in result.stderr and "Traceback" not in result.stderr
    assert "HassTurnOff" not in result.stdout


def _silent_wav() -> bytes:
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(bytes(16000))
    return buffer.getvalue()


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer) -> int:  # noqa: ANN001
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n

    def readable(self) -> bool:
        return True


def test_an_archive_bomb_is_refused_before_extraction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    size = MAX_ARCHIVE_BYTES + (8 << 20)
    with tarfile.open(bomb, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("b/model.onnx")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size), 1 << 20))
    assert bomb.stat().st_size < size // 100
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(BundleError, match="refused before extraction"):
        load_bundle(bomb)
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing was written, nothing left behind


def test_links_leaving_the_bundle_are_refused(default_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    shutil.copy(default_copy / "responses.json", outside)
    (default_copy / "responses.json").unlink()
    (default_copy / "responses.json").symlink_to(outside)  # same bytes, same digest: only the link gives it away
    with pytest.raises(BundleError, match="responses.json: is a link that leaves the bundle"):
        load_bundle(default_copy)
    archive = tmp_path / "linked.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(default_copy, arcname="b")
    with pytest.raises(BundleError, match="is a link or device"):
        load_bundle(archive)


def test_a_tar_bundle_leaves_no_temporary_directory(default_copy: Path, tmp_path: Path) -> None:
    archive = tmp_path / "bundle.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(default_copy, arcname="b")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import sys; from edge_slm.engine.nlu import Engine; e = Engine.load(sys.argv[1], threads=1); "
            "print(e.parse('turn on the kitchen lights').intent)")
    out = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, TMPDIR=str(scratch)), cwd=ROOT)
    assert out.stdout.strip() == "HassTurnOn"
    assert list(scratch.glob("edge-slm-bundle-*")) == []
    tampered = tmp_path / "tampered.tar"
    swap_dir = tmp_path / "swap"
    shutil.copytree(default_copy, swap_dir)
    (swap_dir / "tokenizer.json").write_text("{}")
    with tarfile.open(tampered, "w") as tar:
        tar.add(swap_dir, arcname="b")
    failed = subprocess.run([sys.executable, "-c", code, str(tampered)], capture_output=True, text=True,
                            env=dict(os.environ, TMPDIR=str(scratch)), cwd=ROOT)
    assert failed.returncode != 0 and "sha256 mismatch" in failed.stderr
    assert list(scratch.glob("edge-slm-bundle-*")) == []
