"""``scripts/zoom_views.py``: ten-crop over zoomed copies of each face, on PublicTest."""


from repo_scripts import load_script

from fer.models.modelfile import BUNDLED_WEIGHTS


def test_the_table_has_a_row_per_zoom_set_with_every_network(fer2013_path):
    rows = load_script("zoom_views").zoom_table([str(BUNDLED_WEIGHTS)], str(fer2013_path), subset=70,
                                                zoom_sets=((1.0,), (0.9, 1.0)))
    assert [r["zooms"] for r in rows] == [[1.0], [0.9, 1.0]]
    for r in rows:
        assert list(r["members"]) == [BUNDLED_WEIGHTS.name] and r["members"][BUNDLED_WEIGHTS.name] == r["accuracy"]
        assert 0.4 < r["accuracy"] <= 1 and 0 < r["cross_entropy"] < 2
