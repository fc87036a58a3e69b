"""``fer annotate`` and ``fer bench`` end to end, through ``fer.cli.main``."""

import csv
import json

import pytest
from media import astronaut, decode_all, make_clip

from fer.cli import main
from fer.io.images import save_image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    save_image(astronaut(), folder / "astronaut.jpg")
    make_clip(folder / "clip.mov", frames=8, audio="aac")  # content decides, not the name
    return folder


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_image_round_trip(capsys, inputs, tiny_model_file, tmp_path):
    code, out, err = run(capsys, "annotate", inputs / "astronaut.jpg", "-o", tmp_path / "out.png",
                         "--weights", tiny_model_file, "--color", "255,0,0", "--tencrop")
    assert code == 0 and "1 face" in out
    records = json.loads((tmp_path / "out.json").read_text())
    assert len(records) == 1 and records[0]["frame"] == 0 and "happy" in records[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.png"]


def test_video_round_trip_into_a_folder(capsys, inputs, tiny_model_file, tmp_path):
    code, out, _ = run(capsys, "annotate", inputs / "clip.mov", "-o", tmp_path / "results", "--weights", tiny_model_file,
                       "--size", "160x120", "--smoothing", "0")
    assert code == 0 and "8 frames" in out
    video = decode_all(tmp_path / "results" / "clip.annotated.mp4")
    assert video["frames"] == 8 and video["size"] == (160, 120) and video["audio"] == ["aac"]
    rows = list(csv.DictReader(open(tmp_path / "results" / "clip.annotated.csv")))
    assert len(rows) >= 7 and max(int(r["x2"]) for r in rows) > 160  # boxes stay in the input's pixels


def test_several_inputs_one_combined_log(capsys, inputs, tiny_model_file, tmp_path):
    code, out, _ = run(capsys, "annotate", inputs / "astronaut.jpg", inputs / "clip.mov", "-o", tmp_path,
                       "--log", tmp_path / "all.json", "--weights", tiny_model_file)
    assert code == 0
    rows = json.loads((tmp_path / "all.json").read_text())
    sources = [r["source"] for r in rows]
    assert sources.count(str(inputs / "astronaut.jpg")) == 1 and sources.count(str(inputs / "clip.mov")) >= 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.json", "astronaut.annotated.jpg", "clip.annotated.mp4"]


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


@pytest.mark.parametrize("args, message", [(["--size", "2000x100"], "outside"), (["--color", "red"], "--color"),
                                           (["--smoothing", "1.5"], "smoothing"), (["--log", "x.txt"], ".csv or .json")])
def test_bad_options(capsys, inputs, args, message):
    with pytest.raises(SystemExit) as e:
        main(["annotate", str(inputs / "astronaut.jpg"), *args])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_bench_prints_and_writes_json(capsys, tiny_model_file, tmp_path):
    code, out, _ = run(capsys, "bench", "--weights", tiny_model_file, "--frames", 3, "--video-seconds", "0.5",
                       "--json", tmp_path / "bench.json")
    assert code == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert json.loads(out) == report
    per_face = report["classifier_48x48"]
    assert set(per_face) == {"batch_1_tencrop_off", "batch_1_tencrop_on", "batch_16_tencrop_off", "batch_16_tencrop_on"}
    assert per_face["batch_16_tencrop_off"]["per_face_ms"]["median"] > 0
    live = report["live_640x480"]
    assert set(live) == {"1_face_tencrop_off", "1_face_tencrop_on", "4_faces_tencrop_off", "4_faces_tencrop_on"}
    assert set(live["1_face_tencrop_off"]["total_ms"]) == {"median", "p95"}
    assert live["4_faces_tencrop_off"]["faces_found_per_frame"] > 2
    video = report["video_640x480_30fps"]["0.5s"]
    assert video["frames"] == 15 and video["peak_rss_mb"] > 0


@pytest.mark.parametrize("args, message", [
    (["--size", "640x480x3"], "argument --size: expected WIDTHxHEIGHT in pixels, e.g. 640x480, not '640x480x3'"),
    (["--size", "2000x100"], "argument --size: display size 2000x100 is outside"),
    (["--color="], "argument --color: expected R,G,B with each 0-255, e.g. 255,0,0, not ''"),
    (["--color", "0,300,0"], "argument --color: expected R,G,B with each 0-255"),
    (["--smoothing", "1.5"], "argument --smoothing: smoothing must be in [0, 1)")])
def test_option_errors_name_the_option_and_the_expected_form(capsys, inputs, args, message):
    with pytest.raises(SystemExit) as e:
        main(["annotate", str(inputs / "astronaut.jpg"), *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("usage: fer annotate ") and f"fer annotate: error: {message}" in err
