"""Batched emotion classification of 48x48 faces with one model or a weighted ensemble.

Used by evaluation and by the live runtime alike, so the numbers in the metrics files
are those of the exact code path that labels webcam frames.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from fer.engine.crops import normalize, views, views_per_face
from fer.models.modelfile import LoadedModel, int8_engine, load_int8, load_models

#: Where the classifier may run; ``auto`` is CUDA when PyTorch sees a GPU, else the CPU.
DEVICES = ("auto", "cpu", "cuda")
#: Precisions the networks may run in (every ``--precision`` option and the API take
#: these): see :func:`resolve_precision`.
PRECISIONS = ("auto", "float32", "bfloat16", "int8")


class DeviceError(ValueError):
    """The device asked for is not there (e.g. ``cuda`` on a machine without a GPU)."""


class PrecisionError(ValueError):
    """A reduced precision that does not reproduce float32's figures closely enough to
    publish them (``fer metrics`` checks bfloat16 on PublicTest first)."""


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``, ``"cpu"``, ``"cuda"`` (or ``"cuda:1"``, a torch.device) -> the device to use.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was asked for but PyTorch sees no GPU here; use --device cpu or auto")
    if resolved.type not in ("cpu", "cuda"):
        raise DeviceError(f"unsupported device {device!r}; choose one of {', '.join(DEVICES)}")
    return resolved


class Classifier:
    """Probabilities for a batch of uint8 faces: one forward pass per member per batch.

    ``threads``: PyTorch's intra-op threads for the process. ``workers``: threads that
    share the faces of one batch, each running whole passes on its part (with the intra-op
    threads). For a frame's few faces this is how the cores are used: OpenMP threads
    sharing a pass wait on each other at every layer, which stalls when other work holds
    a core; workers never wait on each other. Four faces, int8, two idle cores: 23.0 ms
    in one pass on one thread, 14.7 ms as two workers' passes, 13.5 ms as one pass on two
    OpenMP threads; with the other core busy, runs of the same command gave 24-29 ms for
    the workers and 50-168 ms for OpenMP (``benchmarks/classify_workers.py``).

    The members' float networks are moved to ``device`` and ``precision`` in place (a
    copy per stream would double the memory): give Classifiers of different precisions
    members loaded separately.

    >>> clf = Classifier.from_file("weights/vgg10.pt")               # doctest: +SKIP
    >>> clf.predict_proba(np.zeros((2, 48, 48), np.uint8)).shape    # doctest: +SKIP
    (2, 7)
    """

    def __init__(self, members: Sequence[LoadedModel], tencrop: bool = False, crops_per_pass: int | None = None,
                 threads: int | None = None, device: str | torch.device = "cpu", precision: str = "float32",
                 path: str | os.PathLike | None = None, workers: int = 1):
        if threads:
            torch.set_num_threads(threads)
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.members = list(members)
        self.path = Path(path) if path is not None else None  # the model or ensemble file, when loaded from one
        total = sum(m.weight for m in self.members)
        self.weights = [m.weight / total for m in self.members]
        self.device = resolve_device(device)
        #: What the networks run in: "float32", "bfloat16" or "int8".
        self.precision: str = resolve_precision(precision, self.device, all(m.meta.int8 for m in self.members))
        #: What the networks are fed: the int8 variants quantise float32 input themselves.
        self.dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float32
        if self.precision == "int8":
            # TorchScript modules of their own, read from the files; their quantized
            # weights are packed once at load and only read by forward passes, so several
            # streams' threads may share them as they share the float networks.
            self.networks = [load_int8(m) for m in self.members]
        else:
            for m in self.members:
                # channels-last weights let oneDNN skip layout reorders between layers: about
                # 1.3x faster on CPU for the small batches of live frames.
                m.module.to(self.device, self.dtype).to(memory_format=torch.channels_last)
            self.networks = [m.module for m in self.members]
        self.tencrop = tencrop
        # On a CPU, small passes keep each layer's activations in cache: 16 crops per pass
        # cost 1.55 ms per crop with the full-width VGG10, 512 crops 2.67 ms (bf16, one core).
        self.crops_per_pass = crops_per_pass or (16 if self.device.type == "cpu" else 4096)
        #: Threads sharing one batch's passes (one: the caller runs them all); a GPU takes
        #: a batch in one pass.
        self.workers = workers if self.device.type == "cpu" else 1
        self._pool = ThreadPoolExecutor(self.workers, "fer-classify") if self.workers > 1 else None
        meta = self.members[0].meta
        self.class_names: list[str] = list(meta.class_names)
        self.face_size: int = meta.face_size
        self.predict_proba(np.zeros((1, self.face_size, self.face_size), np.uint8))  # warm-up

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs) -> Classifier:
        return cls(load_models(path), path=path, **kwargs)

    def predict_proba(self, faces: np.ndarray | torch.Tensor, tencrop: bool | None = None) -> np.ndarray:
        """(N, 48, 48) uint8 faces -> (N, K) float32 probabilities (rows sum to one)."""
        tencrop = self.tencrop if tencrop is None else tencrop
        faces = torch.as_tensor(faces)
        if not len(faces):
            return np.zeros((0, len(self.class_names)), np.float32)
        step = max(1, self.crops_per_pass // max(views_per_face(tencrop, m.zooms) for m in self.members))
        step = min(step, -(-len(faces) // self.workers))  # a few faces: one pass per worker
        parts = [faces[i:i + step].to(self.device) for i in range(0, len(faces), step)]
        if self._pool is None or len(parts) == 1:
            out = [self._forward(part, tencrop) for part in parts]
        else:
            out = list(self._pool.map(self._forward, parts, [tencrop] * len(parts)))
        return torch.cat(out).cpu().numpy()

    @torch.inference_mode()  # per thread: the workers' passes need it as much as the caller's
    def _forward(self, faces: torch.Tensor, tencrop: bool) -> torch.Tensor:
        probs = 0
        for member, network, weight in zip(self.members, self.networks, self.weights):
            probs = probs + weight * predict_member(network, faces, member.meta.input_size, member.meta.mean,
                                                    member.meta.std, tencrop, self.dtype, member.zooms)
        return probs


def predict_member(module: torch.nn.Module, faces: torch.Tensor, input_size: int, mean: float, std: float,
                   tencrop: bool, dtype: torch.dtype = torch.float32, zooms: tuple[float, ...] = (1.0,)
                   ) -> torch.Tensor:
    """Softmax of one network on (B, 48, 48) uint8 faces, averaged over its views (centre
    crop or ten-crop, of each of ``zooms``); the network is fed ``dtype``, channels-last
    (an int8 variant's convolutions run in that layout too: 1.7x faster for four faces
    than contiguous input), the softmax runs in float32."""
    x = normalize(views(faces, input_size, tencrop, zooms), mean, std)
    probs = torch.softmax(module(x.to(dtype).contiguous(memory_format=torch.channels_last)).float(), dim=1)
    return probs.view(len(faces), views_per_face(tencrop, zooms), -1).mean(1)


def resolve_precision(precision: str, device: torch.device, int8_available: bool = False) -> str:
    """``"float32"``, ``"bfloat16"``, ``"int8"`` or ``"auto"`` -> the precision to run in.

    ``auto`` on a CPU is the fastest precision that keeps float32's accuracy, as measured
    on the CPUs this project has run on:

    - bfloat16 on a CPU with AMX, whose bfloat16 tiles oneDNN uses (on the project's
      first machine, a Sapphire Rapids, 2-3x faster than float32; int8 did not exist
      yet and was never compared there);
    - else int8 where the model file (every member of an ensemble: ``int8_available``)
      carries an int8 variant and PyTorch has its x86 quantized engine: about 3x faster
      than float32 per face on an AVX2 CPU, and 2-4.6x faster than bfloat16 on an
      AVX512-BF16 CPU without AMX (AMD Zen 4), from one face to sixteen with ten-crop
      (``fer bench --precision int8 bfloat16``); ``fer quantize`` only writes a variant
      within 0.3 points of float32 on PublicTest;
    - else bfloat16 where the CPU computes it natively (AVX512-BF16, through oneDNN);
    - else float32.

    Callers that want a float precision (a reference evaluation, the ensemble search)
    leave ``int8_available`` False. On CUDA, auto is float32 and int8 is refused: the
    int8 variant runs on CPU kernels only.

    >>> resolve_precision("auto", torch.device("cuda"), int8_available=True)
    'float32'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise DeviceError(f"int8 runs on the CPU only, not on {device}; use --precision float32 or auto there")
    if precision != "auto":
        return precision
    if device.type != "cpu":
        return "float32"
    if bfloat16_native() and amx_bfloat16():
        return "bfloat16"
    if int8_available and int8_engine():
        return "int8"
    return "bfloat16" if bfloat16_native() else "float32"


def amx_bfloat16() -> bool:
    """Whether this CPU has AMX bfloat16 tiles (Intel Sapphire Rapids and later)."""
    return bool(torch.cpu.get_capabilities().get("amx_bf16", False))


def bfloat16_native() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), through oneDNN."""
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
