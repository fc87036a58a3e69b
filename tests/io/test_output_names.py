"""Output names of a batch: unique within a run, never an input, changed only on a clash."""

from pathlib import Path

import pytest

from fer.io.output_names import plan_outputs
from fer.io.outputs import OutputError


def names(plans, root: Path) -> list[list[str]]:
    return [[str(p.relative_to(root)) for p in plan.files] for plan in plans]


def test_usual_names_when_nothing_clashes(tmp_path):
    plans = plan_outputs([(tmp_path / "a.jpg", "image"), (tmp_path / "b.mov", "video")])
    assert names(plans, tmp_path) == [["a.annotated.jpg", "a.annotated.json"],
                                      ["b.annotated.mp4", "b.annotated.csv", "b.annotated.json"]]
    assert all(p.usual is None for p in plans)


def test_same_name_in_two_folders_keeps_the_folder_name(tmp_path):
    out = tmp_path / "out"
    plans = plan_outputs([(tmp_path / "a" / "face.jpg", "image"), (tmp_path / "b" / "face.jpg", "image"),
                          (tmp_path / "c" / "other.jpg", "image")], out)
    assert [p.output.name for p in plans] == ["a-face.jpg.annotated.jpg", "b-face.jpg.annotated.jpg",
                                              "other.annotated.jpg"]
    assert plans[0].usual == out / "face.annotated.jpg" and plans[2].usual is None


def test_same_stem_takes_the_source_extension(tmp_path):
    plans = plan_outputs([(tmp_path / "x.mp4", "video"), (tmp_path / "x.mov", "video")])
    assert [p.output.name for p in plans] == ["x.mp4.annotated.mp4", "x.mov.annotated.mp4"]
    # an image's results and a video's log share a name too
    plans = plan_outputs([(tmp_path / "face.jpg", "image"), (tmp_path / "face.mp4", "video")], tmp_path / "out")
    assert names(plans, tmp_path / "out") == [["face.jpg.annotated.jpg", "face.jpg.annotated.json"],
                                              ["face.mp4.annotated.mp4", "face.mp4.annotated.csv",
                                               "face.mp4.annotated.json"]]


def test_an_output_never_replaces_an_input(tmp_path):
    plans = plan_outputs([(tmp_path / "x.jpg", "image"), (tmp_path / "x.annotated.jpg", "image")])
    assert [p.output.name for p in plans] == ["x.jpg.annotated.jpg", "x.annotated.annotated.jpg"]
    with pytest.raises(OutputError, match="is an input"):
        plan_outputs([(tmp_path / "x.jpg", "image")], tmp_path / "x.jpg", out_is_file=True)
    with pytest.raises(OutputError, match="--log"):
        plan_outputs([(tmp_path / "x.mp4", "video")], tmp_path / "all.csv", out_is_file=True,
                     combined_log=tmp_path / "all.csv")


def test_the_same_file_twice_is_numbered(tmp_path):
    plans = plan_outputs([(tmp_path / "f.jpg", "image")] * 2, tmp_path / "out")
    assert len({p.output for p in plans}) == 2
    assert all(p.output.name.startswith("f.jpg.annotated-") for p in plans)


def test_combined_log_means_no_results_files(tmp_path):
    plans = plan_outputs([(tmp_path / "a.jpg", "image")], combined_log=tmp_path / "all.json")
    assert plans[0].results == ()


def test_summary_files_are_planned_and_never_replace_an_input(tmp_path):
    # --summary writes NAME.annotated.faces.csv and .timeline.png beside a video's output;
    # an input picture of that name keeps its file, the video takes the longer name.
    plans = plan_outputs([(tmp_path / "talk.mp4", "video"), (tmp_path / "talk.annotated.timeline.png", "image")],
                         summary=True)
    assert names(plans, tmp_path)[0] == ["talk.mp4.annotated.mp4", "talk.mp4.annotated.csv",
                                         "talk.mp4.annotated.json", "talk.mp4.annotated.faces.csv",
                                         "talk.mp4.annotated.timeline.png"]
    assert plans[1].summary == ()  # pictures have no summary
    assert plan_outputs([(tmp_path / "talk.mp4", "video")])[0].summary == ()
