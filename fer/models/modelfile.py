"""The model file format: TorchScript plus the metadata needed to use it correctly.

A model file carries its class names, input size, normalisation and provenance in a
``fer_meta.json`` entry inside the TorchScript archive, so the runtime and the app never
guess them. An ensemble is a small JSON file naming member model files and their weights,
and the zooms at which its members look at each face (``"zooms"``, 1 alone when absent).

This module is the only place that knows the format: PyTorch 2.14 deprecates
``torch.jit`` in favour of ``torch.export``, and switching later must touch nothing else.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from fer.classes import CLASS_NAMES, FACE_SIZE
from fer.io.outputs import make_folder, write_whole

FORMAT = "fer-torchscript"
FORMAT_VERSION = 3  # 2: weights may be stored in 16 bits (``weights_dtype``); 3: an int8 variant (``int8``)
META_ENTRY = "fer_meta.json"
#: The int8 variant's archive entry: a TorchScript file of its own, quantised by
#: ``fer quantize`` (:mod:`fer.training.quantize`), read only when asked for.
INT8_ENTRY = "fer_int8.pt"
#: PyTorch's quantized engine the int8 variant is made and run with: x86 (fbgemm and
#: oneDNN kernels) where PyTorch has it; elsewhere (ARM: qnnpack) int8 is not picked by
#: ``precision="auto"`` (see :func:`int8_engine`).
INT8_ENGINE = "x86"
ENSEMBLE_FORMAT = "fer-ensemble"
#: How weights may be stored in a file. The loader always restores float32, the working
#: precision; float16 halves the file (a full-width VGG10: 31 -> 16 MB) and keeps about
#: three significant digits, far finer than what moves a prediction.
WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def _bundled_weights() -> Path:
    """The shipped default model. A wheel carries the top-level ``weights/`` folder inside
    the package as ``fer/weights`` (see pyproject.toml); a checkout or an editable install
    reads ``weights/`` beside the package."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "weights" / "vgg10.pt"
    return installed if installed.is_file() else package.parent / "weights" / "vgg10.pt"


BUNDLED_WEIGHTS = _bundled_weights()
#: The environment variable naming the model used when none is named.
WEIGHTS_ENV = "FER_WEIGHTS"


class ModelFileError(ValueError):
    """A model file is missing, damaged or not a ``fer`` model."""


@dataclass
class ModelMeta:
    """What a model needs from its caller; stored inside the model file."""

    arch: str
    arch_kwargs: dict[str, Any]
    mean: float
    std: float
    input_size: int = 40  # side of the window the network sees
    face_size: int = FACE_SIZE  # side of the face the window is cut from
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    crops: list[str] = field(default_factory=lambda: ["center", "ten-crop"])
    train_config: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # summary of the run: epochs, minutes, best epoch
    data_fingerprint: str = ""
    weights_dtype: str = "float32"  # how the file stores the weights (files of format v1: float32)
    #: How the int8 variant was made (calibration, engine, PublicTest check), None when the
    #: file carries none (files of format v1 and v2 never do)
    int8: dict[str, Any] | None = None
    format: str = FORMAT
    format_version: int = FORMAT_VERSION


@dataclass
class LoadedModel:
    """A ready-to-run network, its metadata, and its weight and zooms inside an ensemble
    (:func:`fer.engine.crops.views`: the crops of each zoomed copy of a face are averaged)."""

    module: nn.Module
    meta: ModelMeta
    path: Path
    weight: float = 1.0
    zooms: tuple[float, ...] = (1.0,)


def save_model(model: nn.Module, meta: ModelMeta, path: str | os.PathLike, weights_dtype: str = "float16") -> Path:
    """Script ``model`` and write it with ``meta``, its weights stored as ``weights_dtype``
    (a copy is converted; ``model`` is left as it is); the file appears only when complete."""
    if weights_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"unknown weights dtype {weights_dtype!r}; choose one of {', '.join(WEIGHT_DTYPES)}")
    meta = replace(meta, weights_dtype=weights_dtype, format_version=FORMAT_VERSION)
    stored = copy.deepcopy(model).eval().to(WEIGHT_DTYPES[weights_dtype])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(stored)
    return _save_whole(scripted, Path(path), {META_ENTRY: json.dumps(asdict(meta))})


