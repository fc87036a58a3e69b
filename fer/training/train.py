"""Train a FER2013 model: one config object, one epoch loop, a checkpoint every epoch.

The whole training split lives on the training device as uint8 (28,709 x 48 x 48 is
66 MB) and is augmented there in batches, so there is no data-loader process to feed:
on a GPU the loop never waits on the CPU, and on the CPU no core is lost to workers.
On CPUs with bf16 matrix units (and on GPUs) the forward/backward runs under bf16
autocast with channels-last tensors, which is 2-3x faster than float32 here.

Model selection uses PublicTest only; PrivateTest is never touched by training.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from fer.classes import CLASS_NAMES, FACE_SIZE, NUM_CLASSES
from fer.engine.classify import Classifier, predict_member, resolve_device, resolve_precision
from fer.engine.crops import normalize
from fer.io.figures import save_figure
from fer.io.outputs import make_folder, write_whole
from fer.models import create_model, list_models
from fer.models.modelfile import LoadedModel, ModelFileError, ModelMeta, load_models
from fer.training.augment import TrainAugment
from fer.training.data import DatasetError, FERData, load_fer2013, stratified_subset
from fer.training.losses import LOSSES, build_loss, distillation_loss
from fer.training.sampling import SAMPLERS, epoch_indices


class TrainConfigError(ValueError):
    """A training run that cannot start as asked (``--resume`` or ``--init`` mismatch)."""


class CheckpointError(ValueError):
    """A file given as a training checkpoint is missing or is something else."""


def _field_default(f) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()


def _opt(default: Any, help: str, choices: tuple | None = None, **extra) -> Any:
    """A config field whose help text and choices also drive the command line."""
    meta = {"help": help, "choices": choices}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta | extra)


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored in every checkpoint and model file."""

    data: str = _opt("", "FER2013 directory, .tar.gz, .zip or fer2013.csv")
    model: str = _opt("vgg10", "architecture", tuple(list_models()))
    width_mult: float = _opt(1.0, "channel width multiplier (0.5 trains about 3x faster)")
    epochs: int = _opt(40, "training epochs")
    batch_size: int = _opt(128, "batch size")
    optimizer: str = _opt("sgd", "sgd (Nesterov momentum 0.9) or nadam", ("sgd", "nadam"))
    lr: float = _opt(0.05, "peak learning rate (use about 2e-3 for nadam)")
    weight_decay: float = _opt(5e-4, "weight decay")
    schedule: str = _opt("onecycle", "learning-rate schedule", ("onecycle", "cosine"))
    warmup_epochs: float = _opt(2.0, "linear warm-up epochs of the cosine schedule")
    loss: str = _opt("adaptive", "loss function", LOSSES)
    alpha: list[float] | None = _opt(None, "per-class weights angry..neutral (default: the loss's own)", nargs=7)
    gamma: float = _opt(2.0, "focal exponent of the focal and adaptive losses")
    eps: float = _opt(0.05, "label smoothing of the adaptive loss")
    sampler: str = _opt("uniform", "uniform, or balanced (every class equally often)", SAMPLERS)
    mixup: float = _opt(0.0, "mixup Beta(a, a) parameter; 0 turns mixup off")
    ema: float = _opt(0.999, "decay of the exponential moving average of weights; 0 turns it off")
    crop: int = _opt(40, "side of the training crop cut from the 48x48 face")
    amp: bool = _opt(True, "bf16 autocast where the device supports it")
    seed: int = _opt(0, "random seed")
    device: str = _opt("auto", "auto, cpu or cuda[:N]")
    checkpoint_every: int = _opt(1, "write OUT/last.pt and the curves every N epochs (and after the last); "
                                    "--resume repeats at most N-1 epochs")
    subset: int = _opt(0, "use only this many training and PublicTest faces (tests, smoke runs); 0 = all")
    init: str = _opt("", "start a new schedule from these weights: a checkpoint (its EMA when present) "
                         "or a model file such as weights/vgg10.pt")
    teacher: str = _opt("", "distil from this model or ensemble file (its ten-crop probabilities, computed once)")
    distill_alpha: float = _opt(0.5, "weight of the teacher's soft targets against the labels, 0..1")
    distill_temperature: float = _opt(4.0, "temperature that softens teacher and student for distillation")
    out: str = _opt("runs/vgg10", "output directory for checkpoints, logs and the learning-curve plot")

    def arch_kwargs(self) -> dict[str, Any]:
        return {"width_mult": self.width_mult}


