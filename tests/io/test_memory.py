"""Memory stays bounded whatever the input: a PNG bomb named .mp4 and an 8K clip are
refused from their headers, and a run that meets them peaks well under 1.5 GB.

Peak memory is the command's own maximum resident set size, as the kernel counts it
(``os.wait4``)."""

import subprocess
import sys

import pytest
from media import huge_png, make_clip

from fer.io.video import VideoError, annotate_video

LIMIT_MB = 1500


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    huge_png(folder / "bomb.mp4", 16000, 12000)  # 187 kB on disk, 192 megapixels decoded
    make_clip(folder / "8k.mp4", frames=4, size=(7680, 4320), fps=2)
    return folder


#: Runs argv[1:] and prints its exit status and peak RSS in kB. Linux counts the memory of
#: the process that forked a child into the child's peak, so the command is started from
#: this small process rather than from pytest's large one.
MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss_mb(argv: list[str]) -> tuple[int, float, str]:
    """Run ``argv``; its exit status, peak resident memory in MB and stderr."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, check=True)
    code, peak_kb = done.stdout.split()
    return int(code), int(peak_kb) / 1024, done.stderr


def test_png_bomb_named_mp4_and_8k_clip_stay_under_the_memory_limit(big_inputs, tiny_model_file, tmp_path):
    code, peak, err = peak_rss_mb([sys.executable, "-m", "fer", "annotate", str(big_inputs / "bomb.mp4"),
                                   str(big_inputs / "8k.mp4"), "-o", str(tmp_path), "--weights", str(tiny_model_file)])
    print(f"peak RSS {peak:.0f} MB")
    assert code == 2 and peak < LIMIT_MB
    assert "bomb.mp4 has 192 megapixels, too large" in err  # read as the image it is, whatever its name
    assert "8k.mp4 has 7680x4320 frames, too large" in err and "4K" in err
    assert list(tmp_path.iterdir()) == []


def test_the_frame_size_is_checked_from_the_header_by_the_api(big_inputs, tiny_recognizer, tmp_path):
    for name, size in (("bomb.mp4", "16000x12000"), ("8k.mp4", "7680x4320")):
        with pytest.raises(VideoError, match=f"{size} frames, too large"):
            annotate_video(big_inputs / name, tmp_path / "out.mp4", tiny_recognizer.new_stream())
    assert list(tmp_path.iterdir()) == []
