"""A real browser against the real app: the Streamlit server and headless Chromium both run
inside a network namespace the test creates, with a fake camera playing a face video.

Why a namespace: aiortc never offers loopback ICE candidates, and traffic may only go to
hosts the test creates; a veth pair inside a private namespace gives both ends real
addresses that exist nowhere else (see ../shared/TESTING-WEBRTC.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FER_CHROMIUM", "/usr/bin/chromium")
T = TypeVar("T")


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run the browser tests; empty when they can run."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (to create a network namespace)")
    if not shutil.which("ip"):
        missing.append("the `ip` command (Debian package iproute2)")
    if not Path(CHROMIUM).is_file():
        missing.append(f"Chromium at {CHROMIUM} (Debian package chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    return missing


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    """A Y4M file Chromium's fake camera plays in a loop (RGB frames, even sizes)."""
    import cv2

    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


NAMESPACE_PREFIX = "fer-test-"


def remove_stale_namespaces() -> None:
    """Delete namespaces left by test runs that were killed (their pid no longer exists)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in (line.split()[0] for line in listing.splitlines() if line.startswith(NAMESPACE_PREFIX)):
        pid = name.removeprefix(NAMESPACE_PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _die_with_parent() -> None:
    """In a child process: get SIGTERM when the test process dies, even if it is killed."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Namespace:
    """A private network namespace with a veth pair whose both ends live inside it."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> Namespace:
        remove_stale_namespaces()
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        try:
            # No IPv6: the veth pair's link-local addresses would finish duplicate-address
            # detection a second or two after the links come up, which Chromium takes for a
            # network change, aborting every request in flight (ERR_NETWORK_CHANGED): a
            # first page loading then stays blank (../shared/TESTING-WEBRTC.md).
            subprocess.run(self.prefix() + ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                                            "net.ipv6.conf.default.disable_ipv6=1"], check=True, capture_output=True)
            for cmd in ("link set lo up", "link add veth0 type veth peer name veth1",
                        "addr add 10.77.0.1/24 dev veth0", "addr add 10.77.0.2/24 dev veth1",
                        "link set veth0 up", "link set veth1 up"):
                subprocess.run(self.prefix() + ["ip", *cmd.split()], check=True, capture_output=True)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def set_links(self, up: bool) -> None:
        """Take the veth pair down (only loopback left: WebRTC cannot connect) or up again."""
        for dev in ("veth0", "veth1"):
            subprocess.run(self.prefix() + ["ip", "link", "set", dev, "up" if up else "down"], check=True)
        if up:  # addresses on a link that went down lose their routes; restore them
            subprocess.run(self.prefix() + ["ip", "route", "replace", "10.77.0.0/24", "dev", "veth0"], check=False)

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def chromium_wrapper(self, folder: Path) -> Path:
        """An executable that starts Chromium inside the namespace (Playwright's pipe to it
        is inherited through ``ip netns exec``)."""
        path = folder / "chromium-in-netns"
        path.write_text(f"#!/bin/sh\nexec {' '.join(self.prefix())} {CHROMIUM} \"$@\"\n")
        path.chmod(0o755)
        return path


@contextmanager
def streamlit_server(ns: Namespace, port: int, env: dict[str, str], log: Path,
                     script: str = "streamlit_app.py") -> Iterator[float]:
    """Run ``streamlit run streamlit_app.py`` in the namespace; yields the seconds it took
    to answer its health check."""
    cmd = ns.prefix() + [sys.executable, "-m", "streamlit", "run", script,
                         "--server.port", str(port), "--server.address", "0.0.0.0",
                         "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    start = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
    try:
        poll = ("import time, urllib.request\n"
                "deadline = time.monotonic() + 60\n"
                "while True:\n"
                "    try:\n"
                f"        urllib.request.urlopen('http://localhost:{port}/_stcore/health', timeout=2); break\n"
                "    except OSError:\n"
                "        if time.monotonic() > deadline: raise SystemExit('no health answer in 60 s')\n"
                "        time.sleep(0.1)\n")
        ready = subprocess.run(ns.prefix() + [sys.executable, "-c", poll], capture_output=True, text=True)
        if ready.returncode != 0 or proc.poll() is not None:
            raise RuntimeError(f"Streamlit did not start: {ready.stderr.strip()}\n{log.read_text()[-3000:]}")
        yield time.monotonic() - start
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chromium_args(camera: Path) -> list[str]:
    return ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
            "--disable-features=WebRtcHideLocalIpsWithMdns"]


def green_pixels(png: bytes, color: tuple[int, int, int] = (0, 255, 0)) -> int:
    """How many pixels of a screenshot are (nearly) the overlay colour."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    rgb = bgr[..., ::-1].astype(int)
    return int((np.abs(rgb - np.array(color)).max(-1) < 40).sum())


WEBRTC_IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'


def start_stream(page, timeout_s: float = 120.0) -> float:
    """Click the camera component's Start and wait until it shows Stop; the time of the
    first click. On the server's first page a rerun can replace the component just as the
    click lands, leaving Start showing: then click it again (3 s after the last click)."""
    component = page.frame_locator(WEBRTC_IFRAME)
    clicks: list[float] = []

    def started() -> bool:
        if component.get_by_role("button", name="Stop").count():
            return True
        start_button = component.get_by_role("button", name="Start")
        if start_button.count() and (not clicks or time.monotonic() - clicks[-1] > 3.0):
            start_button.click(timeout=timeout_s * 1000)
            clicks.append(time.monotonic())
        return False

    wait_for(started, timeout_s, "the stream to start (Stop button)")
    return clicks[0]