def check_config(cfg: TrainConfig) -> None:
    """Refuse option values that would crash a run minutes in (after the data is decoded, or
    at the first checkpoint) or quietly train something other than asked, naming the option.
    Called before anything is read or written."""
    rules = [("epochs", cfg.epochs >= 1, "at least 1"),
             ("batch_size", cfg.batch_size >= 1, "at least 1"),
             ("lr", cfg.lr >= 0, "must not be negative"),
             ("weight_decay", cfg.weight_decay >= 0, "must not be negative"),
             ("warmup_epochs", cfg.warmup_epochs >= 0, "must not be negative"),
             ("width_mult", cfg.width_mult > 0, "must be positive"),
             ("gamma", cfg.gamma >= 0, "must not be negative"),
             ("eps", 0 <= cfg.eps < 1, "must be in [0, 1)"),
             ("mixup", cfg.mixup >= 0, "must not be negative (0 turns mixup off)"),
             ("ema", 0 <= cfg.ema < 1, "must be in [0, 1) (0 turns the average off)"),
             ("seed", cfg.seed >= 0, "must not be negative"),
             ("checkpoint_every", cfg.checkpoint_every >= 1, "at least 1"),
             ("subset", cfg.subset == 0 or cfg.subset >= NUM_CLASSES,
              f"0 (all faces) or at least {NUM_CLASSES}, one face per class"),
             ("alpha", cfg.alpha is None or (min(cfg.alpha) >= 0 and sum(cfg.alpha) > 0),
              "class weights must not be negative nor all zero"),
             ("distill_alpha", 0 <= cfg.distill_alpha <= 1, "must be in [0, 1]"),
             ("distill_temperature", cfg.distill_temperature > 0, "must be positive"),
             ("crop", 1 <= cfg.crop <= FACE_SIZE, f"must be from 1 to {FACE_SIZE}, the side of a face")]
    for name, ok, rule in rules:
        if not ok:
            value = getattr(cfg, name)
            shown = " ".join(map(str, value)) if isinstance(value, list) else value
            raise TrainConfigError(f"--{name.replace('_', '-')} {shown}: {rule}")
    try:
        with torch.no_grad():
            build_model(cfg).eval()(torch.zeros(1, 1, cfg.crop, cfg.crop))
    except RuntimeError:
        raise TrainConfigError(f"--crop {cfg.crop}: too small for {cfg.model}'s pooling") from None


def amp_enabled(device: torch.device, wanted: bool) -> bool:
    """bf16 pays off on GPUs and on CPUs with AMX/AVX512-BF16; elsewhere it is slower."""
    if not wanted:
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def ema_with_warmup(decay: float):
    """Weight-EMA update whose decay ramps up as ``(1 + n) / (10 + n)`` towards ``decay``.

    With a fixed 0.999 the average would drag the random initialisation (and BatchNorm's
    initial running variance of 1) along for thousands of steps: after four epochs it
    was still predicting one class while the raw model was at 47% on PublicTest.
    """

    # The step count lives on the host after the first call: reading ``num_averaged`` (a
    # device tensor) every step would make the CPU wait for the GPU once per batch. One
    # count per group of tensors: AveragedModel calls this once per device and dtype in a
    # step (BatchNorm's integer counters are a second group).
    steps: dict[int, int] = {}

    def update(ema_params: list[torch.Tensor], model_params: list[torch.Tensor], num_averaged: torch.Tensor):
        group = ema_params[0].data_ptr()  # the averaged module's own storage: the same every step
        if group not in steps:
            steps[group] = int(num_averaged)
        n = steps[group]
        steps[group] += 1
        d = min(decay, (1 + n) / (10 + n))
        if torch.is_floating_point(ema_params[0]):
            torch._foreach_lerp_(ema_params, model_params, 1 - d)
        else:  # integer buffers (BatchNorm's num_batches_tracked) are counters, not averages
            torch._foreach_copy_(ema_params, model_params)

    return update


