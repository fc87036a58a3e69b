"""``fer annotate`` ended by SIGTERM or Ctrl-C (SIGINT) in the middle of a video: partial
files and temporary folders are removed, the message has its own line, and the exit
status is 143 or 130."""

import os
import signal
import subprocess
import time

import pytest
from media import make_clip
from processes import FER_FROM_A_TERMINAL, finish_or_show_stacks


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=900, fps=30)


def shown(err: str) -> list[str]:
    """The lines a terminal shows: a progress bar cleared with a carriage return is gone."""
    return [line.split("\r")[-1] for line in err.split("\n") if line.split("\r")[-1].strip()]


@pytest.mark.parametrize("signum, status, message", [(signal.SIGTERM, 143, "fer annotate: terminated (SIGTERM)"),
                                                     (signal.SIGINT, 130, "fer annotate: interrupted")])
def test_a_signal_mid_video_leaves_nothing_behind(long_clip, tiny_model_file, tmp_path, signum, status, message):
    out, temp = tmp_path / "out", tmp_path / "temp"
    temp.mkdir()
    child = subprocess.Popen([*FER_FROM_A_TERMINAL, "annotate", str(long_clip), "-o", str(out),
                              "--log", str(out / "all.csv"), "--weights", str(tiny_model_file)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": str(temp)})
    deadline = time.monotonic() + 120
    while not list(out.glob("*.partial")):  # the video is being written
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(signum)
    err = finish_or_show_stacks(child, timeout=60)
    assert child.returncode == status, err
    assert shown(err)[-1] == message
    assert not out.exists() and list(temp.iterdir()) == []  # the run made the folder and wrote nothing there
