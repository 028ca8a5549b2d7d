"""Bundle signatures: ed25519 over the exact bytes of ``manifest.json``.

The manifest lists the sha256 of every other file, so one signature covers the
whole bundle.  The signature lives beside it in ``manifest.sig`` (JSON: algorithm,
key id, base64 signature).  A bundle that carries one is always checked, against
the shipped default key and ``[model] trusted_keys``; ``cryptography`` is imported
only when a signature is made or checked (an unsigned bundle never loads OpenSSL).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from edge_slm.errors import EdgeSlmError, ErrorCode

SIGNATURE = "manifest.sig"
ALGORITHM = "ed25519"
DEFAULT_KEY = "default"  # [model] trusted_keys entry meaning the keys shipped bundles are signed with


class SignatureError(EdgeSlmError):
    """A key or signature that cannot be used; the message says which and why."""

    default_code = ErrorCode.BUNDLE_INVALID


def sha256():  # noqa: ANN201 - a hashlib-like sha256 object
    # The built-in implementation: hashlib's OpenSSL backend costs ~4 MB of RSS on a 512 MB board.
    try:
        import _sha256

        return _sha256.sha256()
    except ImportError:
        import hashlib

        return hashlib.sha256()


def key_id(public_raw: bytes) -> str:
    digest = sha256()
    digest.update(public_raw)
    return digest.hexdigest()[:16]


def default_public_keys() -> list[bytes]:
    """The keys shipped bundles are signed with, one base64 key a line: the current release's first,
    then earlier releases' (a bundle already on a device still loads after an upgrade)."""
    text = (resources.files("edge_slm") / "keys" / "default.pub").read_text(encoding="utf-8")
    return [public_key_bytes(line) for line in text.split() if line]


def trusted_public_keys(entries: list[str]) -> list[bytes]:
    """The shipped keys and each ``[model] trusted_keys`` entry (``default`` names the shipped ones)."""
    return list(dict.fromkeys([*default_public_keys(), *(public_key_bytes(e) for e in entries if e != DEFAULT_KEY)]))


def public_key_bytes(entry: str) -> bytes:
    """32 raw bytes from a trusted_keys entry: base64, or a file holding base64 or a PEM key."""
    text = entry.strip()
    path = Path(text).expanduser()
    if len(text) < 1024 and ("/" in text or text.endswith((".pub", ".pem"))) and path.is_file():
        text = path.read_text(encoding="utf-8").strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError(f"{entry}: not an ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"trusted key {text[:60]!r} is neither base64 nor a key file") from exc
    if len(raw) != 32:
        raise SignatureError(f"trusted key {text[:60]!r} is {len(raw)} bytes; an ed25519 public key is 32")
    return raw


def generate(out_dir: Path) -> tuple[Path, Path]:
    """A new key pair: ``signing.key`` (PEM, mode 600) and ``signing.pub`` (base64 of the raw public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out_dir.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    key_path, pub_path = out_dir / "signing.key", out_dir / "signing.pub"
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pub_path.write_text(base64.b64encode(raw).decode() + "\n", encoding="utf-8")
    return key_path, pub_path


def sign(manifest_bytes: bytes, private_key: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"{private_key}: not a readable unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{private_key}: not an ed25519 private key")
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"algorithm": ALGORITHM, "key_id": key_id(raw),
            "signature": base64.b64encode(key.sign(manifest_bytes)).decode()}


def verify(manifest_bytes: bytes, signature_text: str | None, trusted: list[bytes]) -> str:
    """The key id that signed ``manifest_bytes``; raises SignatureError unless a trusted key did."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if signature_text is None:
        raise SignatureError(f"{SIGNATURE}: missing (the bundle is unsigned and [model] trusted_keys is set)")
    try:
        signature = json.loads(signature_text)
        if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
            raise ValueError(f"algorithm must be {ALGORITHM}")
        blob = base64.b64decode(str(signature["signature"]), validate=True)
        claimed = str(signature.get("key_id", ""))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SignatureError(f"{SIGNATURE}: unreadable ({exc})") from exc
    keys = {key_id(raw): raw for raw in trusted}
    if claimed not in keys:
        raise SignatureError(f"{SIGNATURE}: signed by key {claimed or '?'}, which this device does not know "
                             f"(add its public key to [model] trusted_keys)")
    try:
        Ed25519PublicKey.from_public_bytes(keys[claimed]).verify(blob, manifest_bytes)
    except InvalidSignature as exc:
        raise SignatureError(f"{SIGNATURE}: signature does not match manifest.json "
                             f"(the manifest was changed after signing)") from exc
    return claimed
