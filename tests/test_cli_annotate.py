"""``fer annotate`` and ``fer bench`` end to end, through ``fer.cli.main``."""

import errno
import json
import os

import numpy as np
import pandas as pd
import pytest
from commands import run
from media import astronaut, box_outline, decode_all, make_clip, share_tinted

from fer import bench
from fer.classes import CLASS_NAMES
from fer.cli import main
from fer.io.batch import annotate_files
from fer.io.facelog import read_provenance
from fer.io.images import read_image, save_image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    save_image(astronaut(), folder / "astronaut.jpg")
    make_clip(folder / "clip.mov", frames=8, audio="aac")  # content decides, not the name
    return folder


def test_image_round_trip(capsys, inputs, tiny_model_file, tmp_path):
    code, out, err = run(capsys, "annotate", inputs / "astronaut.jpg", "-o", tmp_path / "out.png",
                         "--weights", tiny_model_file, "--color", "255,0,0", "--tencrop")
    assert code == 0 and "1 face" in out
    records = pd.read_json(tmp_path / "out.json", orient="table")
    assert len(records) == 1 and records.frame[0] == 0 and records.box[0][2] > records.box[0][0]
    assert records.happy[0] == records.raw_happy[0]  # a still picture is not smoothed
    header = read_provenance(tmp_path / "out.json")
    assert header["settings"]["tencrop"] is True and header["settings"]["box_color"] == [255, 0, 0]
    assert header["inputs"] == [{"kind": "image", "path": str(inputs / "astronaut.jpg"), "width": 512, "height": 512}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.png"]
    box = records.box[0]  # drawn in --color where the results say, in the picture's own pixels
    assert share_tinted(box_outline(read_image(tmp_path / "out.png"), box), 0, margin=150) > 0.9
    assert share_tinted(box_outline(astronaut(), box), 0, margin=150) == 0


def test_video_round_trip_into_a_folder(capsys, inputs, tiny_model_file, tmp_path):
    code, out, _ = run(capsys, "annotate", inputs / "clip.mov", "-o", tmp_path / "results",
                       "--weights", tiny_model_file, "--size", "160x120", "--smoothing", "0")
    assert code == 0 and "8 frames" in out
    video = decode_all(tmp_path / "results" / "clip.annotated.mp4")
    assert video["frames"] == 8 and video["size"] == (160, 120) and video["audio"] == ["aac"]
    rows = pd.read_csv(tmp_path / "results" / "clip.annotated.csv", comment="#")
    assert len(rows) == 8 and rows.x2.max() > 160  # boxes stay in the input's pixels
    assert np.allclose(rows.happy, rows.raw_happy, equal_nan=True)  # --smoothing 0


@pytest.mark.parametrize("log", ["all.json", "all.csv"])
def test_several_inputs_one_combined_log(capsys, inputs, tiny_model_file, tmp_path, log):
    save_image(np.full((120, 160, 3), 90, np.uint8), tmp_path / "wall.png")  # a picture without a face
    code, out, _ = run(capsys, "annotate", inputs / "astronaut.jpg", tmp_path / "wall.png", inputs / "clip.mov",
                       "-o", tmp_path / "out", "--log", tmp_path / log, "--weights", tiny_model_file)
    assert code == 0
    rows = (pd.read_json(tmp_path / log, orient="table") if log.endswith(".json")
            else pd.read_csv(tmp_path / log, comment="#"))
    by_source = rows.groupby("source").size().to_dict()
    assert by_source == {str(inputs / "astronaut.jpg"): 1, str(tmp_path / "wall.png"): 1, str(inputs / "clip.mov"): 8}
    assert rows[rows.source == str(tmp_path / "wall.png")].label.tolist() == ["no face"]
    header = read_provenance(tmp_path / log)
    assert [(i["kind"], i["path"]) for i in header["inputs"]] == [
        ("image", str(inputs / "astronaut.jpg")), ("image", str(tmp_path / "wall.png")),
        ("video", str(inputs / "clip.mov"))]
    assert header["inputs"][2]["frames"] == 8
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "astronaut.annotated.jpg", "clip.annotated.mp4", "wall.annotated.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([log, "out", "wall.png"])  # no parts left


def test_a_rerun_after_an_interruption_completes_the_combined_log(capsys, inputs, tiny_model_file, tiny_recognizer,
                                                                   tmp_path):
    """The inputs an interrupted run finished are skipped by the rerun, and their rows still
    reach the combined log: the same rows as a run never interrupted."""
    sources = [inputs / "astronaut.jpg", inputs / "clip.mov"]
    argv = ["annotate", *sources, "--weights", tiny_model_file]
    assert run(capsys, *argv, "-o", tmp_path / "whole", "--log", tmp_path / "whole.csv")[0] == 0
    batch = annotate_files(sources, tiny_recognizer, out=tmp_path / "out", log=tmp_path / "all.csv")
    assert next(batch).output == tmp_path / "out" / "astronaut.annotated.jpg"
    batch.close()  # interrupted before the video
    assert not (tmp_path / "all.csv").exists()
    code, out, _ = run(capsys, *argv, "-o", tmp_path / "out", "--log", tmp_path / "all.csv")
    assert code == 0 and f"{sources[0]}: skipped" in out and "clip.annotated.mp4" in out
    rows, whole = (pd.read_csv(tmp_path / name, comment="#") for name in ("all.csv", "whole.csv"))
    pd.testing.assert_frame_equal(rows, whole)
    assert [i["path"] for i in read_provenance(tmp_path / "all.csv")["inputs"]] == list(map(str, sources))
    assert not (tmp_path / ".all.csv.parts").exists()


def test_bad_inputs_fail_with_one_line_and_leave_nothing(capsys, inputs, tiny_model_file, tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "empty.mp4").write_bytes(b"")
    data = (inputs / "clip.mov").read_bytes()
    (tmp_path / "cut.mov").write_bytes(data[: len(data) // 2])
    for name in ("notes.jpg", "empty.mp4", "cut.mov", "missing.png"):
        code, out, err = run(capsys, "annotate", tmp_path / name, "--weights", tiny_model_file)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (name, err)
        assert err.startswith("fer annotate: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mov", "empty.mp4", "notes.jpg"]


def test_one_bad_input_among_good_ones(capsys, inputs, tiny_model_file, tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    code, out, err = run(capsys, "annotate", tmp_path / "notes.jpg", inputs / "astronaut.jpg", "-o", tmp_path / "out",
                         "--weights", tiny_model_file)
    assert code == 2 and "not an image" in err and "astronaut.annotated.jpg" in out


def test_missing_weights(capsys, inputs, tmp_path):
    code, _, err = run(capsys, "annotate", inputs / "astronaut.jpg", "--weights", tmp_path / "nope.pt")
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [(["--size", "9000x100"], "outside"), (["--color", "red"], "--color"),
                                           (["--smoothing", "1.5"], "smoothing"),
                                           (["--log", "x.txt"], ".csv or .json")])
def test_bad_options(capsys, inputs, args, message):
    with pytest.raises(SystemExit) as e:
        main(["annotate", str(inputs / "astronaut.jpg"), *args])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_folder_or_a_pattern_stands_for_its_images_and_videos(capsys, inputs, tiny_model_file, tmp_path):
    folder = tmp_path / "archive"
    (folder / "deeper").mkdir(parents=True)
    save_image(astronaut(), folder / "a.png")
    make_clip(folder / "b.mp4", frames=4)
    make_clip(folder / "deeper" / "c.mp4", frames=4)
    (folder / "notes.txt").write_text("not media")
    code, out, _ = run(capsys, "annotate", f"{folder}/**/*.mp4", "-o", tmp_path / "out", "--weights", tiny_model_file)
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").glob("*.mp4")) == [
        "b.annotated.mp4", "c.annotated.mp4"]
    code, out, err = run(capsys, "annotate", folder, "--weights", tiny_model_file)  # outputs beside the inputs
    assert code == 0, err
    assert sorted(p.name for p in folder.glob("*.annotated.*")) == [
        "a.annotated.json", "a.annotated.png", "b.annotated.csv", "b.annotated.json", "b.annotated.mp4"]
    code, out, _ = run(capsys, "annotate", folder, "--weights", tiny_model_file)  # earlier outputs are not inputs
    assert code == 0 and out.count("skipped") == 2 and "annotated.png ->" not in out
    code, _, err = run(capsys, "annotate", f"{folder}/*.gif", "--weights", tiny_model_file)
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("given", ["two files", "a folder of two"])
def test_several_inputs_and_a_file_name_for_output_is_one_line_before_any_work(capsys, inputs, tmp_path, given):
    sources = [inputs / "astronaut.jpg", inputs / "clip.mov"] if given == "two files" else [inputs]
    with pytest.raises(SystemExit) as e:
        main(["annotate", *map(str, sources), "-o", str(tmp_path / "out.png"), "--weights", "never-loaded.pt"])
    assert e.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == (
        f"fer annotate: error: -o {tmp_path / 'out.png'}: with several inputs, -o must be a folder")
    assert list(tmp_path.iterdir()) == []


def test_an_output_ending_in_a_separator_is_a_folder_even_with_a_suffix(capsys, inputs, tiny_model_file, tmp_path):
    code, out, err = run(capsys, "annotate", inputs / "astronaut.jpg", inputs / "clip.mov",
                         "-o", f"{tmp_path / 'runs.v2'}{os.sep}", "--weights", tiny_model_file)
    assert code == 0, err
    assert {"astronaut.annotated.jpg", "clip.annotated.mp4"} <= {p.name for p in (tmp_path / "runs.v2").iterdir()}


def test_bench_prints_and_writes_json_and_the_readme_tables(capsys, tiny_int8_model_file, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Speed\n\n{bench.README_START}\nold figures\n{bench.README_END}\n\nmore prose\n")
    code, out, _ = run(capsys, "bench", "--weights", tiny_int8_model_file, "--frames", 3, "--video-seconds", "0.5",
                       "--precision", "float32", "int8", "--json", tmp_path / "bench.json", "--readme", readme)
    assert code == 0
    text = readme.read_text()
    assert "old figures" not in text and text.endswith("more prose\n")
    row = next(line for line in text.splitlines() if line.startswith("| blazeface | 4 faces |"))
    assert row.endswith(" ms: met |") or row.endswith(" ms: not met |")  # each target row says where it stands
    report = json.loads((tmp_path / "bench.json").read_text())
    assert json.loads(out) == report
    assert report["machine"]["precisions"] == ["float32", "int8"]  # both precisions, in one run
    assert report["model"]["members"] == [{"arch": "vgg10", "weight": 1.0, "zooms": [1.0]}]  # what was measured
    for per_face in report["classifier_48x48"].values():
        assert set(per_face) == {"batch_1_tencrop_off", "batch_1_tencrop_on", "batch_16_tencrop_off",
                                 "batch_16_tencrop_on"}
        assert per_face["batch_16_tencrop_off"]["per_face_ms"]["median"] > 0
    assert set(report["live_640x480"]) == {"haar", "blazeface"}  # both detectors by default, in one run
    for by_precision in report["live_640x480"].values():
        assert set(by_precision) == {"float32", "int8"}
        for live in by_precision.values():
            assert set(live) == {"1_face_tencrop_off", "1_face_tencrop_on", "4_faces_tencrop_off",
                                 "4_faces_tencrop_on"}
            assert set(live["1_face_tencrop_off"]["total_ms"]) == {"median", "p95"}
            stages = ("detect", "crop", "classify", "track", "draw")  # where a frame's time goes
            assert all(live["4_faces_tencrop_off"][f"{stage}_ms"]["median"] > 0 for stage in stages)
            assert live["4_faces_tencrop_off"]["faces_found_per_frame"] > 2
    assert report["full_scan_640x480"]["blazeface"]["4 faces"]["ms"]["median"] > 0
    video = report["video_640x480_30fps"]["0.5s"]
    assert video["frames"] == 15 and video["peak_rss_mb"] > 0


@pytest.mark.parametrize("args, message", [
    (["--frames", "0"], "--frames 0: at least 1"),
    (["--video-seconds", "10,x"], "--video-seconds 10,x: seconds separated by commas, e.g. 10,60"),
    (["--video-seconds", "-1"], "--video-seconds: every length must be a number of seconds, at least one frame "
                                "(1/30 s)"),
    (["--video-seconds", "0.01"], "--video-seconds: every length must be a number of seconds, at least one frame "
                                  "(1/30 s)")])
def test_bench_refuses_counts_it_cannot_measure_before_measuring(capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["bench", *args])
    assert e.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == f"fer bench: error: {message}"


@pytest.mark.parametrize("lengths", [{"frames": 0}, {"video_seconds": (10, float("nan"))}])
def test_the_bench_library_refuses_lengths_before_loading_a_model(lengths):
    from fer.bench import run

    with pytest.raises(ValueError, match="--frames|--video-seconds"):
        run("no-such-model.pt", **lengths)


def test_bench_refuses_a_readme_without_the_tables_block_before_measuring(capsys, tmp_path):
    (tmp_path / "README.md").write_text("# no generated block here\n")
    with pytest.raises(SystemExit) as e:
        main(["bench", "--readme", str(tmp_path / "README.md")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "fer bench: error: --readme: " in err and "has no <!-- bench:start" in err


@pytest.mark.parametrize("args, message", [
    (["--size", "640x480x3"],
     "argument --display-size/--size: expected WIDTHxHEIGHT in pixels, e.g. 640x480, not '640x480x3'"),
    (["--size", "9000x100"], "argument --display-size/--size: display size 9000x100 is outside"),
    (["--color="], "argument --color: expected R,G,B with each 0-255, e.g. 255,0,0, not ''"),
    (["--color", "0,300,0"], "argument --color: expected R,G,B with each 0-255"),
    (["--smoothing", "1.5"], "argument --smoothing: smoothing must be in [0.0, 0.95], got 1.5")])
def test_option_errors_are_one_line_naming_the_option_and_the_expected_form(capsys, inputs, args, message):
    with pytest.raises(SystemExit) as e:
        main(["annotate", str(inputs / "astronaut.jpg"), *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith(f"fer annotate: error: {message}")


@pytest.mark.parametrize("argv", [["export", "x", "-o", "y"], ["annotate", "x"]])
def test_an_unknown_option_is_one_line_naming_the_command(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--bogus"])
    assert e.value.code == 2 and capsys.readouterr().err == f"fer {argv[0]}: error: unrecognized arguments: --bogus\n"


def test_summary_writes_a_per_face_table_and_a_timeline(capsys, inputs, tiny_model_file, tmp_path):
    import cv2

    code, out, _ = run(capsys, "annotate", inputs / "clip.mov", "-o", tmp_path, "--weights", tiny_model_file,
                       "--summary")
    assert code == 0 and "clip.annotated.timeline.png" in out
    table = pd.read_csv(tmp_path / "clip.annotated.faces.csv")
    assert list(table.columns[:4]) == ["track_id", "first", "last", "seconds"] and len(table) >= 1
    per_emotion = table.filter(like="seconds_").sum(axis=1)
    assert np.allclose(per_emotion, table.seconds) and table.seconds.sum() == pytest.approx(8 / 15, abs=0.07)
    assert set(table.dominant) <= set(CLASS_NAMES)
    assert cv2.imread(str(tmp_path / "clip.annotated.timeline.png")).shape == (360, 1000, 3)


def test_a_summary_that_cannot_be_written_takes_the_video_with_it(capsys, inputs, tiny_model_file, tmp_path,
                                                                  monkeypatch):
    """An input's outputs appear together or not at all: a video kept without its summary
    would make the rerun skip it, and the summary would never be written."""
    from fer.io import summary

    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    argv = ["annotate", inputs / "clip.mov", "-o", tmp_path, "--weights", tiny_model_file, "--summary"]
    with monkeypatch.context() as patched:
        patched.setattr(summary, "face_summary", full_disk)
        code, out, err = run(capsys, *argv)
    table = tmp_path / "clip.annotated.faces.csv"
    assert code == 2 and out == ""
    assert err.count("error") == 1  # a progress bar goes before it
    assert err.splitlines()[-1] == f"fer annotate: error: cannot write {table}: no space left on the device"
    assert list(tmp_path.iterdir()) == []
    code, out, _ = run(capsys, *argv)
    assert code == 0 and sorted(p.name for p in tmp_path.iterdir()) == [
        "clip.annotated.csv", "clip.annotated.faces.csv", "clip.annotated.json", "clip.annotated.mp4",
        "clip.annotated.timeline.png"]


def test_device_choice(capsys, inputs, tiny_model_file, tmp_path):
    import torch

    code, _, err = run(capsys, "annotate", inputs / "astronaut.jpg", "-o", tmp_path / "a.png", "--weights",
                       tiny_model_file, "--device", "cuda")
    if torch.cuda.is_available():
        assert code == 0 and read_provenance(tmp_path / "a.json")["model"]["device"].startswith("cuda")
    else:
        assert code == 2 and err.strip() == ("fer annotate: error: CUDA was asked for but PyTorch sees no GPU here; "
                                             "use --device cpu or auto")
    code, _, _ = run(capsys, "annotate", inputs / "astronaut.jpg", "-o", tmp_path / "b.png", "--weights",
                     tiny_model_file, "--device", "cpu")
    assert code == 0 and read_provenance(tmp_path / "b.json")["model"]["device"] == "cpu"


def test_the_detector_option_picks_the_backend(capsys, tiny_model_file, tmp_path):
    """A face tilted by 30 degrees: the Haar cascade (the default) misses it, BlazeFace finds it."""
    import cv2

    from fer.io.images import save_image

    frame = astronaut()
    tilted = cv2.warpAffine(frame, cv2.getRotationMatrix2D((225, 113), 30, 1.0), frame.shape[1::-1],
                            borderMode=cv2.BORDER_REFLECT)
    save_image(tilted, tmp_path / "tilted.png")
    for detector in (None, "haar", "blazeface"):
        extra = ["--detector", detector] if detector else []
        code, out, _ = run(capsys, "annotate", tmp_path / "tilted.png", "-o", tmp_path / f"{detector}.png",
                           "--weights", tiny_model_file, "--log", tmp_path / f"{detector}.csv", *extra)
        rows = pd.read_csv(tmp_path / f"{detector}.csv", comment="#").dropna(subset=["x1"])
        # The face's centre is near (228, 125). BlazeFace also finds the spacesuit's collar
        # below it (score 0.55, its threshold): a box there is not the face.
        face = rows[(rows.x1 < 228) & (rows.x2 > 228) & (rows.y1 < 125) & (rows.y2 > 125)]
        assert code == 0 and len(face) == (1 if detector == "blazeface" else 0), (detector, out)
    with pytest.raises(SystemExit) as e:
        main(["annotate", str(tmp_path / "tilted.png"), "--detector", "yolo"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_robustness_writes_table_plot_and_json(capsys, fer2013_path, tiny_model_file, tmp_path):
    from fer.robustness import README_END, README_START

    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{README_START}\nold\n{README_END}\nafter\n")
    code, out, _ = run(capsys, "robustness", "--data", fer2013_path, "--faces", 7, "--variants", "haar", "blazeface",
                       "--weights", tiny_model_file, "--json", tmp_path / "r.json", "--plot", tmp_path / "r.png",
                       "--readme", readme)
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["results"]) == {"haar", "blazeface"} and report["faces"] == 7
    upright = report["results"]["blazeface"]["upright"]
    assert upright["recall"] >= 5 / 7 and upright["recall_vs_upright"] == 1.0
    # detections on the 7 scenes without a face: none for Haar, one for BlazeFace
    assert {name: r["no face"]["false_per_scene"] for name, r in report["results"].items()} == {
        "haar": 0.0, "blazeface": round(1 / 7, 3)}
    assert set(report["crop_fit"]) == {"haar", "blazeface"}
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "| blazeface | recall |" in text
    assert "| blazeface | recall |" in out
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_robustness_runs_only_the_conditions_named(capsys, fer2013_path, tiny_model_file, tmp_path):
    code, _, _ = run(capsys, "robustness", "--data", fer2013_path, "--faces", 7, "--variants", "haar",
                       "--split", "public", "--conditions", "40 px", "no face", "--min-face", 0.08,
                       "--weights", tiny_model_file, "--json", tmp_path / "r.json", "--plot", tmp_path / "r.png")
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["scene"]["conditions"] == ["40 px", "no face"] and report["min_face"] == 0.08
    assert set(report["results"]["haar"]) == {"40 px", "no face"}
    assert "recall" in report["results"]["haar"]["40 px"]  # no "recall vs upright" without the upright scenes
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["--min-face", "0.8"], "--min-face 0.8: must be in [0.05, 0.5], the minimum face sizes detection takes"),
    (["--plot", "r.txt"], "--plot r.txt: a .png, .svg, .pdf file"),
    (["--readme", "README.md", "--conditions", "40 px"],
     "--readme: the README's table has every condition; leave --conditions out with --readme")])
def test_robustness_refuses_what_it_could_only_fail_on_after_the_run(capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["robustness", "--data", "no-data", *args])
    assert e.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == f"fer robustness: error: {message}"


def test_an_image_written_as_a_format_images_are_not_is_one_line(capsys, inputs, tiny_model_file, tmp_path):
    code, out, err = run(capsys, "annotate", inputs / "astronaut.jpg", "-o", tmp_path / "out.gif",
                         "--weights", tiny_model_file)
    assert code == 2 and out == "" and err == (f"fer annotate: error: {tmp_path / 'out.gif'}: an annotated image is "
                                               "written as .bmp, .jpeg, .jpg, .png, .webp\n")
    assert list(tmp_path.iterdir()) == []


def test_an_input_that_cannot_be_reached_fails_alone(capsys, inputs, tiny_model_file, tmp_path):
    unreachable = tmp_path / ("a" * 300 + ".jpg")  # longer than a file name may be
    code, out, err = run(capsys, "annotate", unreachable, inputs / "astronaut.jpg", "-o", tmp_path / "out",
                         "--weights", tiny_model_file)
    assert code == 2 and "astronaut.annotated.jpg" in out
    assert f"fer annotate: error: {unreachable} cannot be reached: File name too long" in err.splitlines()


def test_robustness_needs_one_face_per_class(capsys, fer2013_path):
    with pytest.raises(SystemExit) as e:
        main(["robustness", "--data", str(fer2013_path), "--faces", "3"])
    assert e.value.code == 2 and "at least 7" in capsys.readouterr().err