def build_model(cfg: TrainConfig) -> nn.Module:
    return create_model(cfg.model, **cfg.arch_kwargs())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`train`, or :class:`CheckpointError` saying what ``path``
    is instead (a model file, which is already exported, or something else)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch.load hands a TorchScript file to torch.jit.load, warning twice
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception:  # pickle, zip and torch errors for files that are no checkpoint
        ckpt = None
    if not (isinstance(ckpt, dict) and {"config", "model", "ema", "history"} <= ckpt.keys()):
        what = "a model file (already exported)" if _model_file(str(path)) else "not a checkpoint written by fer train"
        raise CheckpointError(f"{path} is {what}")
    return ckpt


def model_from_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, ModelMeta]:
    """Rebuild the (EMA, when trained with it) model of a checkpoint, with its metadata."""
    ckpt = load_checkpoint(path)
    cfg = TrainConfig(**ckpt["config"])
    model = build_model(cfg)
    model.load_state_dict(ckpt["ema"] or ckpt["model"])
    meta = ModelMeta(arch=cfg.model, arch_kwargs=cfg.arch_kwargs(), mean=ckpt["mean"], std=ckpt["std"],
                     input_size=cfg.crop, train_config=asdict(cfg),
                     training=run_summary(whole_run(path, ckpt), cfg)
                     | {"kept_epoch": len(ckpt["history"]), "init": ckpt.get("init_summary")},
                     data_fingerprint=ckpt["data_fingerprint"])
    return model.eval(), meta


def whole_run(path: str | os.PathLike, ckpt: dict[str, Any]) -> list[dict]:
    """The history of the run a checkpoint comes from: for ``best.pt``, that of the
    ``last.pt`` beside it when it is the same run, which goes on past the best epoch (its
    length and cost are the run's, and its learning curve shows what came after)."""
    last = Path(path).with_name("last.pt")
    if not last.is_file() or last.resolve() == Path(path).resolve():
        return ckpt["history"]
    try:
        run = load_checkpoint(last, map_location="cpu")
    except CheckpointError:
        return ckpt["history"]
    same = run["config"] == ckpt["config"] and run["history"][:len(ckpt["history"])] == ckpt["history"]
    return run["history"] if same else ckpt["history"]


def _optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    # No weight decay on BatchNorm and biases: it only shrinks their scale.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    return torch.optim.NAdam(groups, lr=cfg.lr)


def _scheduler(cfg: TrainConfig, opt: torch.optim.Optimizer, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.2)
    warm = max(1, min(total - 1, round(cfg.warmup_epochs * steps_per_epoch)))
    return torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=warm),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total - warm))], milestones=[warm])


