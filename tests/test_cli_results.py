"""The commands that write models and results (export, quantize, ensemble, evaluate,
robustness, bench, metrics): an output never replaces an input of the command, replaces an
earlier file only with ``--overwrite``, and a write that fails (a full disk, a folder in
the way) is one line and exit status 2 with nothing left behind. Each refusal comes from
the parser, before any data is read or model run: the data path given to most of them
does not even exist."""

import subprocess
import sys

import pytest
from commands import refused
from disks import tmpfs

from fer.cli import main
from fer.models.modelfile import save_ensemble


@pytest.fixture
def no_data(tmp_path):
    return tmp_path / "no-such-data.tar.gz"


def test_a_result_never_replaces_an_input_even_with_overwrite(capsys, tiny_model_file, tmp_path, no_data):
    model = tmp_path / "model.pt"
    model.write_bytes(tiny_model_file.read_bytes())
    ensemble = tmp_path / "joint.ens.json"
    save_ensemble([(model, 1.0)], ensemble)
    data = tmp_path / "fer2013.csv"
    data.write_text("emotion,pixels,Usage\n")
    for command, output in [
        (["evaluate", "--data", no_data, "--split", "public", "--weights", model, "--json"], model),
        (["evaluate", "--data", data, "--split", "public", "--weights", model, "--json"], data),
        (["evaluate", "--data", no_data, "--split", "public", "--weights", ensemble, "--json"], model),  # a member
        (["robustness", "--data", no_data, "--weights", model, "--json"], model),
        (["bench", "--weights", model, "--json"], model),
        (["ensemble", model, "--data", no_data, "-o"], model),
        (["export", model, "-o"], model),
    ]:
        line = refused(capsys, *command, output, "--overwrite")
        assert line.endswith(f"error: {output} is an input of this command; choose another output name"), line
    assert model.read_bytes() == tiny_model_file.read_bytes() and data.read_text() == "emotion,pixels,Usage\n"


def test_an_earlier_result_is_replaced_only_when_asked(capsys, tiny_model_file, small_fer2013, tmp_path, no_data):
    earlier = tmp_path / "earlier.json"
    earlier.write_text("an earlier run's results")
    for command in (["evaluate", "--data", no_data, "--split", "public", "--weights", tiny_model_file, "--json"],
                    ["robustness", "--data", no_data, "--json"],
                    ["bench", "--json"]):
        line = refused(capsys, *command, earlier)
        assert line.endswith(f"error: {earlier} exists; pass --overwrite to replace it"), line
    assert earlier.read_text() == "an earlier run's results"

    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "confusion_public_tencrop_normalized.png").write_bytes(b"an earlier plot")
    evaluate = ["evaluate", "--data", small_fer2013, "--split", "public", "--weights", tiny_model_file,
                "--tencrop", "--plots", plots]
    line = refused(capsys, *evaluate)
    assert line.endswith(f"{plots / 'confusion_public_tencrop_normalized.png'} exists; pass --overwrite to replace it")
    assert main([str(a) for a in evaluate] + ["--overwrite"]) == 0
    assert (plots / "confusion_public_tencrop_normalized.png").read_bytes().startswith(b"\x89PNG")


def test_a_model_file_is_written_as_pt(capsys, tiny_model_file, tmp_path, no_data):
    for command in (["export", tiny_model_file], ["quantize", tiny_model_file, "--data", no_data]):
        line = refused(capsys, *command, "-o", tmp_path / "model.json")
        assert line.endswith(f"error: -o {tmp_path / 'model.json'}: a model file is written as .pt"), line


def test_ensemble_checks_its_output_before_the_search(capsys, tiny_model_file, tmp_path, no_data):
    (tmp_path / "blocker").write_text("a file")
    line = refused(capsys, "ensemble", tiny_model_file, "--data", no_data, "-o", tmp_path / "blocker" / "e.ens.json")
    assert line.endswith(f"cannot write {tmp_path / 'blocker' / 'e.ens.json'}: {tmp_path / 'blocker'} is a file")


def test_a_full_disk_under_a_model_file_is_one_error_and_leaves_nothing(tmp_path):
    """TorchScript's own file writer aborted the process here (a C++ exception), leaving
    a partial file: ``fer export`` and ``fer quantize`` both save through ``save_model``'s
    writer, run in a process of its own so that a regression fails this test alone."""
    script = ("import sys, torch\n"
              "from fer.models import create_model\n"
              "from fer.models.modelfile import ModelMeta, save_model\n"
              "from fer.io.outputs import OutputError\n"
              "try:\n"
              "    save_model(create_model('vgg10', width_mult=0.25), ModelMeta(arch='vgg10', "
              "arch_kwargs={'width_mult': 0.25}, mean=0.5, std=0.25), sys.argv[1])\n"
              "except OutputError as e:\n"
              "    print(e)\n")
    with tmpfs(tmp_path / "full", "16k") as full:
        done = subprocess.run([sys.executable, "-c", script, str(full / "m.pt")], capture_output=True, text=True)
        assert (done.returncode, done.stdout) == (0, f"cannot write {full / 'm.pt'}: no space left on the device\n"), \
            done.stderr
        assert list(full.iterdir()) == []


def test_plots_that_cannot_be_written_are_one_line(capsys, tiny_model_file, small_fer2013, tmp_path):
    evaluate = ["evaluate", "--data", small_fer2013, "--split", "public", "--weights", tiny_model_file, "--plots"]
    in_the_way = tmp_path / "plots" / "confusion_public_counts.png"
    in_the_way.mkdir(parents=True)
    line = refused(capsys, *evaluate, tmp_path / "plots", "--overwrite")
    assert line.endswith(f"cannot write {in_the_way}: it is a folder"), line
    with tmpfs(tmp_path / "full", "16k") as full:
        (full / "filler").write_bytes(bytes(16 * 1024))
        line = refused(capsys, *evaluate, full / "plots")
        assert line.endswith("no space left on the device") and str(full / "plots") in line, line
        assert sorted(p.name for p in full.iterdir()) == ["filler", "plots"] and list((full / "plots").iterdir()) == []


def test_plain_messages_for_odd_arguments(capsys, tmp_path, tiny_model_file, no_data):
    image = tmp_path / "face.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    line = refused(capsys, "metrics", tiny_model_file, "--data", no_data, "--readme", image)
    assert line.endswith(f"--readme: {image} is not a text file"), line
    line = refused(capsys, "annotate", image, "--weights", tmp_path)
    assert line.endswith(f"{tmp_path} is a folder, not a model file"), line
    for log in ("", ".csv"):
        line = refused(capsys, "annotate", image, "--log", log)
        assert line.endswith(f"--log {log}: the log must be a .csv or .json file"), line
    line = refused(capsys, "annotate", image, "--color", "-1,0,0")
    assert line.endswith("argument --color: expected one argument (a value that starts with '-' goes as "
                         "--color=VALUE)"), line
    assert refused(capsys, "annotate", image, "--color").endswith("argument --color: expected one argument")
