"""Write a bundle atomically: everything into a temporary sibling directory, then rename."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edge_slm.engine.bundle import MANIFEST, sha256_file
from edge_slm.engine.signing import SIGNATURE, sign


def staging_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in (MANIFEST, SIGNATURE)}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    manifest = dict(manifest, files=file_hashes(folder))
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n",
                                   encoding="utf-8")


def sign_bundle(folder: Path, private_key: Path) -> None:
    """Detached ed25519 signature over the manifest's exact bytes (which list every file's sha256)."""
    signature = sign((folder / MANIFEST).read_bytes(), private_key)
    (folder / SIGNATURE).write_text(json.dumps(signature, indent=2) + "\n", encoding="utf-8")


def publish(staging: Path, out: Path) -> Path:
    """Replace ``out`` by ``staging`` so that readers never see a half-written bundle."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.rename(out, old)
    staging.chmod(0o755)
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old)
    return out
