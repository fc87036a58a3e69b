"""``fer annotate --ray`` on a local Ray instance with two workers: the same files and
logs as the sequential command, a bad input failing alone, a rerun resuming an
interrupted job, and a worker killed mid-video whose file is done again elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray
from commands import run
from media import astronaut, decode_all, make_clip
from processes import FER_FROM_A_TERMINAL, finish_or_show_stacks

from fer.classes import CLASS_NAMES
from fer.cli import main
from fer.io.cluster import ClusterError, annotate_on_ray, start_ray
from fer.io.facelog import read_provenance
from fer.io.images import save_image

PROBABILITIES = [*CLASS_NAMES, *(f"raw_{c}" for c in CLASS_NAMES)]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module (it takes seconds to start), two CPUs."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    make_clip(folder / "walk.mp4", frames=24)
    make_clip(folder / "talk.mov", frames=16, audio="aac")
    make_clip(folder / "empty.mp4", frames=10, face=False)
    save_image(astronaut(), folder / "astronaut.jpg")
    save_image(np.full((120, 160, 3), 90, np.uint8), folder / "wall.png")
    return folder


def read_log(path: Path) -> pd.DataFrame:
    return pd.read_json(path, orient="table") if path.suffix == ".json" else pd.read_csv(path, comment="#")


def assert_same_rows(ray_log: Path, sequential_log: Path) -> None:
    """Labels, frames and boxes identical; probabilities equal to float tolerance."""
    got, want = read_log(ray_log), read_log(sequential_log)
    assert len(got) == len(want) > 0
    exact = [c for c in got.columns if c not in PROBABILITIES]
    pd.testing.assert_frame_equal(got[exact], want[exact])
    assert np.allclose(got[PROBABILITIES].astype(float), want[PROBABILITIES].astype(float), atol=1e-6, equal_nan=True)


def annotator_pids() -> list[int]:
    """The Ray workers holding a recognizer (their process title is ``ray::Annotator...``)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "cmdline").read_bytes().startswith(b"ray::Annotator"):
                found.append(int(proc.name))
        except OSError:  # ended meanwhile
            continue
    return found


def pid_writing(prefix: Path) -> int | None:
    """The process that has a file whose path starts with ``prefix`` open, from /proc (Linux)."""
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd).startswith(str(prefix)) for fd in fd_dir.iterdir()):
                return int(fd_dir.parent.name)
        except OSError:  # a process that ended meanwhile, or not ours
            continue
    return None


