"""``scripts/zoom_views.py``: ten-crop over zoomed copies of each face, on PublicTest."""

import importlib.util
from pathlib import Path

from fer.models.modelfile import BUNDLED_WEIGHTS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "zoom_views.py"


def _script():
    spec = importlib.util.spec_from_file_location("zoom_views", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_has_a_row_per_zoom_set_with_every_network(fer2013_path):
    rows = _script().zoom_table([str(BUNDLED_WEIGHTS)], str(fer2013_path), subset=70,
                                zoom_sets=((1.0,), (0.9, 1.0)))
    assert [r["zooms"] for r in rows] == [[1.0], [0.9, 1.0]]
    for r in rows:
        assert list(r["members"]) == [BUNDLED_WEIGHTS.name] and r["members"][BUNDLED_WEIGHTS.name] == r["accuracy"]
        assert 0.4 < r["accuracy"] <= 1 and 0 < r["cross_entropy"] < 2