@torch.inference_mode()
def evaluate_accuracy(model: nn.Module, faces: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
                      mean: float, std: float, amp: bool, criterion: nn.Module) -> tuple[float, float]:
    """Centre-crop accuracy and loss on a held-out split (PublicTest during training)."""
    model.eval()
    correct, loss_sum = 0, 0.0
    for i in range(0, len(labels), 512):
        x, y = faces[i:i + 512], labels[i:i + 512]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            probs = predict_member(model, x, cfg.crop, mean, std, tencrop=False)
        correct += int((probs.argmax(1) == y).sum())
        loss_sum += float(criterion(probs.clamp_min(1e-8).log(), y)) * len(y)
    return correct / len(labels), loss_sum / len(labels)


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Run training; returns the path of the best checkpoint (chosen on PublicTest)."""
    check_config(cfg)
    device = resolve_device(cfg.device)
    amp = amp_enabled(device, cfg.amp)
    torch.backends.cudnn.benchmark = True  # every batch has the same shape
    torch.manual_seed(cfg.seed)

    data = load_fer2013(cfg.data)
    print(data.summary())
    x_train, y_train = training_set(data, cfg)
    present = set(np.unique(data.split("Training")[1]).tolist())  # the whole split: a --subset draw may miss one
    missing = [name for i, name in enumerate(CLASS_NAMES) if i not in present]
    if missing:
        raise DatasetError(f"{cfg.data} has no Training faces of {', '.join(missing)}: a model learns all "
                           f"{len(CLASS_NAMES)} classes")
    x_val, y_val = stratified_subset(*data.split("PublicTest"), cfg.subset, cfg.seed + 1)
    mean, std = float(x_train.mean() / 255), float(x_train.std() / 255)
    train_faces, train_labels = torch.from_numpy(x_train).to(device), torch.from_numpy(y_train).to(device)
    val_faces, val_labels = torch.from_numpy(x_val).to(device), torch.from_numpy(y_val).to(device)

    model = build_model(cfg)
    init_summary = _load_init(model, cfg) if cfg.init else None
    teacher = load_teacher(cfg.teacher) if cfg.teacher else None
    out = make_folder(cfg.out)  # made once the inputs have been read: a run refused on them leaves nothing
    model = model.to(device, memory_format=torch.channels_last)
    ema = (AveragedModel(model, multi_avg_fn=ema_with_warmup(cfg.ema), use_buffers=True)
           if cfg.ema else None)
    criterion = build_loss(cfg.loss, y_train, cfg.alpha, cfg.gamma, cfg.eps).to(device)
    teacher_probs = torch.from_numpy(teacher_targets(teacher, x_train, out)).to(device) if teacher else None
    plain_ce = build_loss("ce", y_train).to(device)
    steps = max(1, len(y_train) // cfg.batch_size)
    opt = _optimizer(cfg, model)
    sched = _scheduler(cfg, opt, steps)
    augment = TrainAugment(crop=cfg.crop)
    start, best_acc, history = 0, -1.0, []

    last_path, best_path = out / "last.pt", out / "best.pt"
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path, map_location=device)
        saved = asdict(TrainConfig(**ckpt["config"]))  # options added since take their defaults
        if saved != asdict(cfg):
            changed = sorted(k for k, v in asdict(cfg).items() if saved[k] != v)
            raise TrainConfigError(f"--resume with a different configuration ({', '.join(changed)}); "
                             f"use a new --out or the same options")
        model.load_state_dict(ckpt["model"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema_state"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start, best_acc, history = ckpt["epoch"] + 1, ckpt["best_acc"], ckpt["history"]
        print(f"resumed from {last_path} after epoch {start}")

    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        # Seeding per epoch (dropout uses the global generator) makes a resumed run
        # take exactly the steps the uninterrupted run would have taken.
        torch.manual_seed(cfg.seed * 1000 + epoch)
        gen = torch.Generator(device).manual_seed(cfg.seed * 1000 + epoch)
        mixup_rng = np.random.default_rng([cfg.seed, epoch])
        order = epoch_indices(train_labels, cfg.sampler, gen)
        model.train()
        # Sums stay on the device: reading them every batch would stall the GPU pipeline.
        loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", mininterval=2.0)
        for i in bar:
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x = normalize(augment(train_faces[idx], gen), mean, std).contiguous(memory_format=torch.channels_last)
            y = train_labels[idx]
            target = torch.nn.functional.one_hot(y, NUM_CLASSES).float()
            soft = teacher_probs[idx] if teacher_probs is not None else None
            if cfg.mixup:
                lam = float(mixup_rng.beta(cfg.mixup, cfg.mixup))
                perm = torch.randperm(len(y), device=device, generator=gen)
                x = lam * x + (1 - lam) * x[perm]
                target = lam * target + (1 - lam) * target[perm]
                soft = lam * soft + (1 - lam) * soft[perm] if soft is not None else None
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(x)
            loss = criterion(logits, target)
            if soft is not None:
                loss = (1 - cfg.distill_alpha) * loss + cfg.distill_alpha * distillation_loss(
                    logits, soft, cfg.distill_temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            if i % 20 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.3f}", acc=f"{float(correct) / seen:.3f}", refresh=False)
        bar.close()
        loss_sum, correct = float(loss_sum), float(correct)

        eval_model = ema.module if ema is not None else model
        val_acc, val_loss = evaluate_accuracy(eval_model, val_faces, val_labels, cfg, mean, std, amp, plain_ce)
        row = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0], "train_loss": loss_sum / seen,
               "train_acc": correct / seen, "public_loss": val_loss, "public_acc": val_acc,
               "seconds": time.perf_counter() - t0}
        history.append(row)
        improved = val_acc > best_acc
        best_acc = max(best_acc, val_acc)
        print(f"epoch {epoch + 1}/{cfg.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
              f"PublicTest loss {val_loss:.4f} acc {val_acc:.4f}{'  (best)' if improved else ''}  "
              f"{row['seconds']:.0f}s", flush=True)
        ckpt = {"config": asdict(cfg), "epoch": epoch, "model": model.state_dict(),
                "ema": ema.module.state_dict() if ema is not None else None,
                "ema_state": ema.state_dict() if ema is not None else None,
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "best_acc": best_acc,
                "history": history, "mean": mean, "std": std, "data_fingerprint": data.fingerprint,
                "init_summary": init_summary}
        if improved:
            _atomic_save({**ckpt, "optimizer": None, "scheduler": None, "ema_state": None}, best_path)
        checkpoint = (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs
        if checkpoint:
            _atomic_save(ckpt, last_path)
        write_log(history, cfg, out, plot=checkpoint)
    return best_path


def load_teacher(path: str) -> list[LoadedModel]:
    """The networks of ``--teacher``, a model or ensemble file; a training checkpoint is
    named as one, to be exported first."""
    try:
        return load_models(path)
    except ModelFileError as err:
        try:
            load_checkpoint(path)
        except CheckpointError:
            raise TrainConfigError(f"--teacher: {err}") from None
        raise TrainConfigError(f"--teacher {path} is a training checkpoint; export it first "
                               f"(fer export {path} -o MODEL.pt)") from None


def teacher_targets(members: list[LoadedModel], faces: np.ndarray, out: Path) -> np.ndarray:
    """The teacher's ten-crop probabilities for every training face, ``(N, K)`` float32.

    Computed once and kept in ``OUT/teacher.npz`` (keyed by the faces and every teacher
    network's file, weight and zooms: an ensemble file names its members, which can be replaced
    while it stays the same), so a resumed run does not pay for them again: with a
    three-network teacher on 28,709 faces they cost more than an epoch of the student.
    """
    digest = hashlib.sha256(faces.tobytes())
    for member in members:
        digest.update(member.path.read_bytes() + repr((member.weight, member.zooms)).encode())
    key, cache = digest.hexdigest(), out / "teacher.npz"
    if cache.exists():
        with np.load(cache) as saved:
            if str(saved["key"]) == key:
                return saved["probs"]
    print(f"computing the teacher's ten-crop probabilities for {len(faces)} faces (once)", flush=True)
    # bfloat16 where native, else float32: never the teacher's int8 variant
    precision = resolve_precision("auto", torch.device("cpu"))
    probs = Classifier(members, tencrop=True, precision=precision).predict_proba(faces)
    tmp = cache.with_name(cache.name + ".partial.npz")
    np.savez(tmp, key=key, probs=probs)
    tmp.replace(cache)
    return probs


def training_set(data: FERData, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The faces and labels a run with ``cfg`` trains on: Training, or its stratified ``cfg.subset``."""
    return stratified_subset(*data.split("Training"), cfg.subset, cfg.seed)