def test_same_files_and_logs_as_the_sequential_command(capsys, inputs, tiny_model_file, tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")  # a bad input fails alone
    argv = [inputs, tmp_path / "notes.mp4", "--weights", tiny_model_file]
    code, _, _ = run(capsys, "annotate", *argv, "-o", tmp_path / "seq")
    assert code == 2
    code, out, err = run(capsys, "annotate", *argv, "-o", tmp_path / "ray", "--ray", "--workers", "2")
    assert code == 2, err
    assert "6 inputs: 5 annotated, 0 skipped (done before), 1 failed" in out
    assert err.strip().splitlines()[-1].startswith(f"fer annotate: failed: {tmp_path / 'notes.mp4'} is not a video")
    assert "Traceback" not in err
    names = sorted(p.name for p in (tmp_path / "seq").iterdir())
    # videos: mp4, csv, json; images: picture, json
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == names and len(names) == 3 * 3 + 2 * 2
    workers = {line.rsplit("[", 1)[1].split(" on ")[0] for line in out.splitlines() if " -> " in line}
    assert len(workers) == 2  # both workers took files
    for name in names:
        if name.endswith(".csv"):
            assert_same_rows(tmp_path / "ray" / name, tmp_path / "seq" / name)
        elif name.endswith(".mp4"):
            assert decode_all(tmp_path / "ray" / name)["frames"] == decode_all(tmp_path / "seq" / name)["frames"]
    assert read_provenance(tmp_path / "ray" / "walk.annotated.csv") == read_provenance(
        tmp_path / "seq" / "walk.annotated.csv")


def test_an_interrupted_run_resumes_and_the_combined_log_is_whole(capsys, inputs, tiny_model_file, tmp_path):
    files = sorted(inputs.iterdir())
    code, _, _ = run(capsys, "annotate", *files, "-o", tmp_path / "seq", "--log", tmp_path / "seq.json",
                     "--weights", tiny_model_file)
    assert code == 0
    job = annotate_on_ray(files, tiny_model_file, out=tmp_path / "ray", log=tmp_path / "ray.json", workers=2)
    first = next(job)
    job.close()  # as Ctrl-C does: the workers are ended, none writes after the command
    deadline = time.monotonic() + 30
    while annotator_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not annotator_pids()
    assert first.error is None and first.output.exists()
    assert not (tmp_path / "ray.json").exists()
    parts = list((tmp_path / ".ray.json.parts").glob("*.csv"))
    assert 1 <= len(parts) < len(files)

    code, out, err = run(capsys, "annotate", *files, "-o", tmp_path / "ray", "--log", tmp_path / "ray.json",
                         "--weights", tiny_model_file, "--ray", "--workers", "2")
    assert code == 0, err
    assert f"{first.source}: skipped" in out and out.count(": skipped") == len(parts)
    assert f"{len(files) - len(parts)} annotated, {len(parts)} skipped" in out
    assert_same_rows(tmp_path / "ray.json", tmp_path / "seq.json")
    assert read_provenance(tmp_path / "ray.json")["inputs"] == read_provenance(tmp_path / "seq.json")["inputs"]
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == sorted(p.name for p in (tmp_path / "seq").iterdir())
    assert not (tmp_path / ".ray.json.parts").exists()


def test_a_worker_killed_mid_video_has_its_file_done_again(inputs, tiny_model_file, tmp_path):
    long_clip = make_clip(tmp_path / "long.mp4", frames=150)
    being_written = tmp_path / "out" / "long.annotated"  # its video, its logs, all .partial until done
    killed: list[int] = []
    seen: list[tuple[int, int, int, int]] = []

    def kill_the_worker_writing_it(frames: int, total: int, files: int, all_files: int) -> None:
        seen.append((frames, total, files, all_files))
        if not killed and frames > 0 and (pid := pid_writing(being_written)) is not None:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    results = list(annotate_on_ray([long_clip, inputs / "walk.mp4", inputs / "astronaut.jpg"], tiny_model_file,
                                   out=tmp_path / "out", workers=2, progress=kill_the_worker_writing_it))
    assert killed, "the test never caught the worker mid-video"
    deadline = time.monotonic() + 10
    while Path(f"/proc/{killed[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{killed[0]}").exists()
    redone, = [r for r in results if r.source == long_clip]
    assert redone.error is None and redone.attempts == 2 and not redone.worker.startswith(f"pid {killed[0]} ")
    assert all(r.error is None and r.attempts == 1 for r in results if r.source != long_clip)
    assert decode_all(tmp_path / "out" / "long.annotated.mp4")["frames"] == 150
    rows = pd.read_csv(tmp_path / "out" / "long.annotated.csv", comment="#")
    assert rows.frame.tolist() == list(range(150))  # every frame once: nothing lost, nothing twice
    assert not list((tmp_path / "out").glob("*.partial*"))
    sizes = [150, decode_all(inputs / "walk.mp4")["frames"], 1]
    frames, total, files, all_files = seen[-1]  # the progress bar ends full
    assert frames == total == sum(sizes) and files == all_files == 3
    # and moves while a file is under way (the workers are asked), not only when one ends:
    # some count is no sum of whole files. When in the run is up to the machine's load.
    whole_files = {sum(some) for n in range(len(sizes) + 1) for some in combinations(sizes, n)}
    assert any(frames not in whole_files for frames, *_ in seen), seen


@pytest.mark.parametrize("signum, status, message, joins", [
    (signal.SIGTERM, 143, "fer annotate: terminated (SIGTERM)", True),  # a scheduler stopping a job on a cluster
    (signal.SIGINT, 130, "fer annotate: interrupted", False)])  # Ctrl-C, on the instance the command started
def test_a_signal_ends_the_workers_and_leaves_no_partial_file(inputs, tiny_model_file, tmp_path, signum, status,
                                                              message, joins):
    """Ray replaces the SIGTERM handler with one that aborts the process, whether it
    starts an instance or joins one; the command puts its own back: the workers are
    ended, their partial files removed, exit status 143 (130 for Ctrl-C); the output folder
    the run made, left empty, is removed too."""
    clips = [make_clip(tmp_path / f"long{i}.mp4", frames=900) for i in (1, 2)]  # both workers busy
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address} if joins else None
    child = subprocess.Popen([*FER_FROM_A_TERMINAL, "annotate", *map(str, clips), "-o", str(out),
                              "--weights", str(tiny_model_file), "--ray", "--workers", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while len({p.name.split(".")[0] for p in out.glob("long*.annotated.*.partial*")}) < 2:  # both being written
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(signum)
    err = finish_or_show_stacks(child, timeout=120)
    assert child.returncode == status, err
    assert err.rstrip().endswith(message)
    assert not out.exists()


def test_a_worker_starts_without_pandas():
    # Each Ray worker imports this module before its first frame; pandas (0.6 s on the
    # project's machine) is imported only by a run that writes --summary files.
    code = "import sys, fer.io.cluster, fer.cli; print('pandas' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False"


def test_without_ray_one_line_and_exit_status_2(capsys, inputs, tiny_model_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    code, out, err = run(capsys, "annotate", inputs / "walk.mp4", "-o", tmp_path, "--ray",
                         "--weights", tiny_model_file)
    assert code == 2 and out == "" and 'pip install "ray<3,>=2.9"' in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [(["--workers", "2"], "--workers goes with --ray"),
                                           (["--ray", "--workers", "0"], "at least 1")])
def test_option_errors(capsys, inputs, args, message):
    with pytest.raises(SystemExit) as e:
        main(["annotate", str(inputs / "walk.mp4"), *args])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_an_input_taken_for_the_address_is_caught(capsys, inputs):
    with pytest.raises(SystemExit) as e:
        main(["annotate", str(inputs / "walk.mp4"), "--ray", str(inputs / "talk.mov")])
    assert e.value.code == 2 and "put --ray after the inputs" in capsys.readouterr().err


def test_a_local_instance_sends_no_usage_statistics(inputs, tmp_path, monkeypatch):
    # Ray's usage statistics are on unless switched off: the instance --ray starts for the
    # run must see them off when it starts.
    unreachable = UnreachableRay()
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    monkeypatch.setattr("fer.io.cluster.import_ray", lambda: unreachable)
    with pytest.raises(ClusterError, match="stopped here"):
        list(annotate_on_ray([inputs / "astronaut.jpg"], out=tmp_path / "out"))
    assert unreachable.usage_stats == "0"


def test_a_run_that_ends_before_any_input_leaves_no_log_folder(inputs, tmp_path, monkeypatch):
    monkeypatch.setattr("fer.io.cluster.import_ray", UnreachableRay)
    with pytest.raises(ClusterError):
        list(annotate_on_ray([inputs / "astronaut.jpg"], out=tmp_path / "out", log=tmp_path / "all.csv"))
    assert not (tmp_path / ".all.csv.parts").exists()


class UnreachableRay:
    """Stands for ``ray``: not started here, and ``ray.init`` fails, noting the usage
    statistics switch it found."""

    def __init__(self) -> None:
        self.usage_stats: str | None = None

    @staticmethod
    def is_initialized() -> bool:
        return False

    def init(self, **kwargs):
        self.usage_stats = os.environ.get("RAY_USAGE_STATS_ENABLED")
        raise ConnectionError("stopped here")


class RecordingRay:
    """Stands for ``ray`` in :func:`start_ray`: records each ``ray.init``'s arguments and,
    as Ray does when it finds a cluster to join, refuses a CPU count when ``joins``."""

    def __init__(self, joins: bool = False) -> None:
        self.joins, self.inits = joins, []

    def init(self, **kwargs) -> None:
        self.inits.append(kwargs)
        if self.joins and "num_cpus" in kwargs:
            raise ValueError("When connecting to an existing cluster, num_cpus and num_gpus must not be provided.")


@pytest.mark.parametrize("address, workers, joins, cpus", [
    (None, 1, False, [1]),  # a local instance: one CPU per worker, so no spare worker process starts with it
    (None, None, False, [None]),  # one worker per CPU of the machine, Ray's own count
    ("HEAD:6379", 1, False, [None]),  # a cluster named: its CPUs are its own
    (None, 1, True, [1, None])])  # a cluster Ray finds by itself (RAY_ADDRESS, `ray start`): joined as it is
def test_a_local_instance_has_a_cpu_per_worker_and_a_cluster_keeps_its_own(address, workers, joins, cpus):
    fake = RecordingRay(joins)
    start_ray(fake, address, workers)
    assert [init.get("num_cpus") for init in fake.inits] == cpus
    assert all(init["address"] == address and not init["include_dashboard"] for init in fake.inits)


def test_without_an_address_a_running_cluster_is_joined_with_any_worker_count(inputs, tiny_model_file, tmp_path):
    # RAY_ADDRESS names this module's instance: Ray refuses the CPU count a new instance
    # would get, and the command joins the instance as it is.
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    child = subprocess.Popen([*FER_FROM_A_TERMINAL, "annotate", str(inputs / "walk.mp4"), "-o", str(tmp_path),
                              "--weights", str(tiny_model_file), "--ray", "--workers", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    err = finish_or_show_stacks(child, timeout=300)
    assert child.returncode == 0, err
    assert decode_all(tmp_path / "walk.annotated.mp4")["frames"] == decode_all(inputs / "walk.mp4")["frames"]
