"""The scripts that train on a lent GPU (``scripts/train_gpu.py``) and bring the result
home (``scripts/pack_checkpoint.py``), run here on the CPU at toy size."""

import json
import subprocess
import sys

import torch
from repo_scripts import SCRIPTS, load_script

from fer.models.modelfile import load_models
from fer.training.export import export_checkpoint
from fer.training.train import TrainConfig, train


def test_epochs_are_shared_so_that_all_runs_fit_the_budget():
    allocate_epochs = load_script("train_gpu").allocate_epochs
    assert allocate_epochs({"a": 1.0, "b": 3.0}, budget=400, max_epochs=300) == 100
    assert allocate_epochs({"a": 1.0, "b": 3.0}, budget=400, max_epochs=50) == 50
    assert allocate_epochs({"a": 1.0, "b": 3.0}, budget=1, max_epochs=50) == 1


def test_gpu_script_runs_each_network_and_seed_as_a_plain_fer_train_run(tmp_path, fer2013_path):
    out = tmp_path / "gpu"
    subprocess.run([sys.executable, str(SCRIPTS / "train_gpu.py"), "--data", str(fer2013_path), "--device", "cpu",
                    "--minutes", "1", "--models", "vgg10", "--seeds", "0", "3", "--max-epochs", "2",
                    "--subset", "256", "--width-mult", "0.25", "--out", str(out)], check=True, capture_output=True)
    for run, seed in (("vgg10", 0), ("vgg10-seed3", 3)):
        log = json.loads((out / run / "log.json").read_text())
        assert log["epochs_done"] == 2 and log["config"]["device"] == "cpu" and log["config"]["seed"] == seed
        # The run's own log starts with the command that retrains it without the script.
        assert (out / f"{run}.log").read_text().splitlines()[0] == log["command"]
    first, other = (torch.load(out / run / "last.pt", weights_only=False)["model"] for run in ("vgg10", "vgg10-seed3"))
    assert not torch.equal(*(next(iter(weights.values())) for weights in (first, other)))  # two networks


def test_a_seed_given_twice_is_refused():
    done = subprocess.run([sys.executable, str(SCRIPTS / "train_gpu.py"), "--data", "x", "--minutes", "1",
                           "--seeds", "3", "3"], capture_output=True, text=True)
    assert done.returncode == 2 and "--seeds 3 3: each seed once" in done.stderr


def test_a_packed_checkpoint_exports_the_same_model_at_a_quarter_of_the_size(tmp_path, fer2013_path):
    cfg = TrainConfig(data=str(fer2013_path), width_mult=0.25, epochs=1, batch_size=32, subset=128,
                      out=str(tmp_path / "run"))
    train(cfg)
    last = tmp_path / "run" / "last.pt"
    packed = load_script("pack_checkpoint").pack(last, tmp_path / "packed.pt")
    assert packed.stat().st_size < last.stat().st_size / 3
    full, small = (load_models(export_checkpoint(p, tmp_path / f"{p.stem}-model.pt"))[0] for p in (last, packed))
    for a, b in zip(full.module.state_dict().values(), small.module.state_dict().values()):
        assert torch.equal(a, b)  # both stored in float16 by the export
    assert small.meta.training["command"] == full.meta.training["command"]


def test_step_timer_returns_the_timed_steps_only():
    from fer.training.step_time import time_training_step

    times = time_training_step("vgg10", width_mult=0.25, batch_size=8, repeats=3, warmup=1)
    assert len(times) == 3 and all(t > 0 for t in times)
