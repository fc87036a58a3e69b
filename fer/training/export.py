"""Turn a training checkpoint into a model file (:mod:`fer.models.modelfile`).

Training rebuilds the network; the model file format only ever sees a built network and
its metadata, so the runtime loads models without importing any training code.
"""

from __future__ import annotations

import os
from pathlib import Path

from fer.io.outputs import refuse_to_replace
from fer.models.modelfile import save_model
from fer.training.train import model_from_checkpoint


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, weights_dtype: str = "float16",
                      overwrite: bool = False) -> Path:
    """Rebuild the model recorded in a training checkpoint and save it as a model file; an
    existing ``out`` is replaced only with ``overwrite``."""
    refuse_to_replace(out, overwrite)
    model, meta = model_from_checkpoint(checkpoint)
    return save_model(model, meta, out, weights_dtype)
