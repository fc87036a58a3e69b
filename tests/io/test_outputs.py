""":func:`fer.io.outputs.written_together`: a set of outputs appears whole and together, or
not at all."""

import pytest

from fer.io.outputs import OutputError, written_together


def test_a_folder_in_the_way_is_refused_before_the_block_runs(tmp_path):
    (tmp_path / "a.json").mkdir()
    ran = []
    with pytest.raises(OutputError) as e, written_together(tmp_path / "a.png", tmp_path / "a.json"):
        ran.append(True)  # the work the outputs come from: not done for nothing
    assert str(e.value) == f"cannot write {tmp_path / 'a.json'}: it is a folder" and not ran
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_rename_that_fails_midway_takes_back_the_files_renamed_before_it(tmp_path):
    picture, faces = tmp_path / "a.png", tmp_path / "a.json"
    with pytest.raises(OutputError) as e, written_together(picture, faces) as (png, js):
        png.write_text("picture")
        js.write_text("faces")
        faces.mkdir()  # in the way after the check: its rename fails, after the picture's
    assert str(e.value) == f"cannot write {faces}: Is a directory" and e.value.path == faces
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # the folder alone: no picture without its faces


def test_a_failed_rename_leaves_no_earlier_file_of_the_set_but_a_failed_block_keeps_them(tmp_path):
    """With --overwrite an earlier run's set is being replaced: once its first file is
    new, its others would make a mixed set that a rerun skips as done."""
    picture, faces, rows = tmp_path / "a.png", tmp_path / "a.json", tmp_path / "a.csv"
    for earlier in (picture, rows):
        earlier.write_text("an earlier run's")
    with pytest.raises(OutputError), written_together(picture, faces, rows) as partials:
        for partial in partials:
            partial.write_text("new")
        faces.mkdir()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    rows.write_text("an earlier run's")
    with pytest.raises(OutputError), written_together(rows) as (partial,):
        raise OSError(28, "No space left on device", str(partial))
    assert rows.read_text() == "an earlier run's"
