"""Model bundle: locate, verify (format + sha256 of every file) and describe.

A bundle is a directory (or a ``.tar`` of one) holding ``manifest.json``,
``model.onnx``, ``tokenizer.json`` and ``responses.json``.  Nothing in it is
trusted before every listed file matches its recorded digest.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import weakref
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edge_slm import BUNDLE_FORMAT, __version__
from edge_slm.engine.decode import bio_tags
from edge_slm.engine.signing import SIGNATURE, SignatureError, sha256, trusted_public_keys, verify
from edge_slm.errors import EdgeSlmError, ErrorCode

MANIFEST = "manifest.json"
REQUIRED_FILES = ("model.onnx", "tokenizer.json", "responses.json")
# An archive is checked against these before a byte is extracted (a 5 MB .tar.gz can hold 500 MB of zeros).
MAX_ARCHIVE_BYTES = 256 << 20
MAX_ARCHIVE_MEMBERS = 256
# asr/grammar.fsg: the comment line before FSG_BEGIN naming the intents the grammar holds whole
# (export/grammar.py writes it, voice/grammar.py reads it; pocketsphinx skips comment lines).
GRAMMAR_COVERS = "# intents:"


class BundleError(EdgeSlmError):
    """The bundle cannot be used; the message names the offending file."""

    default_code = ErrorCode.BUNDLE_INVALID


def sha256_file(path: Path) -> str:
    digest = sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_bundle_path() -> Path:
    return Path(str(resources.files("edge_slm") / "bundles" / "default"))


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@dataclass(frozen=True)
class Manifest:
    format: int
    name: str
    version: str
    language: str
    intents: list[str]
    slots: list[str]
    max_length: int
    inputs: list[str]
    files: dict[str, str]
    out_of_scope: str | None = None
    created: str = ""
    quantization: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    # Slot names each intent was trained with; decoding keeps an intent to these. Optional.
    intent_slots: dict[str, list[str]] = field(default_factory=dict)
    # Slot types whose values are numbers (the export finds them in the training data). Optional.
    numeric_slots: list[str] = field(default_factory=list)
    # Intents that act on devices (the recipe's ``actions``); None in bundles built before the key.
    actions: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tags(self) -> list[str]:
        """BIO tag list in the order of the model's slot output."""
        return bio_tags(self.slots)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Manifest":
        known = {
            "format", "name", "version", "language", "intents", "slots", "max_length",
            "inputs", "files", "out_of_scope", "created", "quantization", "metrics",
            "source", "runtime", "intent_slots", "numeric_slots", "actions",
        }
        missing = [key for key in ("format", "name", "version", "intents", "slots", "files")
                   if key not in data]
        if missing:
            raise BundleError(f"{MANIFEST}: missing key(s) {', '.join(missing)}")
        return Manifest(
            format=int(data["format"]),
            name=str(data["name"]),
            version=str(data["version"]),
            language=str(data.get("language", "en")),
            intents=list(data["intents"]),
            slots=list(data["slots"]),
            max_length=int(data.get("max_length", 64)),
            inputs=list(data.get("inputs", ["input_ids", "attention_mask"])),
            files=dict(data["files"]),
            out_of_scope=data.get("out_of_scope"),
            created=str(data.get("created", "")),
            quantization=dict(data.get("quantization", {})),
            metrics=dict(data.get("metrics", {})),
            source=dict(data.get("source", {})),
            runtime=dict(data.get("runtime", {})),
            intent_slots=_intent_slots(data.get("intent_slots", {}), list(data["slots"])),
            numeric_slots=_numeric_slots(data.get("numeric_slots", []), list(data["slots"])),
            actions=_actions(data.get("actions"), list(data["intents"])),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _actions(value: Any, intents: list[str]) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(a, str) and a in intents for a in value):
        raise BundleError(f"{MANIFEST}: 'actions' must list intents of the bundle")
    return list(value)


def _numeric_slots(value: Any, slots: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) and n in slots for n in value):
        raise BundleError(f"{MANIFEST}: 'numeric_slots' must list slot names of the bundle")
    return list(value)


def _intent_slots(value: Any, slots: list[str]) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not all(
            isinstance(names, list) and all(isinstance(n, str) and n in slots for n in names)
            for names in value.values()):
        raise BundleError(f"{MANIFEST}: 'intent_slots' must map intents to lists of the bundle's slot names")
    return {str(intent): list(names) for intent, names in value.items()}


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk; ``path`` is a directory."""

    path: Path
    manifest: Manifest
    signed_by: str | None = None  # key id of a verified signature
    # Keeps an unpacked archive's temporary directory alive exactly as long as the bundle.
    cleanup: Any = field(default=None, repr=False, compare=False)

    def file(self, name: str) -> Path:
        return self.path / name

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.file(name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"{self.file(name)}: cannot read JSON ({exc})") from exc


def _check_members(path: Path, archive: tarfile.TarFile) -> None:
    total = count = 0
    for member in archive:
        count += 1
        total += max(member.size, 0)
        name = Path(member.name)
        if count > MAX_ARCHIVE_MEMBERS:
            raise BundleError(f"{path}: more than {MAX_ARCHIVE_MEMBERS} entries; not a bundle")
        if total > MAX_ARCHIVE_BYTES:
            raise BundleError(f"{path}: unpacks to more than {MAX_ARCHIVE_BYTES >> 20} MiB; refused before extraction")
        if name.is_absolute() or ".." in name.parts:
            raise BundleError(f"{path}: entry {member.name!r} points outside the bundle")
        if not (member.isfile() or member.isdir()):
            raise BundleError(f"{path}: entry {member.name!r} is a link or device; bundles hold plain files only")


class _Unpacked:
    """A temporary directory removed when the last bundle using it goes, or at interpreter exit."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="edge-slm-bundle-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def __call__(self) -> None:
        self._finalizer()


