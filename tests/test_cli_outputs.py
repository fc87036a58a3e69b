"""``fer annotate``'s outputs: write failures (read-only folder, full disk, a file in the
way) are one line, exit status 2, leave nothing behind and let the other inputs run;
names never clash within a run; outputs of an earlier run are replaced only on request.
The reporting commands (evaluate, metrics, bench, robustness) refuse an output they could
not write before they run.

The fault-injection tests mount small ``tmpfs`` file systems, so they need root."""

import json
import shutil

import pytest
from commands import run
from disks import tmpfs
from media import astronaut, decode_all, make_clip

from fer.cli import main
from fer.io.batch import annotate_files
from fer.io.images import save_image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    save_image(astronaut(), folder / "face.jpg")
    make_clip(folder / "clip.mp4", frames=8)
    return folder


def shown(err: str) -> list[str]:
    """The lines a terminal shows: a progress bar cleared with a carriage return is gone."""
    return [line.split("\r")[-1] for line in err.split("\n") if line.split("\r")[-1].strip()]


def one_error_line(err: str) -> str:
    lines = shown(err)
    assert len(lines) == 1 and lines[0].startswith("fer annotate: error: "), err
    return lines[0]


def test_read_only_folder(capsys, inputs, tiny_model_file, tmp_path):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        # the first output written, by its name: not clip.annotated.csv.partial.rows, where the video's rows wait
        for name, first in (("face.jpg", "face.annotated.jpg"), ("clip.mp4", "clip.annotated.csv")):
            code, out, err = run(capsys, "annotate", inputs / name, "-o", f"{ro}/", "--weights", tiny_model_file)
            assert (code, out) == (2, "")
            assert one_error_line(err) == f"fer annotate: error: cannot write {ro / first}: Read-only file system"
        code, out, err = run(capsys, "annotate", inputs / "face.jpg", "-o", tmp_path / "out",
                             "--log", ro / "log.csv", "--weights", tiny_model_file)
        assert code == 2 and f"{ro}/log.csv" in one_error_line(err) and "Read-only" in err
        assert not (tmp_path / "out").exists()  # made by the first output written into it: none was
        code, out, err = run(capsys, "annotate", inputs / "face.jpg", "-o", ro / "new", "--weights", tiny_model_file)
        assert (code, out) == (2, "")  # refused before the run, not for each input
        assert one_error_line(err) == f"fer annotate: error: cannot write {ro / 'new'}: {ro} is not writable"
        assert list(ro.iterdir()) == []


def test_full_disk_leaves_no_partial_files(capsys, inputs, tiny_model_file, tmp_path):
    with tmpfs(tmp_path / "full", "16k") as full:
        for name in ("face.jpg", "clip.mp4"):
            code, out, err = run(capsys, "annotate", inputs / name, "-o", full, "--weights", tiny_model_file)
            assert code == 2 and "no space left" in one_error_line(err) and str(full) in err
            assert list(full.iterdir()) == []
        (full / "filler").write_bytes(bytes(16 * 1024))  # the combined log is small: leave it no room at all
        code, out, err = run(capsys, "annotate", inputs / "clip.mp4", "-o", tmp_path / "out", "--log",
                             full / "all.json", "--weights", tiny_model_file)
        # the video's rows wait for the log in its folder: the video fails, named by the log (not its hidden
        # part), and with no input's rows there is no log to write, so the reason is given once
        assert (code, out) == (2, "") and shown(err) == [
            f"fer annotate: error: cannot write {full}/all.json (this input's rows): no space left on the device"]
        assert [p.name for p in full.iterdir()] == ["filler"] and not (tmp_path / "out").exists()


def test_a_file_in_the_way(capsys, inputs, tiny_model_file, tmp_path):
    (tmp_path / "face.jpg").write_text("a file, not a folder")
    code, out, err = run(capsys, "annotate", inputs / "face.jpg", "-o", tmp_path / "face.jpg" / "out.jpg",
                         "--weights", tiny_model_file)
    assert code == 2 and f"{tmp_path / 'face.jpg'} is a file" in one_error_line(err)


@pytest.mark.parametrize("name, in_the_way", [("face.jpg", "face.annotated.json"), ("clip.mp4", "clip.annotated.csv")])
def test_a_folder_in_the_way_of_an_output_is_an_error_and_nothing_of_the_input_is_written(
        capsys, inputs, tiny_model_file, tmp_path, name, in_the_way):
    """Not an earlier run's output, so not skipped, and --overwrite cannot replace it; the
    input's other outputs are not written either, or the rerun would skip it as done."""
    shutil.copy(inputs / name, tmp_path)
    (tmp_path / in_the_way).mkdir()
    argv = ["annotate", tmp_path / name, "--weights", tiny_model_file]
    for overwrite in ([], ["--overwrite"]):
        code, out, err = run(capsys, *argv, *overwrite)
        assert (code, out) == (2, "")
        assert one_error_line(err) == f"fer annotate: error: cannot write {tmp_path / in_the_way}: it is a folder"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, in_the_way])
    (tmp_path / in_the_way).rmdir()
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "skipped" not in out and (tmp_path / in_the_way).is_file()


