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
