import json
import warnings
import zipfile

import numpy as np
import pytest
import torch

from fer.engine.classify import Classifier
from fer.models import create_model
from fer.models.modelfile import ModelFileError, ModelMeta, load_models, save_ensemble, save_model


def test_round_trip_keeps_outputs_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet17", width_mult=0.25).eval()
    meta = ModelMeta(arch="resnet17", arch_kwargs={"width_mult": 0.25}, mean=0.4, std=0.3)
    path = save_model(model, meta, tmp_path / "r.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.jit's FutureWarning stays out of users' output
        (loaded,) = load_models(path)
    assert loaded.meta == meta
    x = torch.randn(3, 1, 40, 40)
    assert torch.allclose(loaded.module(x), model(x), atol=1e-5)
    assert not list(tmp_path.glob("*.partial"))


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
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    single = Classifier.from_file(tiny_model_file).predict_proba(faces)
    assert np.allclose(Classifier(members).predict_proba(faces), single, atol=1e-6)
    spec = json.loads(ens.read_text())
    spec["members"][0]["file"] = "missing.pt"
    ens.write_text(json.dumps(spec))
    with pytest.raises(ModelFileError, match="missing.pt"):
        load_models(ens)