def test_a_run_that_writes_nothing_leaves_no_output_folder(capsys, inputs, tiny_model_file, tmp_path):
    """The folder is made by the first output written into it: a run stopped by a log in
    the way, or without a usable input, makes none."""
    (tmp_path / "earlier.csv").write_text("earlier")
    make_clip(tmp_path / "sound.mp4", frames=4, video=False, audio="aac")
    for argv in ([inputs / "face.jpg", "--log", tmp_path / "earlier.csv"], [tmp_path / "sound.mp4"]):
        code, out, err = run(capsys, "annotate", *argv, "-o", tmp_path / "new" / "out", "--weights", tiny_model_file)
        assert code == 2 and one_error_line(err)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier.csv", "sound.mp4"], argv


def test_a_run_stopped_in_its_first_input_leaves_no_output_folder(inputs, tiny_recognizer, tmp_path):
    """SIGTERM and Ctrl-C raise in the main thread, as this progress callback does."""
    def stop(done, total, eta):
        raise KeyboardInterrupt

    batch = annotate_files([inputs / "clip.mp4"], tiny_recognizer, out=tmp_path / "new" / "out",
                           progress=lambda src: stop)
    with pytest.raises(KeyboardInterrupt):
        next(batch)
    assert list(tmp_path.iterdir()) == []


