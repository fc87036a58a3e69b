import json
import warnings

import numpy as np
import pytest
import torch

import fer.training.train as train_mod
from fer.engine.classify import Classifier
from fer.models.modelfile import ModelMeta, load_models, save_ensemble, save_model
from fer.training.data import DatasetError
from fer.training.export import export_checkpoint
from fer.training.losses import build_loss
from fer.training.report import plot_training_curve
from fer.training.train import (
    TrainConfig,
    _optimizer,
    build_model,
    model_from_checkpoint,
    train,
    train_command,
)


def _cfg(tmp_path, fer2013_path, **kw) -> TrainConfig:
    base = dict(data=str(fer2013_path), width_mult=0.25, epochs=2, batch_size=32, subset=128, out=str(tmp_path / "run"))
    return TrainConfig(**(base | kw))


def test_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    cfg = TrainConfig(width_mult=0.25, lr=0.01)
    model = build_model(cfg)
    x, y = torch.randn(32, 1, 40, 40), torch.arange(32) % 7
    loss_fn = build_loss("adaptive", y.numpy())
    opt = _optimizer(cfg, model)
    losses = []
    for _ in range(30):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_train_writes_checkpoints_logs_and_plot(tmp_path, fer2013_path):
    cfg = _cfg(tmp_path, fer2013_path)
    best = train(cfg)
    out = tmp_path / "run"
    assert best == out / "best.pt"
    for name in ("last.pt", "best.pt", "log.csv", "log.json", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    log = json.loads((out / "log.json").read_text())
    assert [r["epoch"] for r in log["history"]] == [1, 2]
    assert log["command"] == train_command(cfg)
    # The exported model (stored in float32) reproduces the checkpoint's EMA model exactly.
    model, meta = model_from_checkpoint(best)
    path = save_model(model, meta, tmp_path / "m.pt", weights_dtype="float32")
    faces = torch.randint(0, 256, (5, 48, 48), dtype=torch.uint8)
    loaded = load_models(path)
    assert loaded[0].meta.training["best_epoch"] == log["best_epoch"]
    eager = Classifier([loaded[0].__class__(model, meta, path)]).predict_proba(faces)
    assert torch.allclose(torch.from_numpy(Classifier(loaded).predict_proba(faces)), torch.from_numpy(eager), atol=1e-5)


def test_resume_continues_after_an_interruption(tmp_path, fer2013_path, monkeypatch):
    cfg = _cfg(tmp_path, fer2013_path, epochs=2)
    real_write_log = train_mod.write_log

    def stop_after_first_epoch(history, cfg, out, **kwargs):
        real_write_log(history, cfg, out, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "write_log", stop_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.setattr(train_mod, "write_log", real_write_log)
    first = json.loads((tmp_path / "run" / "log.json").read_text())["history"]
    assert len(first) == 1
    train(cfg, resume=True)
    history = json.loads((tmp_path / "run" / "log.json").read_text())["history"]
    assert [r["epoch"] for r in history] == [1, 2] and history[0] == first[0]
    # The same run, uninterrupted, ends with the same weights: resuming loses nothing.
    train(_cfg(tmp_path, fer2013_path, out=str(tmp_path / "straight")))
    resumed = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    for weights in ("model", "ema"):  # the average too: it is what best.pt and the model file keep
        a, b = resumed[weights], straight[weights]
        assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a), weights


def test_training_data_without_a_class_is_refused_before_anything_is_written(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"] + [
        f"{label},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}"
        for usage in ("Training", "PublicTest") for label in (0, 2, 3, 4, 5, 6)]  # no disgust
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="has no Training faces of disgust: a model learns all 7 classes"):
        train(_cfg(tmp_path, tmp_path / "fer2013.csv", subset=0))
    assert not (tmp_path / "run").exists()


def test_a_cosine_schedule_of_a_single_step_runs(tmp_path):
    cfg = TrainConfig(schedule="cosine", epochs=1, warmup_epochs=0)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    opt.step()
    train_mod._scheduler(cfg, opt, steps_per_epoch=1).step()  # a cosine of zero steps divided by zero
    assert 0 < opt.param_groups[0]["lr"] <= 0.1


