"""The road not taken for int8: the shipped classifier in float32 (as the runtime runs it:
eager, channels-last, one thread) against an int8 copy made with torchao's PT2E
quantisation (the maintained successor of FX quantisation, which PyTorch 2.14
deprecates) and compiled by TorchInductor, which lowers it to oneDNN's int8 convolutions.

The runtime ships FX quantisation instead (``fer quantize``, :mod:`fer.training.quantize`):
a TorchScript module in the model file that runs any batch size with no compile step.
PT2E's int8 runs only through TorchInductor, which compiles C++ for each batch size on
first use and needs a C++ compiler wherever fer runs; this script is the comparison
behind that choice (see the README's "Speed" section). The int8 copy is calibrated on
Training faces (never the test splits) and checked on PublicTest: accuracy of both, and
how often they agree.

    pip install -e .[int8]
    python benchmarks/int8_classifier.py --data ../shared/data/fer2013.tar.gz \
        [--calibration 512] [--repeats 200] [--json benchmarks/int8-classifier.json]

The first int8 call of each batch size compiles (C++ through the system compiler, tens
of seconds on two cores); batch sizes are fixed at export (TorchInductor's int8
convolution mis-strides a dynamic batch in torch 2.14 with torchao 0.18).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from fer.bench import cpu_name, stats
from fer.engine.crops import center_crop, normalize
from fer.models.modelfile import default_weights, load_models
from fer.training.data import load_fer2013, stratified_subset
from fer.training.evaluate import split_faces
from fer.training.quantize import float_model

#: Faces per call measured: one face, and a frame with four.
BATCHES = (1, 4)
#: Faces per call when scoring PublicTest (the last call is padded to it).
EVAL_BATCH = 64


def model_input(faces: np.ndarray, meta) -> torch.Tensor:
    """uint8 (N, 48, 48) faces -> the normalised centre crops the runtime feeds the network."""
    return normalize(center_crop(torch.as_tensor(faces), meta.input_size), meta.mean, meta.std)


def int8_model(module: torch.nn.Module, calibration: torch.Tensor, batch: int):
    """``module`` quantised to int8 (per-channel weights, per-tensor activations) for a
    fixed ``batch``, calibrated on ``calibration``, compiled by TorchInductor."""
    import torch._inductor.config as inductor
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    example = calibration[:batch]
    graph = torch.export.export(module, (example,)).module()
    quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for i in range(0, len(calibration) - batch + 1, batch):
            prepared(calibration[i:i + batch])
    inductor.freezing = True  # weights become constants: folded and pre-packed for oneDNN
    compiled = torch.compile(convert_pt2e(prepared), dynamic=False)
    with torch.no_grad():
        compiled(example)
    return compiled


def time_calls(fn, x: torch.Tensor, repeats: int) -> dict[str, dict[str, float]]:
    """Wall and CPU milliseconds per call (CPU time stays near wall time on an idle machine)."""
    wall, cpu = [], []
    with torch.no_grad():
        for i in range(repeats + 10):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(x)
            if i >= 10:
                wall.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
    return {"wall_ms": stats(wall), "cpu_ms": stats(cpu)}


def probabilities(fn, x: torch.Tensor, batch: int) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            part = x[i:i + batch]
            filler = part[:1].expand(batch - len(part), *part.shape[1:])
            padded = torch.cat([part, filler]) if len(part) < batch else part
            out.append(torch.softmax(fn(padded).float(), 1)[:len(part)])
    return torch.cat(out).numpy()


def run(data: str, weights: Path, calibration: int, repeats: int) -> dict:
    torch.set_num_threads(1)  # as the runtime (fer.recognizer.THREADS)
    loaded = load_models(weights)[0]
    module, meta = float_model(loaded), loaded.meta  # torch.export cannot trace TorchScript
    runtime = load_models(weights)[0].module.to(memory_format=torch.channels_last)
    train_faces, _ = stratified_subset(*load_fer2013(data).split("Training"), calibration)
    calib = model_input(train_faces, meta)
    report = {"machine": {"cpu": cpu_name(), "cpus": os.cpu_count(), "torch": torch.__version__,
                          "torch_threads": 1, "load_average_before": [round(x, 2) for x in os.getloadavg()]},
              "model": str(weights), "calibration": f"{calibration} Training faces, class-stratified",
              "per_call": {}}
    compiled = {}
    for batch in (*BATCHES, EVAL_BATCH):
        start = time.perf_counter()
        compiled[batch] = int8_model(module, calib, batch)
        report.setdefault("compile_seconds", {})[str(batch)] = round(time.perf_counter() - start, 1)
    for batch in BATCHES:
        x = model_input(train_faces[:batch], meta)
        fp32 = time_calls(runtime, x.contiguous(memory_format=torch.channels_last), repeats)
        int8 = time_calls(compiled[batch], x, repeats)
        report["per_call"][f"batch_{batch}"] = {"float32": fp32, "int8": int8}
    faces, labels = split_faces(data, "public")
    x = model_input(faces, meta)
    p32 = probabilities(runtime, x.contiguous(memory_format=torch.channels_last), EVAL_BATCH)
    p8 = probabilities(compiled[EVAL_BATCH], x, EVAL_BATCH)
    report["public_test"] = {
        "faces": len(labels),
        "accuracy_float32": round(float((p32.argmax(1) == labels).mean()), 4),
        "accuracy_int8": round(float((p8.argmax(1) == labels).mean()), 4),
        "same_label": round(float((p32.argmax(1) == p8.argmax(1)).mean()), 4),
        "max_probability_difference": round(float(np.abs(p32 - p8).max()), 4),
    }
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013 (.tar.gz, folder or CSV)")
    parser.add_argument("--weights", type=Path, default=default_weights(), help="model file (default: the shipped one)")
    parser.add_argument("--calibration", type=int, default=512, help="Training faces to calibrate on (default: 512)")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per batch size (default: 200)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    report = run(args.data, args.weights, args.calibration, args.repeats)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
