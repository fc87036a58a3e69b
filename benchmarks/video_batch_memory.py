"""Peak memory of the app's server annotating a batch of videos on the Video page, against
a single video: the figures behind the README's statement that a batch costs about what
one video costs.

    python benchmarks/video_batch_memory.py [--clips 5] [--seconds 30] [--json out.json]

For each case (one clip, then ``--clips`` clips) a fresh server (``streamlit run
streamlit_app.py`` on localhost) and headless Chromium (Debian's ``chromium`` driven by
Playwright, as in the browser tests) do what a user does: open the Video page, upload
the clips, wait for the batch to end, download the zip. The server's peak resident memory
(``VmHWM`` in ``/proc/PID/status``) is read at the end; it includes the model, the
uploads Streamlit holds while they are copied, the video shown on the page and the zip,
which Streamlit serves from memory. The clips are ``fer bench``'s: 640x480, 30 fps, a
drifting face and an AAC track (:func:`fer.bench.make_clip`).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("FER_CHROMIUM", "/usr/bin/chromium")
PAGE_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak, in MB."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {"rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "peak_mb": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}


def start_server(port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.2)


def run_case(browser, clips: list[Path], workdir: Path) -> dict:
    """One fresh server, one upload of ``clips``, the zip downloaded; the server's memory."""
    import re

    port = free_port()
    server = start_server(port, workdir / f"server-{len(clips)}.log")
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/video", timeout=PAGE_MS)
        page.locator("input[type=file]").wait_for(state="attached", timeout=PAGE_MS)
        before = memory_mb(server.pid)
        start = time.monotonic()
        page.locator("input[type=file]").set_input_files([str(c) for c in clips])
        button = page.get_by_role("button", name=re.compile("^Download all"))
        button.wait_for(timeout=3_600_000)
        seconds = time.monotonic() - start
        with page.expect_download(timeout=PAGE_MS) as download:
            button.click()
        archive = workdir / f"batch-{len(clips)}.zip"
        download.value.save_as(archive)
        with zipfile.ZipFile(archive) as z:
            videos = [n for n in z.namelist() if n.endswith(".mp4")]
            assert len(videos) == len(clips), f"the zip holds {len(videos)} videos, not {len(clips)}"
        after = memory_mb(server.pid)
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"clips": len(clips), "upload_mb": round(sum(c.stat().st_size for c in clips) / 2**20, 1),
            "zip_mb": round(archive.stat().st_size / 2**20, 1), "seconds": round(seconds, 1),
            "server_rss_before_upload_mb": before["rss_mb"], "server_peak_mb": after["peak_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=5, help="clips in the batch (default 5)")
    parser.add_argument("--seconds", type=float, default=30, help="length of each clip in seconds (default 30)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from fer.bench import make_clip

    with tempfile.TemporaryDirectory(prefix="fer-batch-memory-") as tmp:
        workdir = Path(tmp)
        print(f"making {args.clips} clips of {args.seconds:g} s ...", file=sys.stderr)
        clips = [make_clip(workdir / f"clip{i + 1}.mp4", args.seconds) for i in range(args.clips)]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                         "--no-first-run", "--disable-sync"])
            report = {}
            for name, batch in (("single_clip", clips[:1]), (f"batch_of_{args.clips}", clips)):
                print(f"{name}: uploading {len(batch)} clip(s) to a fresh server ...", file=sys.stderr)
                report[name] = run_case(browser, batch, workdir)
            browser.close()
    single, batch = report["single_clip"], report[f"batch_of_{args.clips}"]
    report["difference_mb"] = round(batch["server_peak_mb"] - single["server_peak_mb"], 1)
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))
    print(f"server peak memory: one {args.seconds:g}-second clip {single['server_peak_mb']:.0f} MB, "
          f"{args.clips} clips {batch['server_peak_mb']:.0f} MB: {report['difference_mb']:+.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
