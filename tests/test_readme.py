"""The README's examples run as written: its Python blocks, and its ``fer annotate``
lines, in a folder holding the files they name (a photo, clips, the shipped weights)."""

from __future__ import annotations

import glob
import os
import runpy

import pytest
from media import astronaut, make_clip
from readme import fer_commands, python_examples

from fer.cli import main
from fer.io.images import save_image
from fer.models.modelfile import BUNDLED_WEIGHTS


@pytest.fixture
def example_folder(tmp_path, monkeypatch):
    save_image(astronaut(), tmp_path / "photo.jpg")
    make_clip(tmp_path / "clip.mp4", frames=8)
    make_clip(tmp_path / "clip.mov", frames=8, audio="aac")
    (tmp_path / "weights").symlink_to(BUNDLED_WEIGHTS.parent)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_python_examples_run(example_folder):
    assert python_examples()
    for i, code in enumerate(python_examples()):
        (example_folder / f"example{i}.py").write_text(code)
        runpy.run_path(str(example_folder / f"example{i}.py"), run_name="__main__")
    assert (example_folder / "clip.annotated.mp4").is_file() and (example_folder / "clip.annotated.csv").is_file()


def test_the_fer_annotate_examples_run(example_folder, capsys):
    commands = fer_commands("annotate")
    assert len(commands) >= 3
    for words in commands:
        argv = [match for w in words for match in (sorted(glob.glob(w)) if "*" in w else [w])]
        assert main(["annotate", *argv]) == 0, (words, capsys.readouterr().err)
    assert os.path.isfile("out/clip.annotated.mp4") and os.path.isfile("results.csv")