def test_a_best_checkpoint_exports_with_the_whole_run_beside_it(tmp_path):
    """best.pt's history stops at its epoch; last.pt's, of the same run, goes on: the model
    file records the run's length, cost and whole learning curve (the report says '1 of 2')."""
    from fer.training.report import accuracy_table
    from fer.training.train import load_checkpoint, run_summary, whole_run

    epochs = [{"epoch": e, "public_acc": acc, "seconds": 60.0} for e, acc in ((1, 0.5), (2, 0.4))]
    config = {"epochs": 2}
    for name, history, cfg in (("best.pt", epochs[:1], config), ("last.pt", epochs, config),
                               ("other.pt", epochs, {"epochs": 3})):
        torch.save({"config": cfg, "model": {}, "ema": None, "history": history}, tmp_path / name)
    best = load_checkpoint(tmp_path / "best.pt")
    assert whole_run(tmp_path / "best.pt", best) == epochs
    (tmp_path / "last.pt").replace(tmp_path / "older.pt")
    (tmp_path / "other.pt").replace(tmp_path / "last.pt")  # another run's: not this one's history
    assert whole_run(tmp_path / "best.pt", best) == epochs[:1]
    summary = run_summary(epochs, TrainConfig(epochs=2)) | {"kept_epoch": 1}
    card = {"training": summary, "evaluations": [{"split": s, "tencrop": t, "accuracy": 0.5, "macro_f1": 0.5}
                                                 for s in ("public", "private") for t in (False, True)]}
    assert "| 1 of 2 epochs, 2 min |" in accuracy_table([card | {"model": "m.pt"}])


def test_resume_refuses_a_different_configuration(tmp_path, fer2013_path):
    train(_cfg(tmp_path, fer2013_path, epochs=1))
    with pytest.raises(ValueError, match="lr"):
        train(_cfg(tmp_path, fer2013_path, epochs=1, lr=0.1), resume=True)


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "0", "--epochs 0: at least 1"),
    ("--batch-size", "0", "--batch-size 0: at least 1"),
    ("--lr", "-0.1", "--lr -0.1: must not be negative"),
    ("--checkpoint-every", "0", "--checkpoint-every 0: at least 1"),
    ("--subset", "3", "--subset 3: 0 (all faces) or at least 7, one face per class"),
    ("--ema", "1", "--ema 1.0: must be in [0, 1) (0 turns the average off)"),
    ("--mixup", "-1", "--mixup -1.0: must not be negative (0 turns mixup off)"),
    ("--distill-alpha", "2", "--distill-alpha 2.0: must be in [0, 1]"),
    ("--crop", "60", "--crop 60: must be from 1 to 48, the side of a face"),
    ("--crop", "8", "--crop 8: too small for vgg10's pooling")])
def test_options_that_would_crash_or_mislead_a_run_are_refused_before_anything_is_written(
        option, value, message, tmp_path, capsys):
    from fer.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "not-read"), "--out", str(out), option, value]) == 2
    assert capsys.readouterr().err == f"fer train: error: {message}\n" and not out.exists()


def test_export_and_init_say_what_a_file_is_when_it_is_not_a_checkpoint(tmp_path, tiny_model_file, fer2013_path,
                                                                        capsys):
    from fer.cli import main

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    for source, message in ((tiny_model_file, f"{tiny_model_file} is a model file (already exported)"),
                            (junk, f"{junk} is not a checkpoint written by fer train"),
                            (tmp_path / "none.pt", f"checkpoint {tmp_path / 'none.pt'} does not exist")):
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            assert main(["export", str(source), "-o", str(tmp_path / "out.pt")]) == 2
        assert capsys.readouterr().err == f"fer export: error: {message}\n" and not shown  # one line, no more
    out = tmp_path / "run"
    assert main(["train", "--data", str(fer2013_path), "--subset", "70", "--init", str(junk), "--out", str(out)]) == 2
    assert "is not a checkpoint written by fer train" in capsys.readouterr().err and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt"]