def test_a_log_in_a_new_folder_leaves_no_folder_when_every_input_failed(capsys, tiny_model_file, tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    code, _, _ = run(capsys, "annotate", tmp_path / "notes.jpg", "--log", tmp_path / "logs" / "all.csv",
                     "--weights", tiny_model_file)
    assert code == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["notes.jpg"]


def test_a_folder_named_as_the_log_is_refused_before_any_work(capsys, inputs, tiny_model_file, tmp_path):
    (tmp_path / "all.json").mkdir()
    for overwrite in ([], ["--overwrite"]):
        code, out, err = run(capsys, "annotate", inputs / "face.jpg", "-o", tmp_path / "out", "--log",
                             tmp_path / "all.json", "--weights", tiny_model_file, *overwrite)
        assert (code, out) == (2, "")
        assert one_error_line(err) == f"fer annotate: error: cannot write {tmp_path / 'all.json'}: it is a folder"
        assert [p.name for p in tmp_path.iterdir()] == ["all.json"]  # no output, no .all.json.parts


def test_no_log_when_every_input_failed(capsys, inputs, tiny_model_file, tmp_path):
    """An empty log would pass for an earlier run's and stop the corrected rerun."""
    (tmp_path / "notes.jpg").write_text("not a picture")
    argv = ["-o", tmp_path / "out", "--log", tmp_path / "all.csv", "--weights", tiny_model_file]
    code, out, err = run(capsys, "annotate", tmp_path / "notes.jpg", *argv)
    assert (code, out) == (2, "") and "not an image" in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.jpg"]
    code, out, _ = run(capsys, "annotate", inputs / "face.jpg", *argv)
    assert code == 0 and f"wrote {tmp_path / 'all.csv'}" in out and (tmp_path / "all.csv").is_file()


def test_a_log_without_rows_says_it_was_not_written(capsys, inputs, tiny_model_file, tmp_path):
    """Inputs annotated by a run without --log are skipped as done, and their rows are not
    in any part of the log: nothing to gather, and the command says so, not "wrote"."""
    argv = ["annotate", inputs / "face.jpg", "-o", tmp_path / "out", "--weights", tiny_model_file]
    assert run(capsys, *argv)[0] == 0
    code, out, _ = run(capsys, *argv, "--log", tmp_path / "all.csv")
    assert code == 0 and out.splitlines()[-1] == (
        f"{tmp_path / 'all.csv'}: not written: the inputs were skipped (their outputs exist) and no earlier run "
        "with this log left their rows; add --overwrite to annotate them again")
    assert not (tmp_path / "all.csv").exists()


def test_the_rest_of_the_batch_still_runs(capsys, inputs, tiny_model_file, tmp_path):
    with tmpfs(tmp_path / "locked", "1m", files=[inputs / "face.jpg"], read_only=True) as locked:
        shutil.copy(inputs / "face.jpg", tmp_path / "face2.jpg")
        code, out, err = run(capsys, "annotate", locked / "face.jpg", tmp_path / "face2.jpg", inputs / "clip.mp4",
                             "-o", tmp_path / "out", "--weights", tiny_model_file)  # -o: the clip's folder is shared
        code2, out2, err2 = run(capsys, "annotate", locked / "face.jpg", tmp_path / "face2.jpg", "--weights",
                                tiny_model_file)
    assert code == 0 and "face2.annotated.jpg" in out  # with -o, the locked input's folder is not written to
    assert code2 == 2 and (tmp_path / "face2.annotated.jpg").is_file() and "face2.annotated.jpg" in out2
    errors = shown(err2)
    assert len(errors) == 2 and "Read-only file system" in errors[0]
    assert errors[1] == f"fer annotate: 1 of 2 inputs failed: {locked / 'face.jpg'}"


def test_outputs_never_overwrite_each_other(capsys, inputs, tiny_model_file, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(inputs / "face.jpg", tmp_path / folder / "face.jpg")
    shutil.copy(inputs / "clip.mp4", tmp_path / "a" / "face.mp4")
    code, out, err = run(capsys, "annotate", tmp_path / "a" / "face.jpg", tmp_path / "b" / "face.jpg",
                         tmp_path / "a" / "face.mp4", "-o", tmp_path / "out", "--weights", tiny_model_file)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a-face.jpg.annotated.jpg", "a-face.jpg.annotated.json", "b-face.jpg.annotated.jpg",
        "b-face.jpg.annotated.json", "face.mp4.annotated.csv", "face.mp4.annotated.json", "face.mp4.annotated.mp4"]
    assert out.count("(not face.annotated.jpg: another input") == 2  # the user is told
    assert json.loads((tmp_path / "out" / "a-face.jpg.annotated.json").read_text())["data"][0]["frame"] == 0
    assert len(json.loads((tmp_path / "out" / "face.mp4.annotated.json").read_text())["data"]) >= 7
    assert decode_all(tmp_path / "out" / "face.mp4.annotated.mp4")["frames"] == 8

    shutil.copy(inputs / "clip.mp4", tmp_path / "x.mp4")
    make_clip(tmp_path / "x.mov", frames=5)
    code, out, _ = run(capsys, "annotate", tmp_path / "x.mp4", tmp_path / "x.mov", "--weights", tiny_model_file)
    assert code == 0
    assert decode_all(tmp_path / "x.mp4.annotated.mp4")["frames"] == 8
    assert decode_all(tmp_path / "x.mov.annotated.mp4")["frames"] == 5


def test_outputs_of_an_earlier_run_are_replaced_only_on_request(capsys, inputs, tiny_model_file, tmp_path):
    args = ["annotate", inputs / "face.jpg", "-o", tmp_path / "out.jpg", "--weights", tiny_model_file]
    assert run(capsys, *args)[0] == 0
    (tmp_path / "out.jpg").write_bytes(b"earlier")
    code, out, err = run(capsys, *args)
    assert code == 0 and err == "" and "skipped" in out and "--overwrite" in out
    assert (tmp_path / "out.jpg").read_bytes() == b"earlier"
    code, out, _ = run(capsys, *args, "--overwrite")
    assert code == 0 and (tmp_path / "out.jpg").read_bytes() != b"earlier"

    (tmp_path / "all.csv").write_text("earlier")
    code, _, err = run(capsys, "annotate", inputs / "face.jpg", "-o", tmp_path / "new", "--log", tmp_path / "all.csv",
                       "--weights", tiny_model_file)
    assert code == 2 and "--overwrite" in one_error_line(err) and (tmp_path / "all.csv").read_text() == "earlier"


REPORTS = {  # each report-writing option of the other commands, with what the command needs besides
    "evaluate --json": ["evaluate", "--data", "no-data", "--weights", "no.pt", "--split", "public", "--json"],
    "evaluate --plots": ["evaluate", "--data", "no-data", "--weights", "no.pt", "--split", "public", "--plots"],
    "metrics --plots": ["metrics", "no.pt", "--data", "no-data", "--plots"],
    "bench --json": ["bench", "--json"],
    "robustness --json": ["robustness", "--data", "no-data", "--json"],
    "robustness --plot": ["robustness", "--data", "no-data", "--plot"]}


@pytest.mark.parametrize("argv", REPORTS.values(), ids=REPORTS)
def test_a_report_that_cannot_be_written_fails_before_the_run(capsys, tmp_path, argv):
    """Not after an evaluation or benchmark of many minutes: the missing data and model
    files here would be the first error otherwise."""
    (tmp_path / "taken").write_text("a file")
    out = tmp_path / "taken" / "report"
    with pytest.raises(SystemExit) as e:
        main([*argv, str(out)])
    assert e.value.code == 2
    taken = tmp_path / "taken"
    assert shown(capsys.readouterr().err)[-1] == f"fer {argv[0]}: error: cannot write {out}: {taken} is a file"


def test_a_report_into_a_read_only_folder_or_onto_a_folder_fails_before_the_run(capsys, tmp_path):
    evaluate = REPORTS["evaluate --json"]
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro, pytest.raises(SystemExit):
        main([*evaluate, str(ro / "metrics.json")])
    message = f"cannot write {ro / 'metrics.json'}: {ro} is not writable"
    assert shown(capsys.readouterr().err)[-1] == f"fer evaluate: error: {message}"
    with pytest.raises(SystemExit):
        main([*evaluate, str(tmp_path)])
    assert shown(capsys.readouterr().err)[-1] == f"fer evaluate: error: cannot write {tmp_path}: it is a folder"


def test_metrics_refuses_a_readme_without_the_accuracy_block_before_evaluating(capsys, tmp_path):
    (tmp_path / "README.md").write_text("# no generated block here\n")
    with pytest.raises(SystemExit) as e:
        main(["metrics", "no.pt", "--data", "no-data", "--readme", str(tmp_path / "README.md")])
    assert e.value.code == 2 and "has no <!-- accuracy-table:start" in shown(capsys.readouterr().err)[-1]