def _load_init(model: nn.Module, cfg: TrainConfig) -> dict[str, Any]:
    """Load ``cfg.init``'s weights into ``model``; returns how that checkpoint was trained.

    A second schedule from a converged model (a warm restart) trains longer without
    redoing the first part: a second schedule of 30 epochs took the shipped VGG10 from 0.6757
    to 0.6865 PublicTest ten-crop accuracy, a third of 18 epochs to 0.6907, a fourth of 24
    epochs to 0.6932 (its 12th).
    """
    shipped = _model_file(cfg.init)
    if shipped is not None:  # a model file stores the weights its run chose (the EMA's)
        weights, summary = shipped.module.state_dict(), shipped.meta.training
    else:
        ckpt = load_checkpoint(cfg.init)
        weights = ckpt["ema"] or ckpt["model"]
        summary = run_summary(ckpt["history"], TrainConfig(**ckpt["config"])) | {"init": ckpt.get("init_summary")}
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        first_problem = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err))
        raise TrainConfigError(f"--init {cfg.init}: its weights do not fit {cfg.model} at width "
                               f"{cfg.width_mult} ({first_problem})") from None
    return summary


def _model_file(path: str) -> LoadedModel | None:
    """``path`` loaded as a ``fer`` model file, or None for a training checkpoint."""
    try:
        return load_models(path)[0] if not path.endswith(".json") else None
    except ModelFileError:
        return None


