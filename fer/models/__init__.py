"""Model zoo: importing this package registers every architecture."""

from fer.models import resnet, vgg  # noqa: F401  (registration side effect)
from fer.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
