"""Time training steps (forward, backward, SGD update) of a network on random faces.

``benchmarks/train_step.py`` reports them per precision and memory layout (the numbers
behind ``fer train``'s bf16 autocast and channels-last tensors); ``scripts/train_gpu.py``
shares a GPU's time between networks by them.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from fer.classes import NUM_CLASSES
from fer.models import create_model


def time_training_step(model_name: str, width_mult: float = 1.0, batch_size: int = 128, *,
                       device: torch.device = torch.device("cpu"), bf16: bool = False, channels_last: bool = True,
                       repeats: int = 10, warmup: int = 2, crop: int = 40) -> list[float]:
    """Seconds of each of ``repeats`` steps after ``warmup`` untimed ones (cuDNN picks its
    kernels in those); on CUDA each step is waited for, so the time is the GPU's."""
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True  # as fer train runs: every batch has the same shape
    model = create_model(model_name, width_mult=width_mult).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch_size, 1, crop, crop, device=device)
    y = torch.randint(0, NUM_CLASSES, (batch_size,), device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times
