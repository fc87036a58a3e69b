"""Model zoo and model files: importing this package registers every architecture.

``vgg`` and ``resnet`` define the networks, ``registry`` names them, and ``modelfile``
is the on-disk format (TorchScript with its metadata) that training writes and the
runtime loads.
"""

from fer.models import resnet, vgg  # noqa: F401  (registration side effect)
from fer.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