def _extract_tar(path: Path) -> tuple[Path, _Unpacked]:
    """Check, then unpack into a temporary directory that is removed with the bundle (or at exit)."""
    cleanup = _Unpacked()
    target = cleanup.path
    try:
        with tarfile.open(path) as archive:
            _check_members(path, archive)
            if hasattr(tarfile, "data_filter"):
                archive.extractall(target, filter="data")
            else:
                # Python before 3.11.4 (Debian 12's 3.11.2) has no extraction filters; every member was
                # just checked to be a plain file or folder inside the bundle, which is what "data" allows.
                archive.extractall(target, members=archive.getmembers())  # noqa: S202
    except (tarfile.TarError, OSError, EOFError) as exc:
        cleanup()
        raise BundleError(f"{path}: not a readable bundle archive ({exc})") from exc
    except BaseException:
        cleanup()
        raise
    entries = [p for p in target.iterdir()]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0], cleanup
    return target, cleanup


def resolve(location: str | Path | None) -> Path:
    if location in (None, "", "default"):
        return default_bundle_path()
    return Path(location).expanduser()


def load_bundle(location: str | Path | None = None, trusted_keys: list[str] | None = None) -> Bundle:
    """Find, unpack if needed, and verify a bundle.  Raises BundleError.

    A bundle that carries ``manifest.sig`` is always verified, against the shipped default key and
    ``trusted_keys``; with ``trusted_keys`` set, an unsigned bundle is refused as well.
    """
    path = resolve(location)
    if not path.exists():
        raise BundleError(f"{path}: bundle not found")
    cleanup = None
    if path.is_file():
        path, cleanup = _extract_tar(path)
    try:
        bundle = _verify(path.resolve(), trusted_keys or [])
    except BaseException:
        if cleanup is not None:
            cleanup()
        raise
    return Bundle(bundle.path, bundle.manifest, bundle.signed_by, cleanup)


def _inside(root: Path, file_path: Path) -> bool:
    try:
        file_path.resolve().relative_to(root)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _verify(path: Path, trusted_keys: list[str]) -> Bundle:
    manifest_path = path / MANIFEST
    if manifest_path.is_symlink() and not _inside(path, manifest_path):
        raise BundleError(f"{manifest_path}: is a link that leaves the bundle")
    try:
        manifest_bytes = manifest_path.read_bytes()
    except FileNotFoundError as exc:
        raise BundleError(f"{manifest_path}: missing") from exc
    except OSError as exc:
        raise BundleError(f"{manifest_path}: cannot be read ({exc})") from exc
    signed_by = None
    signature_path = path / SIGNATURE
    if signature_path.exists() or signature_path.is_symlink() or trusted_keys:
        # Checked before the manifest is believed: it is what names every other file's digest. A
        # signature is never ignored: a signed bundle whose manifest was edited (intents swapped,
        # a digest replaced) is refused with or without configuration.
        if signature_path.is_symlink() and not _inside(path, signature_path):
            raise BundleError(f"{signature_path}: is a link that leaves the bundle")
        try:
            keys = trusted_public_keys(trusted_keys)
            text = signature_path.read_text(encoding="utf-8") if signature_path.is_file() else None
            signed_by = verify(manifest_bytes, text, keys)
        except (SignatureError, OSError, ValueError) as exc:
            raise BundleError(f"{path}: {exc}") from exc
    try:
        raw = json.loads(manifest_bytes.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise BundleError(f"{manifest_path}: must hold a JSON object")
    fmt = raw.get("format")
    if not isinstance(fmt, int):
        raise BundleError(f"{manifest_path}: 'format' must be an integer")
    if fmt > BUNDLE_FORMAT:
        raise BundleError(
            f"{manifest_path}: bundle format {fmt} is newer than this runtime supports "
            f"({BUNDLE_FORMAT}); upgrade edge-slm")
    manifest = Manifest.from_dict(raw)
    needed = _version_tuple(str(manifest.runtime.get("min_version", "0")))
    if needed > _version_tuple(__version__):
        raise BundleError(
            f"{manifest_path}: needs edge-slm >= {manifest.runtime['min_version']}, "
            f"this is {__version__}; upgrade edge-slm")
    for name in REQUIRED_FILES:
        if name not in manifest.files:
            raise BundleError(f"{path / name}: not listed in {MANIFEST}")
    # The model may read side files (its weights): nothing in the bundle goes unverified.
    listed = {str(Path(name)) for name in manifest.files}
    for file_path in sorted(path.rglob("*")):
        relative = str(file_path.relative_to(path))
        if file_path.is_symlink() and not _inside(path, file_path):
            raise BundleError(f"{file_path}: is a link that leaves the bundle")
        if file_path.is_file() and relative not in (MANIFEST, SIGNATURE) and relative not in listed:
            raise BundleError(f"{file_path}: not listed in {MANIFEST} (unverified file)")
    for name, expected in manifest.files.items():
        file_path = path / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleError(f"{name}: file path escapes the bundle")
        if not file_path.is_file():
            raise BundleError(f"{file_path}: missing")
        if not _inside(path, file_path):
            raise BundleError(f"{file_path}: is a link that leaves the bundle")
        actual = sha256_file(file_path)
        if actual != expected:
            raise BundleError(f"{file_path}: sha256 mismatch (bundle is corrupt or tampered)")
    return Bundle(path=path, manifest=manifest, signed_by=signed_by)