def save_with_int8(source: str | os.PathLike, int8: nn.Module, info: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the model file ``source`` again as ``path`` with ``int8`` (a TorchScript
    module, e.g. traced from an FX-quantised copy of the network) as its int8 variant and
    ``info`` as the variant's metadata. The float network is copied as stored, so its
    weights stay bit-identical; the file appears only when complete, and ``path`` may be
    ``source`` itself."""
    source, path = Path(source), Path(path)
    module, meta = _read_torchscript(source)
    meta = replace(meta, int8=info, format_version=FORMAT_VERSION)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(int8, buffer)
    return _save_whole(module, path, {META_ENTRY: json.dumps(asdict(meta)), INT8_ENTRY: buffer.getvalue()})


def _save_whole(module: torch.jit.ScriptModule, path: Path, extra_files: dict[str, Any]) -> Path:
    """Save ``module`` as ``path``: the file appears whole or not at all, and a failed write
    is one :class:`OutputError`. The module is serialised in memory first: TorchScript's
    own file writer aborts the process on a full disk (a C++ exception in a destructor)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(module, buffer, _extra_files=extra_files)
    make_folder(path.parent)
    return write_whole(path, buffer.getbuffer())


def int8_engine() -> str | None:
    """The quantized engine int8 variants run on here (:data:`INT8_ENGINE`), None where
    PyTorch lacks it (ARM builds have qnnpack only)."""
    return INT8_ENGINE if INT8_ENGINE in torch.backends.quantized.supported_engines else None


def load_int8(member: LoadedModel) -> torch.jit.ScriptModule:
    """The int8 variant of a loaded model, read from its file. The quantized weights are
    packed for the engine selected at load, so :data:`INT8_ENGINE` is selected first where
    PyTorch has it (elsewhere PyTorch's default engine packs them: untested). Raises
    :class:`ModelFileError` for a file without one."""
    if not member.meta.int8:
        raise ModelFileError(f"{member.path} carries no int8 variant (make one with `fer quantize`)")
    try:
        with zipfile.ZipFile(member.path) as archive:
            name = next(n for n in archive.namelist() if n.endswith(f"/extra/{INT8_ENTRY}"))
            data = archive.read(name)
    except (StopIteration, OSError, zipfile.BadZipFile):
        raise ModelFileError(f"{member.path} says it carries an int8 variant but has none readable") from None
    if int8_engine():
        torch.backends.quantized.engine = INT8_ENGINE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        # torch 2.14 deprecates quantized tensors with a warning its C++ side prints once
        # per process, straight to stderr when TorchScript's loader triggers it; spent here
        # on one eager call, where Python's filter above catches it.
        torch.quantize_per_tensor(torch.zeros(1), 1.0, 0, torch.quint8)
        return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()


def load_models(path: str | os.PathLike) -> list[LoadedModel]:
    """Load a model file, or the members of an ensemble file, checking the metadata.

    Raises :class:`ModelFileError` with a one-line reason for a missing, empty,
    truncated or foreign file.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    if path.stat().st_size == 0:
        raise ModelFileError(f"model file {path} is empty")
    if path.suffix == ".json":
        return _load_ensemble(path)
    return [_load_torchscript(path)]


def _load_torchscript(path: Path, weight: float = 1.0, zooms: tuple[float, ...] = (1.0,)) -> LoadedModel:
    module, meta = _read_torchscript(path)
    return LoadedModel(module.float().eval(), meta, path, weight, zooms)  # working precision, however stored


def _read_torchscript(path: Path) -> tuple[torch.jit.ScriptModule, ModelMeta]:
    """The network as stored (weights in the file's dtype) and its checked metadata."""
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a TorchScript model file (truncated or a different format)")
    extra = {META_ENTRY: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:  # torch raises RuntimeError, ValueError or zip errors for damaged files
        raise ModelFileError(f"{path} could not be loaded as a TorchScript model: {str(e).splitlines()[0]}") from None
    try:
        meta = ModelMeta(**json.loads(extra[META_ENTRY]))
    except (json.JSONDecodeError, TypeError) as e:
        raise ModelFileError(f"{path} is a TorchScript file but not a fer model (no valid metadata: {e})") from None
    if meta.format != FORMAT or meta.format_version > FORMAT_VERSION:
        raise ModelFileError(f"{path} has format {meta.format} v{meta.format_version}; "
                             f"this version of fer reads {FORMAT} up to v{FORMAT_VERSION}")
    return module, meta


def check_ensemble_weights(weights: list[float], source: str) -> None:
    """Members are mixed in proportion to their weights, so each must be a finite,
    non-negative number and at least one positive; ``source`` names where they came from."""
    if not weights:
        raise ModelFileError(f"{source}: the ensemble has no members")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ModelFileError(f"{source}: ensemble weights must be non-negative numbers, not all zero "
                             f"(got {', '.join(f'{w:g}' for w in weights)})")


def save_ensemble(members: list[tuple[str | os.PathLike, float]], path: str | os.PathLike,
                  info: dict[str, Any] | None = None) -> Path:
    """Write an ensemble file: member paths (relative to the ensemble) and weights summing to one,
    rounded to 12 decimals so that a grid's 0.2 reads 0.2, not 0.19999999999999996."""
    path = Path(path)
    total = sum(w for _, w in members)
    entries = [{"file": os.path.relpath(Path(f).resolve(), path.parent.resolve()), "weight": round(w / total, 12)}
               for f, w in members]
    return write_whole(path, json.dumps({"format": ENSEMBLE_FORMAT, "members": entries, **(info or {})}, indent=2))


def _ensemble_entries(path: Path) -> tuple[list[tuple[Path, float]], tuple[float, ...]]:
    """An ensemble file's members and weights, as written, and its zooms."""
    try:
        spec = json.loads(path.read_text())
        assert spec["format"] == ENSEMBLE_FORMAT
        entries = [(path.parent / m["file"], float(m["weight"])) for m in spec["members"]]
        zooms = spec.get("zooms", [1.0])
        assert isinstance(zooms, list)
        zooms = tuple(float(z) for z in zooms)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AssertionError):
        raise ModelFileError(f"{path} is not a fer ensemble file") from None
    check_zooms(zooms, f"{path}: zooms")
    return entries, zooms


#: Zooms a face may be looked at: beyond them a 48x48 face is mostly border or mostly nose.
ZOOM_RANGE = (0.5, 2.0)


def check_zooms(zooms: Sequence[float], source: str) -> None:
    """Each zoom once, each within :data:`ZOOM_RANGE`; ``source`` names where they came
    from (``--zooms``, ``<file>: zooms``) and the message quotes them after it."""
    low, high = ZOOM_RANGE
    if not zooms:
        raise ModelFileError(f"{source}: at least one zoom is needed (1: the face as is)")
    if len(set(zooms)) != len(zooms) or not all(low <= z <= high for z in zooms):
        raise ModelFileError(f"{source} {' '.join(f'{z:g}' for z in zooms)}: each zoom once, from {low:g} to {high:g}")


def files_of(weights: str | os.PathLike) -> list[Path]:
    """The files a model is loaded from: the file itself and, for an ensemble, its members
    (what a cache of loaded models must watch: retraining a member changes the ensemble)."""
    path = Path(weights)
    if path.suffix != ".json" or not path.is_file():
        return [path]
    try:
        return [path, *(member for member, _ in _ensemble_entries(path)[0])]
    except (ModelFileError, OSError):
        return [path]  # loading it says what is wrong


def _load_ensemble(path: Path) -> list[LoadedModel]:
    entries, zooms = _ensemble_entries(path)
    check_ensemble_weights([w for _, w in entries], str(path))
    members = [_load_torchscript(p, w, zooms) if p.is_file() else _missing(p, path) for p, w in entries]
    check_class_names(members, f"the members of {path}")
    return members


def check_class_names(members: list[LoadedModel], which: str) -> None:
    """Models mixed together must name the same classes in the same order: their
    probabilities are added column by column. ``which`` names them in the error."""
    if len({tuple(m.meta.class_names) for m in members}) > 1:
        raise ModelFileError(f"{which} disagree on the class names")


def _missing(member: Path, ensemble: Path):
    raise ModelFileError(f"ensemble {ensemble} names {member}, which does not exist")


def metrics_path(weights: str | os.PathLike) -> Path:
    """The metrics file ``fer metrics`` writes beside a model: ``weights/vgg10.pt`` ->
    ``weights/vgg10.json``; ``x.ens.json`` -> ``x.metrics.json``."""
    weights = Path(weights)
    if weights.suffix == ".json":
        return weights.with_name(weights.name.removesuffix(".json") + ".metrics.json")
    return weights.with_suffix(".json")


def default_weights() -> Path:
    """The model to use when none is named: ``$FER_WEIGHTS`` if set, else :data:`BUNDLED_WEIGHTS`."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else BUNDLED_WEIGHTS


def training_stages(training: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The training schedules behind a model, first first: a run started with
    ``fer train --init`` carries the summary of the run it started from."""
    stages = []
    while training:
        stages.insert(0, training)
        training = training.get("init")
    return stages
