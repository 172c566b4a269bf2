"""Training checkpoints in the shared storage, under the job's own output prefix.

A checkpoint is the trainer's state file plus a small JSON manifest that is written *after* it:
a worker that dies between the two leaves the previous manifest, which still points at a
complete state file. The retry of the same job (same id, same prefix) reads the manifest and
resumes from that step instead of starting over. Only the newest state file is kept.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from gpu_worker.storage import Storage, StorageMissing

MANIFEST_VERSION = 2


@dataclass
class Manifest:
    step: int
    state_key: str
    fingerprint: str = ""  # what the run was (photos, length, LoRA shape): see the workflow's _fingerprint
    losses: list[float] = field(default_factory=list)  # one mean per checkpoint interval
    previews: list[str] = field(default_factory=list)
    preview_steps: list[int] = field(default_factory=list)
    photos_used: int = 0
    crops: int = 0
    seconds: float = 0.0  # training time spent by earlier attempts
    version: int = MANIFEST_VERSION


def manifest_key(prefix: str) -> str:
    return f"{prefix}checkpoints/latest.json"


def state_key(prefix: str, step: int) -> str:
    return f"{prefix}checkpoints/step-{step:05d}.state"


def manifest_load(storage: Storage, prefix: str) -> Manifest | None:
    """The newest complete checkpoint, or None (a fresh run, or an unreadable manifest)."""
    try:
        raw = json.loads(storage.read(manifest_key(prefix)))
    except (StorageMissing, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("version") != MANIFEST_VERSION:
        return None
    try:
        manifest = Manifest(**raw)
    except TypeError:
        return None
    if not manifest.state_key.startswith(prefix) or not storage.exists(manifest.state_key):
        return None
    return manifest


def checkpoint_save(storage: Storage, prefix: str, manifest: Manifest, state: bytes) -> None:
    previous = manifest_load(storage, prefix)
    storage.write(manifest.state_key, state, "application/octet-stream")
    storage.write(manifest_key(prefix), json.dumps(asdict(manifest)).encode(), "application/json")
    if previous is not None and previous.state_key != manifest.state_key:
        storage.delete(previous.state_key)


def checkpoint_discard(storage: Storage, prefix: str) -> None:
    """After the model is saved: the state file goes (the manifest stays, pointing at nothing,
    so a late retry starts over rather than resuming a finished run)."""
    manifest = manifest_load(storage, prefix)
    if manifest is not None:
        storage.delete(manifest.state_key)
