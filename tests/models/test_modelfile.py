import json
import warnings
import zipfile
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from fer.engine.classify import Classifier
from fer.io.outputs import OutputError
from fer.models import create_model
from fer.models.metrics_files import read_metrics_files
from fer.models.modelfile import (
    BUNDLED_WEIGHTS,
    FORMAT_VERSION,
    ModelFileError,
    ModelMeta,
    files_of,
    load_models,
    metrics_path,
    save_ensemble,
    save_model,
)


def test_round_trip_keeps_outputs_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet17", width_mult=0.25).eval()
    meta = ModelMeta(arch="resnet17", arch_kwargs={"width_mult": 0.25}, mean=0.4, std=0.3)
    path = save_model(model, meta, tmp_path / "r.pt", weights_dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.jit's FutureWarning stays out of users' output
        (loaded,) = load_models(path)
    assert loaded.meta == replace(meta, format_version=FORMAT_VERSION)
    x = torch.randn(3, 1, 40, 40)
    assert torch.allclose(loaded.module(x), model(x), atol=1e-5)
    assert not list(tmp_path.glob("*.partial"))


def test_16_bit_storage_halves_the_file_and_loads_back_in_float32(tmp_path):
    torch.manual_seed(0)
    model = create_model("vgg10", width_mult=0.5).eval()
    meta = ModelMeta(arch="vgg10", arch_kwargs={"width_mult": 0.5}, mean=0.5, std=0.25)
    full = save_model(model, meta, tmp_path / "full.pt", weights_dtype="float32")
    half = save_model(model, meta, tmp_path / "half.pt")
    assert next(model.parameters()).dtype == torch.float32  # the caller's network is not converted
    assert half.stat().st_size < 0.55 * full.stat().st_size
    (loaded,) = load_models(half)
    assert loaded.meta.weights_dtype == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.module.parameters())
    faces = np.random.default_rng(0).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    p_full, p_half = Classifier.from_file(full).predict_proba(faces), Classifier.from_file(half).predict_proba(faces)
    assert np.abs(p_full - p_half).max() < 5e-3
    assert (p_full.argmax(1) == p_half.argmax(1)).mean() >= 0.98


def test_files_of_format_1_still_load(tiny_model_file, tmp_path):
    """Model files written before 16-bit storage (the shipped ones among them) stay readable."""
    (loaded,) = load_models(tiny_model_file)
    old = tmp_path / "old.pt"
    meta = {k: v for k, v in asdict(loaded.meta).items() if k != "weights_dtype"} | {"format_version": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(create_model("vgg10", width_mult=0.25).eval()), str(old),
                       _extra_files={"fer_meta.json": json.dumps(meta)})
    (legacy,) = load_models(old)
    assert legacy.meta.weights_dtype == "float32" and legacy.meta.format_version == 1


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "does not exist"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated"),
    (lambda p: p.write_text("hello"), "not a TorchScript model file"),
])
def test_loader_rejects_damaged_files(tiny_model_file, tmp_path, damage, message):
    path = tmp_path / "m.pt"
    path.write_bytes(tiny_model_file.read_bytes())
    damage(path)
    with pytest.raises(ModelFileError, match=message) as err:
        load_models(path)
    assert "\n" not in str(err.value)


def test_loader_rejects_foreign_torchscript(tmp_path):
    path = tmp_path / "foreign.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(ModelFileError, match="not a fer model"):
        load_models(path)
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as z:
        z.writestr("x.txt", "y")
    with pytest.raises(ModelFileError):
        load_models(tmp_path / "other.pt")


def test_ensemble_file_loads_members_with_normalised_weights(tiny_model_file, tmp_path):
    ens = save_ensemble([(tiny_model_file, 2.0), (tiny_model_file, 6.0)], tmp_path / "e.ens.json")
    members = load_models(ens)
    assert [m.weight for m in members] == [0.25, 0.75]
    three = save_ensemble([(tiny_model_file, w) for w in (0.7, 0.2, 0.1)], tmp_path / "three.ens.json")
    assert [m["weight"] for m in json.loads(three.read_text())["members"]] == [0.7, 0.2, 0.1]
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    single = Classifier.from_file(tiny_model_file).predict_proba(faces)
    assert np.allclose(Classifier(members).predict_proba(faces), single, atol=1e-6)
    spec = json.loads(ens.read_text())
    spec["members"][0]["file"] = "missing.pt"
    ens.write_text(json.dumps(spec))
    with pytest.raises(ModelFileError, match="missing.pt"):
        load_models(ens)


