import pytest
import torch

from fer.engine.crops import center_crop, normalize, ten_crop, views, zoom
from fer.training.augment import TrainAugment
from fer.training.sampling import class_balanced_weights, epoch_indices


def _faces(n=16):
    return torch.randint(0, 256, (n, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_train_augment_keeps_batch_dtype_and_crops():
    faces = _faces()
    out = TrainAugment(crop=40)(faces, torch.Generator().manual_seed(1))
    assert out.shape == (16, 1, 40, 40) and out.dtype == torch.uint8


def test_train_augment_uses_per_sample_parameters_and_is_seeded():
    faces = _faces(1).expand(8, 48, 48).contiguous()
    out = TrainAugment()(faces, torch.Generator().manual_seed(1))
    assert len({o.numpy().tobytes() for o in out}) == 8  # same face, eight different views
    again = TrainAugment()(faces, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


def test_identity_augment_is_a_centre_crop():
    faces = _faces()
    plain = TrainAugment(crop=40, scale=(1, 1), rotation=0, shift=-0.0833333, flip=0, erase=0)
    assert (plain(faces).int() - center_crop(faces, 40).int()).abs().max() <= 1


def test_ten_crop_views_are_corners_centre_and_mirrors():
    faces = _faces(2)
    views = ten_crop(faces, 40).view(2, 10, 1, 40, 40)
    assert torch.equal(views[:, 0, 0], faces[:, :40, :40])
    assert torch.equal(views[:, 3, 0], faces[:, 8:, 8:])
    assert torch.equal(views[:, 4], center_crop(faces, 40))
    assert torch.equal(views[:, 5:], views[:, :5].flip(-1))


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_a_zoom_is_the_zoom_training_shows_the_networks(factor):
    faces = _faces()
    trained = TrainAugment(crop=48, scale=(factor, factor), rotation=0, shift=0, flip=0, erase=0)(faces)
    assert (zoom(faces, factor).int() - trained.int()).abs().max() <= 1  # float rounding of 1 / factor
    assert torch.equal(zoom(faces, 1.0), faces.unsqueeze(1))


def test_views_are_each_zooms_crops_kept_together_per_face():
    faces = _faces(3)
    zooms = (0.9, 1.0, 1.1)
    tens = views(faces, 40, tencrop=True, zooms=zooms).view(3, 3, 10, 1, 40, 40)
    for k, z in enumerate(zooms):
        assert torch.equal(tens[:, k].flatten(0, 1), ten_crop(zoom(faces, z), 40))
    centres = views(faces, 40, tencrop=False, zooms=zooms).view(3, 3, 1, 40, 40)
    assert torch.equal(centres[:, 1], center_crop(faces, 40))
    assert torch.equal(views(faces, 40, tencrop=True), ten_crop(faces, 40))  # one zoom: plain ten-crop


def test_normalize_uses_given_statistics():
    x = normalize(torch.full((1, 48, 48), 255, dtype=torch.uint8), mean=0.5, std=0.25)
    assert x.shape == (1, 1, 48, 48) and torch.allclose(x, torch.full_like(x, 2.0))


def test_balanced_sampler_matches_uniform_class_target():
    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    idx = epoch_indices(labels, "balanced", torch.Generator().manual_seed(0))
    freq = torch.bincount(labels[idx], minlength=3).float() / len(idx)
    assert torch.allclose(freq, torch.full((3,), 1 / 3), atol=0.05)
    assert torch.allclose(class_balanced_weights(labels)[[0, 900, 990]] * torch.tensor([900.0, 90, 10]), torch.ones(3))


def test_uniform_sampler_is_a_permutation():
    labels = torch.arange(100) % 7
    idx = epoch_indices(labels, "uniform", torch.Generator().manual_seed(0))
    assert sorted(idx.tolist()) == list(range(100))