def test_a_teacher_or_device_that_cannot_serve_is_refused_before_the_run_folder_is_made(tmp_path, fer2013_path,
                                                                                      capsys):
    from fer.cli import main

    checkpoint = train(_cfg(tmp_path, fer2013_path, epochs=1, out=str(tmp_path / "first")))
    capsys.readouterr()  # that run's progress bars
    out = tmp_path / "run"
    base = ["train", "--data", str(fer2013_path), "--subset", "70", "--width-mult", "0.25", "--out", str(out)]
    assert main([*base, "--teacher", str(checkpoint)]) == 2
    assert capsys.readouterr().err == (f"fer train: error: --teacher {checkpoint} is a training checkpoint; export it "
                                       f"first (fer export {checkpoint} -o MODEL.pt)\n")
    assert main([*base, "--device", "tpu"]) == 2
    assert capsys.readouterr().err.startswith("fer train: error: unknown device 'tpu'")
    assert not out.exists()


def test_export_replaces_an_existing_file_only_when_asked(tmp_path, fer2013_path, capsys):
    from fer.cli import main

    best = train(_cfg(tmp_path, fer2013_path, epochs=1))
    taken = tmp_path / "taken.pt"
    taken.write_bytes(b"another model")
    with pytest.raises(SystemExit) as refused:  # by the parser, before the checkpoint is read
        main(["export", str(best), "-o", str(taken)])
    assert refused.value.code == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err and taken.read_bytes() == b"another model"
    assert main(["export", str(best), "-o", str(taken), "--overwrite"]) == 0
    assert load_models(taken)[0].meta.arch == "vgg10"


def test_weight_ema_forgets_the_initialisation_quickly():
    from torch.optim.swa_utils import AveragedModel

    from fer.training.train import ema_with_warmup

    model = torch.nn.BatchNorm1d(2)
    ema = AveragedModel(model, multi_avg_fn=ema_with_warmup(0.999), use_buffers=True)
    with torch.no_grad():
        model.weight.fill_(5.0)
        model.running_var.fill_(0.01)
    for _ in range(200):
        ema.update_parameters(model)
    # A plain 0.999 EMA would still be 82% initialisation after 200 steps.
    assert torch.allclose(ema.module.weight, torch.full((2,), 5.0), rtol=0.05)
    assert torch.allclose(ema.module.running_var, torch.full((2,), 0.01), rtol=0.5)


def test_init_starts_a_second_schedule_from_a_checkpoint(tmp_path, fer2013_path, capsys, monkeypatch):
    first = train(_cfg(tmp_path, fer2013_path, epochs=1, out=str(tmp_path / "first")))
    # With a zero learning rate the second run's weights stay exactly those it started from.
    second = train(_cfg(tmp_path, fer2013_path, epochs=1, lr=0.0, init=str(first), out=str(tmp_path / "second")))
    a = torch.load(first, weights_only=False)["ema"]
    b = torch.load(second, weights_only=False)["model"]
    weights = [k for k in a if k.endswith("weight")]
    assert weights and all(torch.equal(a[k], b[k]) for k in weights)
    model, meta = model_from_checkpoint(second)
    assert meta.training["init"]["epochs_done"] == 1
    # The model file carries both schedules' histories and redraws their curve end to end.
    assert [len(t["history"]) for t in (meta.training["init"], meta.training)] == [1, 1]
    assert plot_training_curve(meta.training, tmp_path / "curves.png").stat().st_size > 0
    assert plot_training_curve({"epochs_done": 40, "minutes": 1.0}, tmp_path / "none.png") is None
    # A schedule started from a model trained before histories were kept (the shipped
    # vgg10.pt) is drawn after that model's epochs, the restart marked.
    drawn = {}
    monkeypatch.setattr("fer.training.report.plot_learning_curves",
                        lambda rows, path, restarts: drawn.update(epochs=[r["epoch"] for r in rows], restarts=restarts))
    later = {"epochs_done": 1, "history": meta.training["history"], "init": {"epochs_done": 74, "minutes": 221.0}}
    plot_training_curve(later, tmp_path / "later.png")
    assert drawn == {"epochs": [75], "restarts": [74]}
    from fer.cli import main

    assert main(["train", "--data", str(fer2013_path), "--width-mult", "0.5", "--init", str(first),
                 "--out", str(tmp_path / "third")]) == 2
    assert "do not fit vgg10 at width 0.5" in capsys.readouterr().err