def _atomic_save(obj: dict, path: Path) -> None:
    """Save a checkpoint whole or not at all (the previous one stays until then). It is
    serialised in memory first: PyTorch's own file writer aborts the process on a full disk."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_whole(path, buffer.getbuffer())


def run_summary(history: list[dict], cfg: TrainConfig) -> dict[str, Any]:
    """What a reader of a model's metrics wants to know about how it was trained, with the
    per-epoch history, so a model file can redraw its own learning curve."""
    best = max(history, key=lambda r: r["public_acc"])
    return {"epochs_done": len(history), "best_epoch": best["epoch"], "best_public_acc": best["public_acc"],
            "minutes": round(sum(r["seconds"] for r in history) / 60, 1), "command": train_command(cfg),
            "history": history}


def train_command(cfg: TrainConfig) -> str:
    """The shortest ``fer train`` command line that reproduces ``cfg``."""
    parts = ["fer train", f"--data {cfg.data}"]
    for f in fields(TrainConfig):
        value = getattr(cfg, f.name)
        default = _field_default(f)
        if f.name == "data" or value == default:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            parts.append(f"{flag} " + " ".join(map(str, value)))
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def write_log(history: list[dict], cfg: TrainConfig, out: Path, plot: bool = True) -> None:
    """Per-epoch CSV and JSON logs and (with ``plot``) the learning-curve plot beside them."""
    with (out / "log.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    summary = {"config": asdict(cfg), **run_summary(history, cfg)}
    (out / "log.json").write_text(json.dumps(summary, indent=2))
    if plot:
        plot_learning_curves(history, out / "curves.png")


def plot_learning_curves(history: list[dict], path: Path, restarts: Sequence[int] = ()) -> None:
    """Loss and accuracy per epoch, train and PublicTest; dotted lines mark the epochs after
    which a new schedule (``fer train --init``) started."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], label="train (training loss)")
    ax_loss.plot(epochs, [r["public_loss"] for r in history], label="PublicTest (cross-entropy)")
    ax_acc.plot(epochs, [r["train_acc"] for r in history], label="train (augmented)")
    ax_acc.plot(epochs, [r["public_acc"] for r in history], label="PublicTest")
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        for epoch in restarts:
            ax.axvline(epoch + 0.5, color="grey", linestyle=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Expose every :class:`TrainConfig` field as ``--field-name`` with its default in the help."""
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = _field_default(f)
        kwargs: dict[str, Any] = {"dest": f.name, "default": default, "choices": f.metadata.get("choices"),
                                  "help": f"{f.metadata['help']} (default: {default})"}
        if f.type in ("bool", bool):
            kwargs.update(action=argparse.BooleanOptionalAction)
            kwargs.pop("choices")
        elif f.name == "alpha":
            kwargs.update(type=float, nargs=f.metadata["nargs"])
        else:
            kwargs["type"] = type(default)
        parser.add_argument(flag, required=f.name == "data", **kwargs)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})

