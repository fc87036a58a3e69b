"""``scripts/zoom_views.py``: ten-crop over zoomed copies of each face, on PublicTest."""

import importlib.util
from pathlib import Path

import numpy as np

from fer.models.modelfile import BUNDLED_WEIGHTS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "zoom_views.py"


def _script():
    spec = importlib.util.spec_from_file_location("zoom_views", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_zoomed_face_keeps_its_size_and_centre_and_scales_what_is_around_it():
    zoomed = _script().zoomed
    rows = np.arange(48, dtype=np.float64)[:, None] * np.ones(48)
    face = np.round(rows * 255 / 47).astype(np.uint8)  # dark at the top, light at the bottom
    assert zoomed(face, 1.0) is face
    out, inside = zoomed(face, 0.9), zoomed(face, 1.1)
    assert out.shape == inside.shape == (48, 48)
    # Zoomed out, the top and bottom rows are the face's own, repeated; zoomed in, they are cut off.
    assert (out[0] == out[1]).all() and out[0, 0] <= face[1, 0] and out[-1, 0] >= face[-2, 0]  # border repeated
    assert inside[0, 0] > face[1, 0] and inside[-1, 0] < face[-2, 0]
    assert abs(int(out[24, 24]) - int(face[24, 24])) <= 6 and abs(int(inside[24, 24]) - int(face[24, 24])) <= 6


def test_the_table_has_a_row_per_zoom_set_with_every_network(fer2013_path):
    rows = _script().zoom_table([str(BUNDLED_WEIGHTS)], str(fer2013_path), subset=70,
                                zoom_sets=((1.0,), (0.9, 1.0)))
    assert [r["zooms"] for r in rows] == [[1.0], [0.9, 1.0]]
    for r in rows:
        assert list(r["members"]) == [BUNDLED_WEIGHTS.name] and r["members"][BUNDLED_WEIGHTS.name] == r["accuracy"]
        assert 0.4 < r["accuracy"] <= 1 and 0 < r["cross_entropy"] < 2
