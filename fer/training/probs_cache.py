"""Each network's probabilities on a set of faces, kept on disk so that no command pays twice.

``fer ensemble`` runs every member on PublicTest and PrivateTest, then ``fer metrics``
evaluates the file it wrote on the same splits, and runs again over unchanged files to
regenerate the README table. Five networks at ten-crop and three zooms cost about half an
hour per split on two cores. An entry's key is everything that decides its numbers: the
faces, the network's file, the crops and zooms, the precision it ran in, PyTorch's version
and CPU kernels, and the source of the code between a face and its probabilities. Change
any of them and the key changes, so an entry is reused or absent, never stale.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import logging
import os
from pathlib import Path

import numpy as np
import torch

from fer.models.modelfile import LoadedModel
from fer.training.data import default_cache_dir

log = logging.getLogger(__name__)

#: The modules whose code turns a face into probabilities (their source is part of every key).
INFERENCE_MODULES = ("fer.engine.crops", "fer.engine.classify", "fer.models.modelfile", "fer.models.registry",
                     "fer.models.vgg", "fer.models.resnet")


def probs_key(member: LoadedModel, faces: np.ndarray, tencrop: bool, precision: str) -> str:
    """The key of ``member``'s probabilities on ``faces`` (``precision`` as resolved: never ``auto``)."""
    digest = hashlib.sha256(repr((faces.shape, faces.dtype.str, tencrop, member.zooms, precision, torch.__version__,
                                  torch.backends.cpu.get_cpu_capability())).encode())
    digest.update(np.ascontiguousarray(faces).tobytes())
    digest.update(member.path.read_bytes())
    digest.update(_code_digest())
    return digest.hexdigest()


@functools.cache
def _code_digest() -> bytes:
    digest = hashlib.sha256()
    for name in INFERENCE_MODULES:
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    return digest.digest()


def cache_folder() -> Path:
    return default_cache_dir() / "probs"


def entry_path(key: str) -> Path:
    return cache_folder() / f"{key}.npy"


def read_entry(key: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The stored probabilities, or None when absent; a torn or foreign entry is removed, never trusted."""
    path = entry_path(key)
    try:
        probs = np.load(path, allow_pickle=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, EOFError):
        probs = None
    if probs is None or probs.shape != shape or probs.dtype != np.float32:
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return probs


def write_entry(key: str, probs: np.ndarray) -> None:
    """Store ``probs`` whole: written beside the entry, then renamed onto it. A cache that
    cannot be written costs the next command time, not this one its results: it is logged."""
    path = entry_path(key)
    tmp = path.with_name(f"{key}.{os.getpid()}.partial.npy")  # two commands computing it at once write apart
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(tmp, probs.astype(np.float32, copy=False))
        tmp.replace(path)
    except OSError as e:
        with contextlib.suppress(OSError):  # nothing half-written stays behind, if anything was
            tmp.unlink()
        log.warning("probabilities not kept for reuse: %s", e)
