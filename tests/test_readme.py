"""The README's examples run as written: its Python blocks, and its ``fer annotate``
lines, in a folder holding the files they name (a photo, clips, the shipped weights)."""

from __future__ import annotations

import glob
import os
import runpy

import pytest
from media import astronaut, decode_all, make_clip
from readme import fer_commands, python_examples

from fer.cli import main
from fer.io.images import save_image
from fer.models.modelfile import BUNDLED_WEIGHTS


def fill(folder):
    """The files the examples name."""
    folder.mkdir(exist_ok=True)
    save_image(astronaut(), folder / "photo.jpg")
    make_clip(folder / "clip.mp4", frames=8)
    make_clip(folder / "clip.mov", frames=8, audio="aac")
    (folder / "weights").symlink_to(BUNDLED_WEIGHTS.parent)
    return folder


@pytest.fixture
def example_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(fill(tmp_path))
    return tmp_path


def test_the_python_examples_run(example_folder):
    assert python_examples()
    for i, code in enumerate(python_examples()):
        (example_folder / f"example{i}.py").write_text(code)
        runpy.run_path(str(example_folder / f"example{i}.py"), run_name="__main__")
    assert decode_all(example_folder / "clip.annotated.mp4")["frames"] == 8
    assert (example_folder / "clip.annotated.csv").is_file()


def test_the_fer_annotate_examples_run(tmp_path, monkeypatch, capsys):
    commands = fer_commands("annotate")
    assert len(commands) >= 3
    for i, words in enumerate(commands):  # each in a folder of its own, as a reader would run it
        monkeypatch.chdir(fill(tmp_path / str(i)))
        argv = [match for w in words for match in (sorted(glob.glob(w)) if "*" in w else [w])]
        assert main(["annotate", *argv]) == 0, (words, capsys.readouterr().err)
    folder = {option: tmp_path / str(next(i for i, words in enumerate(commands) if option in words))
              for option in ("--tencrop", "--summary", "--log")}
    assert decode_all(folder["--tencrop"] / "out" / "clip.annotated.mp4")["frames"] == 8
    assert os.path.isfile(folder["--summary"] / "out" / "clip.annotated.timeline.png")
    assert os.path.isfile(folder["--log"] / "results.csv")