def test_an_ensemble_file_with_zooms_has_its_members_average_over_the_zoomed_faces(tiny_model_file, tmp_path):
    from dataclasses import replace

    ens = save_ensemble([(tiny_model_file, 1.0)], tmp_path / "e.ens.json", info={"zooms": [0.9, 1.1]})
    [member] = load_models(ens)
    assert member.zooms == (0.9, 1.1)
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    for tencrop in (False, True):
        each = [Classifier([replace(member, zooms=(z,))], tencrop=tencrop).predict_proba(faces) for z in (0.9, 1.1)]
        assert np.allclose(Classifier([member], tencrop=tencrop).predict_proba(faces), np.mean(each, 0), atol=1e-6)
    assert load_models(save_ensemble([(tiny_model_file, 1.0)], tmp_path / "plain.ens.json"))[0].zooms == (1.0,)


@pytest.mark.parametrize("zooms, message", [
    ([], r"e.ens.json: zooms: at least one zoom is needed \(1: the face as is\)"),
    ([1, 1], "zooms 1 1: each zoom once, from 0.5 to 2$"),
    ([0.1], "zooms 0.1: each zoom once"), ([1, "big"], "is not a fer ensemble file"),
    ("1", "is not a fer ensemble file")])
def test_an_ensemble_file_with_zooms_that_cannot_be_used_is_refused(tiny_model_file, tmp_path, zooms, message):
    ens = save_ensemble([(tiny_model_file, 1.0)], tmp_path / "e.ens.json", info={"zooms": zooms})
    with pytest.raises(ModelFileError, match=message):
        load_models(ens)


def test_files_of_a_model_are_what_loading_it_reads(tiny_model_file, tmp_path):
    ens = save_ensemble([(tiny_model_file, 1.0), (tiny_model_file, 2.0)], tmp_path / "e.ens.json")
    assert [p.resolve() for p in files_of(ens)] == [ens.resolve(), *[tiny_model_file.resolve()] * 2]
    assert files_of(tiny_model_file) == [tiny_model_file]
    (tmp_path / "broken.ens.json").write_text("{")
    assert files_of(tmp_path / "broken.ens.json") == [tmp_path / "broken.ens.json"]  # loading it says what is wrong


@pytest.mark.parametrize("weights", [[0, 0], [-1, 2], ["nan", 1], ["heavy", 1]])
def test_an_ensemble_file_with_weights_that_cannot_be_mixed_is_refused(tiny_model_file, tmp_path, weights):
    ens = save_ensemble([(tiny_model_file, 1.0), (tiny_model_file, 1.0)], tmp_path / "e.ens.json")
    spec = json.loads(ens.read_text())
    for member, weight in zip(spec["members"], weights):
        member["weight"] = weight
    ens.write_text(json.dumps(spec))
    message = "is not a fer ensemble file" if "heavy" in weights else "weights must be non-negative numbers"
    with pytest.raises(ModelFileError, match=message):
        load_models(ens)


def test_a_model_file_that_cannot_be_written_is_one_error_and_leaves_nothing(tmp_path):
    meta = ModelMeta(arch="vgg10", arch_kwargs={"width_mult": 0.25}, mean=0.5, std=0.25)
    (tmp_path / "taken").write_text("a file where a folder should be")
    with pytest.raises(OutputError, match="taken is a file"):
        save_model(create_model("vgg10", width_mult=0.25), meta, tmp_path / "taken" / "m.pt")
    with pytest.raises(OutputError, match=r"cannot write /proc/m.pt: No such file or directory"):
        save_model(create_model("vgg10", width_mult=0.25), meta, "/proc/m.pt")  # /proc takes no new files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.parametrize("combine", ["ensemble file", "fer evaluate", "fer ensemble"])
