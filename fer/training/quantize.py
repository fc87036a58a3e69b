"""``fer quantize``: add an int8 variant to a model file, for CPUs without AMX.

On an AVX2 CPU (no AVX512-BF16, no AMX) the float32 VGG10 costs about 17 ms per face,
which alone breaks the live path's 15 ms per frame. PyTorch's FX graph-mode post-training
quantisation (``torch.ao.quantization.quantize_fx``; deprecated in torch 2.14 in favour of
torchao's PT2E, which needs TorchInductor to compile each batch size: see
``benchmarks/int8_classifier.py``) gives a TorchScript module that runs any batch size at
about a third of that, with no compile step. The runtime picks it with ``precision="auto"``
on CPUs without AMX (:func:`fer.engine.classify.resolve_precision`).

Calibration sees Training faces only (class-stratified), as the runtime feeds them: the
centre crop and the ten-crop views. PublicTest checks the result (accuracy both ways and
how often the labels agree); a variant that moves PublicTest accuracy by more than
:data:`TOLERANCE` is not written. PrivateTest is never looked at.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fer.engine.classify import predict_member
from fer.engine.crops import center_crop, normalize, ten_crop
from fer.io.outputs import refuse_to_replace
from fer.models import create_model
from fer.models.modelfile import INT8_ENGINE, LoadedModel, ModelFileError, load_models, save_with_int8
from fer.training.data import load_fer2013, stratified_subset

#: Largest move of PublicTest accuracy (centre crop) the int8 variant may cause.
TOLERANCE = 0.003
#: Training faces calibrated on by default (each seen as 11 views: centre and ten-crop).
#: For the third schedule's VGG10, 256 faces moved PublicTest accuracy from 0.6785 to 0.6771 and
#: 512 to 0.6740: the activation ranges the histogram observers settle on do not improve
#: steadily with the sample, which is why every variant is checked before it is written.
CALIBRATION_FACES = 256
#: Views per calibration pass and faces per checking pass.
BATCH = 64


class QuantizeError(ValueError):
    """The int8 variant cannot be made or is not good enough to ship."""


def float_model(loaded: LoadedModel) -> torch.nn.Module:
    """The file's network rebuilt as a plain module from its metadata and weights (FX and
    torch.export trace Python modules, not TorchScript)."""
    module = create_model(loaded.meta.arch, **loaded.meta.arch_kwargs)
    module.load_state_dict(loaded.module.state_dict())
    return module.eval()


def calibration_views(faces: np.ndarray, input_size: int, mean: float, std: float) -> torch.Tensor:
    """(N, 48, 48) uint8 faces -> the (11N, 1, s, s) normalised views the runtime feeds the
    network: each face's centre crop and its ten-crop views."""
    faces = torch.as_tensor(faces)
    views = torch.cat([center_crop(faces, input_size), ten_crop(faces, input_size)])
    return normalize(views, mean, std)


def float_layers(module: torch.nn.Module) -> list[str]:
    """The layers the int8 variant keeps in float: the first convolution, which sees the
    one-channel face itself, and the last linear layer, which writes the logits. They cost
    almost nothing and are where int8 loses the most: for the GPU-trained VGG10, quantising
    them too moved PublicTest accuracy by 0.36 points, keeping them 0.14."""
    convs = [name for name, m in module.named_modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [name for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)]
    return [convs[0], linears[-1]]


def quantize_module(module: torch.nn.Module, calibration: torch.Tensor) -> torch.jit.ScriptModule:
    """``module`` quantised to int8 for :data:`fer.models.modelfile.INT8_ENGINE` (per-channel
    weights, per-tensor activations, PyTorch's default x86 mapping; :func:`float_layers`
    stay in float), calibrated on ``calibration``, traced to TorchScript and frozen.
    torch.ao's deprecation warnings are silenced here only."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = INT8_ENGINE
    example = calibration[:1]
    mapping = get_default_qconfig_mapping(INT8_ENGINE)
    for name in float_layers(module):
        mapping.set_module_name(name, None)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", module=r"torch\.ao\.")
        prepared = prepare_fx(module, mapping, (example,))
        for i in range(0, len(calibration), BATCH):
            prepared(calibration[i:i + BATCH])
        converted = convert_fx(prepared)
        return torch.jit.freeze(torch.jit.trace(converted, example).eval())


def labels_on(network: torch.nn.Module, faces: np.ndarray, meta) -> np.ndarray:
    """Centre-crop labels of ``network`` on uint8 faces, as the live path computes them."""
    faces = torch.as_tensor(faces)
    with torch.inference_mode():
        probs = [predict_member(network, faces[i:i + BATCH], meta.input_size, meta.mean, meta.std, tencrop=False)
                 for i in range(0, len(faces), BATCH)]
    return torch.cat(probs).argmax(1).numpy()


def quantize_file(weights: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike,
                  calibration: int = CALIBRATION_FACES, overwrite: bool = False,
                  tolerance: float = TOLERANCE) -> tuple[Path, dict[str, Any]]:
    """Write ``weights`` again as ``out`` with an int8 variant calibrated on ``calibration``
    Training faces and checked on PublicTest; returns the path and the variant's metadata.

    ``out`` may be ``weights`` itself; an existing file is replaced only with ``overwrite``,
    and only once the new file is complete. Raises :class:`QuantizeError` when the variant
    moves PublicTest accuracy by more than ``tolerance``."""
    weights, out = Path(weights), Path(out)
    refuse_to_replace(out, overwrite)
    if weights.suffix == ".json":
        raise ModelFileError(f"{weights} is an ensemble; quantise each member model file instead")
    (loaded,) = load_models(weights)
    meta = loaded.meta
    train_faces, _ = stratified_subset(*load_fer2013(data).split("Training"), calibration)
    int8 = quantize_module(float_model(loaded), calibration_views(train_faces, meta.input_size, meta.mean, meta.std))
    from fer.training.evaluate import split_faces  # here: it imports scikit-learn, which `fer`'s start need not

    faces, labels = split_faces(data, "public")
    float_labels = labels_on(loaded.module.to(memory_format=torch.channels_last), faces, meta)
    int8_labels = labels_on(int8, faces, meta)
    check = {"split": "PublicTest", "faces": int(len(labels)), "crop": "centre",
             "accuracy_float32": round(float((float_labels == labels).mean()), 4),
             "accuracy_int8": round(float((int8_labels == labels).mean()), 4),
             "same_label": round(float((float_labels == int8_labels).mean()), 4)}
    if abs(check["accuracy_float32"] - check["accuracy_int8"]) > tolerance + 1e-9:  # rounded figures: a move of
        # exactly the tolerance is allowed, not decided by the float error of the subtraction
        raise QuantizeError(f"int8 moves {weights.name}'s PublicTest accuracy from {check['accuracy_float32']:.4f} "
                            f"to {check['accuracy_int8']:.4f} (more than {tolerance:.3f}); nothing written")
    info = {"method": "PyTorch FX graph-mode post-training quantisation (torch.ao.quantization.quantize_fx, "
                      f"get_default_qconfig_mapping('{INT8_ENGINE}')): per-channel int8 weights, per-tensor "
                      f"uint8 activations, {' and '.join(float_layers(float_model(loaded)))} in float; "
                      "traced and frozen TorchScript",
            "engine": INT8_ENGINE, "torch": torch.__version__,
            "calibration": {"split": "Training", "faces": int(len(train_faces)), "sampling": "class-stratified, seed 0",
                            "views": "centre crop and ten-crop (11 per face)"},
            "public_test": check}
    return save_with_int8(weights, int8, info, out), info
