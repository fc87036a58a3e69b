import warnings

import pytest
import torch

from fer.models import create_model, list_models


@pytest.mark.parametrize("name", list_models())
def test_model_forward_backward_and_script(name):
    model = create_model(name, width_mult=0.25)
    x = torch.randn(4, 1, 40, 40)
    out = model(x)
    assert out.shape == (4, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(model)
    assert torch.allclose(scripted(x), model(x), atol=1e-5)
    assert model.forward_head(model.forward_features(x)).shape == (4, 7)


def test_width_multiplier_shrinks_the_model():
    params = [sum(p.numel() for p in create_model("vgg10", width_mult=w).parameters()) for w in (0.5, 1.0)]
    assert params[0] < params[1] / 3


def test_unknown_model_lists_the_choices():
    with pytest.raises(ValueError, match="resnet17, resnet25, vgg10"):
        create_model("alexnet")