def test_models_that_name_other_classes_are_not_mixed(tiny_model_file, tmp_path, combine):
    from fer.classes import CLASS_NAMES
    from fer.training.ensemble import build_ensemble
    from fer.training.evaluate import evaluate

    meta = ModelMeta(arch="vgg10", arch_kwargs={"width_mult": 0.25}, mean=0.5, std=0.25,
                     class_names=list(reversed(CLASS_NAMES)))
    other = save_model(create_model("vgg10", width_mult=0.25), meta, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="disagree on the class names"):  # before any data is read
        if combine == "ensemble file":
            load_models(save_ensemble([(tiny_model_file, 1.0), (other, 1.0)], tmp_path / "e.ens.json"))
        elif combine == "fer evaluate":
            evaluate([tiny_model_file, other], "no-data", "public")
        else:
            build_ensemble([tiny_model_file, other], "no-data", tmp_path / "joint.ens.json")


def test_int8_variant_round_trips_and_is_read_only_when_asked(tiny_int8_model_file, tmp_path):
    from fer.models.modelfile import INT8_ENTRY, load_int8, save_with_int8

    (model,) = load_models(tiny_int8_model_file)
    int8 = load_int8(model)
    with zipfile.ZipFile(tiny_int8_model_file) as archive:
        assert any(n.endswith(f"/extra/{INT8_ENTRY}") for n in archive.namelist())
    copy = save_with_int8(tiny_int8_model_file, int8, {"note": "again"}, tmp_path / "copy.pt")
    (again,) = load_models(copy)
    assert again.meta.int8 == {"note": "again"} and again.meta.format_version == FORMAT_VERSION
    x = torch.randn(3, 1, 40, 40)
    with torch.inference_mode():
        assert torch.equal(load_int8(again)(x), int8(x))


def test_a_file_without_an_int8_variant_says_so(tiny_model_file):
    from fer.models.modelfile import load_int8

    (model,) = load_models(tiny_model_file)
    with pytest.raises(ModelFileError, match="carries no int8 variant"):
        load_int8(model)


def _write_meta(path, meta: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(create_model("vgg10", width_mult=0.25).eval()), str(path),
                       _extra_files={"fer_meta.json": json.dumps(meta)})


def test_files_of_format_2_still_load_and_newer_formats_are_refused(tiny_model_file, tmp_path):
    (loaded,) = load_models(tiny_model_file)
    meta = {k: v for k, v in asdict(loaded.meta).items() if k != "int8"}
    _write_meta(tmp_path / "v2.pt", meta | {"format_version": 2, "weights_dtype": "float16"})
    (v2,) = load_models(tmp_path / "v2.pt")
    assert v2.meta.int8 is None and v2.meta.format_version == 2
    _write_meta(tmp_path / "v4.pt", meta | {"format_version": FORMAT_VERSION + 1})
    with pytest.raises(ModelFileError, match=f"reads fer-torchscript up to v{FORMAT_VERSION}"):
        load_models(tmp_path / "v4.pt")


def test_the_int8_variant_loads_and_runs_without_deprecation_noise(tiny_int8_model_file):
    """torch 2.14's deprecation of quantized tensors is printed by its C++ side once per
    process; a fresh process shows whether the loader keeps it off users' terminals."""
    import subprocess
    import sys

    code = ("import torch; from fer.models.modelfile import load_models, load_int8; "
            f"m = load_int8(load_models({str(tiny_int8_model_file)!r})[0]); m(torch.zeros(2, 1, 40, 40))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "deprecated" not in done.stderr and "Warning" not in done.stderr


def test_metrics_files_put_the_named_model_first_pass_over_ensembles_and_name_the_rest(tmp_path):
    card = json.loads(metrics_path(BUNDLED_WEIGHTS).read_text())  # a metrics file as `fer metrics` writes it
    for name in ("a.pt", "b.pt", "c.pt"):
        (tmp_path / name).with_suffix(".json").write_text(json.dumps(card | {"model": name}))
    save_ensemble([(tmp_path / "a.pt", 1.0)], tmp_path / "joint.ens.json")
    (tmp_path / "broken.json").write_text('{"model": "d.pt", "evalu')
    found = read_metrics_files(tmp_path)
    assert [c["model"] for c in found.cards] == ["a.pt", "b.pt", "c.pt"]
    assert found.problems == [f"{tmp_path / 'broken.json'}: not valid JSON (truncated or damaged)"]
    assert [c["model"] for c in read_metrics_files(tmp_path, first="c.pt").cards] == ["c.pt", "a.pt", "b.pt"]