def test_init_accepts_a_shipped_model_file(tmp_path, fer2013_path):
    # The shipped weights/vgg10.pt has no checkpoint beside it: a longer schedule starts
    # from the model file itself, and its history travels on as the new run's "init".
    first = train(_cfg(tmp_path, fer2013_path, epochs=1, out=str(tmp_path / "first")))
    shipped = export_checkpoint(first, tmp_path / "shipped.pt", weights_dtype="float32")
    second = train(_cfg(tmp_path, fer2013_path, epochs=1, lr=0.0, init=str(shipped), out=str(tmp_path / "second")))
    a = load_models(shipped)[0].module.state_dict()
    b = torch.load(second, weights_only=False)["model"]
    weights = [k for k in a if k.endswith("weight")]
    assert weights and all(torch.equal(a[k], b[k]) for k in weights)
    assert model_from_checkpoint(second)[1].training["init"]["epochs_done"] == 1


def test_distillation_pulls_the_student_towards_the_teacher(tmp_path, fer2013_path, monkeypatch):
    # With all weight on the soft targets, training moves the student's predictions on the
    # training faces towards the teacher's: a random network made confident by a scaled
    # classifier, whose opinions nothing but distillation could teach.
    teacher_file = save_model(_random_net(3), RANDOM_NET_META, tmp_path / "teacher.pt", weights_dtype="float32")
    cfg = _cfg(tmp_path, fer2013_path, epochs=2, lr=0.02, ema=0.0, teacher=str(teacher_file), distill_alpha=1.0,
               distill_temperature=1.0)
    data = train_mod.load_fer2013(cfg.data)
    faces, _ = train_mod.training_set(data, cfg)
    teacher = torch.from_numpy(Classifier(load_models(teacher_file), tencrop=True).predict_proba(faces))
    assert float((teacher * (teacher * 7).log()).sum(1).mean()) > 0.1  # far from uniform: it has opinions

    def distance(model_file_or_module) -> float:
        student = torch.from_numpy(Classifier(load_models(model_file_or_module), tencrop=True).predict_proba(faces))
        return float((teacher * (teacher.log() - student.clamp_min(1e-8).log())).sum(1).mean())

    best = train(cfg)
    model, meta = model_from_checkpoint(tmp_path / "run" / "last.pt")
    after = distance(save_model(model, meta, tmp_path / "after.pt", weights_dtype="float32"))
    torch.manual_seed(cfg.seed)  # the student as train() built it, before its first step
    before = distance(save_model(build_model(cfg), meta, tmp_path / "start.pt", weights_dtype="float32"))
    assert after < 0.75 * before  # 0.29 -> 0.17 here after two epochs
    # The teacher's probabilities are computed once: a resumed run reads them back.
    assert (tmp_path / "run" / "teacher.npz").exists() and best.exists()
    monkeypatch.setattr(train_mod, "Classifier", None)  # would fail if called again
    train(cfg, resume=True)


def test_teacher_probabilities_are_recomputed_when_an_ensemble_member_is_replaced(tmp_path, fer2013_path,
                                                                                 monkeypatch):
    # The ensemble file stays byte for byte the same; its member does not.
    member = tmp_path / "member.pt"
    ensemble = save_ensemble([(save_model(_random_net(1), RANDOM_NET_META, member, weights_dtype="float32"), 1.0)],
                             tmp_path / "teacher.ens.json")
    cfg = _cfg(tmp_path, fer2013_path, teacher=str(ensemble))
    faces, _ = train_mod.training_set(train_mod.load_fer2013(cfg.data), cfg)
    tmp_path.joinpath("run").mkdir()

    def targets():
        return train_mod.teacher_targets(train_mod.load_teacher(cfg.teacher), faces, tmp_path / "run")

    first = targets()
    save_model(_random_net(2), RANDOM_NET_META, member, weights_dtype="float32")
    second = targets()
    assert not np.allclose(first, second)
    monkeypatch.setattr(train_mod, "Classifier", None)  # unchanged now: read back, not recomputed
    assert np.array_equal(targets(), second)


RANDOM_NET_META = ModelMeta(arch="vgg10", arch_kwargs={"width_mult": 0.25}, mean=0.5, std=0.25)


def _random_net(seed: int) -> torch.nn.Module:
    """A quarter-width VGG10 at random, with opinions (:data:`RANDOM_NET_META` describes it)."""
    torch.manual_seed(seed)
    net = build_model(TrainConfig(width_mult=0.25)).eval()
    with torch.no_grad():
        net.classifier.weight.mul_(40)  # confident, so two seeds disagree visibly
    return net
