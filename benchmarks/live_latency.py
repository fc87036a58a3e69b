"""Capture-to-display latency of the Live page, for 1, 2, 3... concurrent streams: what a
visitor feels between moving and seeing the labelled picture move.

    python benchmarks/live_latency.py [--streams 1 2 3] [--seconds 60] [--max-streams N|server] [--json out.json]

As the browser tests do (``tests/app/browser.py``; needs root, Debian's ``chromium``,
iproute2 and the ``playwright`` package), the Streamlit server and headless Chromium run
in a private network namespace, and Chromium's fake camera plays a generated Y4M file:
a face (scikit-image's astronaut) with a *frame code* in a strip at the bottom, the
frame's index as 10 black-or-white blocks between a white and a black marker.

In each tab the script opens a second ``getUserMedia`` on the same fake camera beside the
annotated video the server sends back. On every frame the page shows
(``requestVideoFrameCallback``) it reads the code of the annotated frame and the code of
the camera frame being captured at that moment: their difference, in frames of the
camera's 30 fps, is the latency from capture to display, through the browser's encoder,
the network, the server (decode, process, encode) and the browser's jitter buffer and
renderer. The resolution is one frame (33 ms).

Tabs are added one by one, each in its own Chromium (as visitors on several devices); for each
stream count, after ``--warmup`` seconds, every tab is measured for ``--seconds``. Printed
per stream count: median, p95 and max latency over all tabs, the growth (slope of a line
through latency against time, ms per second), the median of the window's last third
against its first third (within 20%: no growth, the issue's test), and per tab the
processed frames per second (the page's figure) and the new pictures displayed per
second. The server's limit of streams is set to the
largest count (``FER_MAX_STREAMS``), so every tab streams; ``--max-streams server`` keeps
the server's own default (one stream per two cores) and counts the tabs it turns away
("The camera view is busy"), which is what visitors get by default. Figures from a shared
machine are not comparable to a quiet one's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "app"))

from browser import (  # noqa: E402 - the browser tests' helpers
    NAMESPACE_PREFIX,
    Namespace,
    chromium_args,
    missing_prerequisites,
    streamlit_server,
    wait_for,
    write_y4m,
)

FPS = 30
LOOP_FRAMES = 300  # the fake camera's file: 10 s, then it loops
BITS = 10  # frame codes 0-1023
STRIP = (440, 480)  # rows of the 640x480 frame that carry the code
BLOCK, LEFT = 48, 32  # block width and the strip's left margin, in pixels of 640
PORT = 8541
WEBRTC_IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
PAGE_MS = 120_000


def coded_frames(n: int) -> list[np.ndarray]:
    """The face frames of the browser tests, each with its index as a frame code."""
    from appdata import face_frames
    from skimage import data

    frames = face_frames(data.astronaut(), n)
    for i, frame in enumerate(frames):
        blocks = [1] + [(i >> (BITS - 1 - k)) & 1 for k in range(BITS)] + [0]
        for k, bit in enumerate(blocks):
            frame[STRIP[0]:STRIP[1], LEFT + BLOCK * k:LEFT + BLOCK * (k + 1)] = 255 if bit else 0
    return frames


def vp8_encode_ms(frames: list[np.ndarray]) -> float:
    """Median time aiortc's VP8 encoder (the one the server sends with) takes per frame:
    the cost of every frame sent back."""
    from fractions import Fraction

    import av
    from aiortc.codecs import get_encoder
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    encoder = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96))
    times = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
        start = time.perf_counter()
        encoder.encode(frame)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times[10:])  # after the encoder's first frames


# Runs inside the webrtc component's frame: a second camera beside the annotated video,
# and on every displayed annotated frame a sample [time ms, its code, the camera's code].
MEASURE_JS = """
async ([strip0, strip1, left, block, bits]) => {
  const out = document.querySelector('video');
  const cam = document.createElement('video');
  cam.muted = true; cam.playsInline = true;
  cam.style = 'position:fixed;left:0;bottom:0;width:80px;opacity:0.05';
  document.body.appendChild(cam);
  cam.srcObject = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
  await cam.play();
  const rows = strip1 - strip0;
  const canvas = new OffscreenCanvas(640, rows);
  const g = canvas.getContext('2d', {willReadFrequently: true});
  const code = (v) => {
    const w = v.videoWidth, h = v.videoHeight;
    if (!w || !h) return null;
    g.drawImage(v, 0, h * strip0 / 480, w, h * rows / 480, 0, 0, 640, rows);
    const d = g.getImageData(0, 0, 640, rows).data;
    const bit = (k) => {
      const x = left + block * k + block / 2, y = rows / 2;
      let s = 0;
      for (const dx of [-6, 0, 6]) for (const dy of [-6, 0, 6]) {
        const i = ((y + dy) * 640 + x + dx) * 4;
        s += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      }
      return s / 9 > 128 ? 1 : 0;
    };
    if (bit(0) !== 1 || bit(bits + 1) !== 0) return null;
    let c = 0;
    for (let k = 1; k <= bits; k++) c = c * 2 + bit(k);
    return c;
  };
  const m = window.__ferLatency = {samples: [], cam: null, shown: 0, unreadable: 0};
  const onCam = () => { const c = code(cam); if (c !== null) m.cam = c; cam.requestVideoFrameCallback(onCam); };
  const onOut = (now) => {
    const c = code(out);
    m.shown++;
    if (c === null) m.unreadable++;
    if (c !== null && m.cam !== null) m.samples.push([now, c, m.cam]);
    out.requestVideoFrameCallback(onOut);
  };
  cam.requestVideoFrameCallback(onCam);
  out.requestVideoFrameCallback(onOut);
}
"""


# In every frame, before the page's scripts: keep each RTCPeerConnection, so its own
# statistics can say how long frames wait in the browser (sender's pacer, receiver's
# jitter buffer).
KEEP_PEER_CONNECTIONS_JS = """
(() => {
  const Original = window.RTCPeerConnection;
  if (!Original || window.__ferPcs) return;
  const pcs = window.__ferPcs = [];
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); pcs.push(this); }
  };
})();
"""

BROWSER_STATS_JS = """
async () => {
  const pc = (window.__ferPcs || []).filter((p) => p.connectionState !== 'closed').pop();
  if (!pc) return null;
  const r = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video')
      Object.assign(r, {jitter: s.jitterBufferDelay, emitted: s.jitterBufferEmittedCount,
                        dropped: s.framesDropped, decoded: s.framesDecoded});
    if (s.type === 'outbound-rtp' && s.kind === 'video')
      Object.assign(r, {send: s.totalPacketSendDelay, packets: s.packetsSent, encoded: s.framesEncoded,
                        limitation: s.qualityLimitationReason, width: s.frameWidth});
  });
  return r;
}
"""


def browser_delays(before: dict | None, after: dict | None) -> dict:
    """Over a window, from two of BROWSER_STATS_JS's snapshots: the browser's mean packet
    send delay (its pacer) and mean jitter-buffer delay (its receiver), in ms."""
    if not before or not after:
        return {}

    def mean_ms(total: str, count: str) -> float | None:
        n = after.get(count, 0) - before.get(count, 0)
        return round(1000 * (after.get(total, 0) - before.get(total, 0)) / n, 1) if n > 0 else None

    return {"browser_send_delay_ms": mean_ms("send", "packets"), "jitter_buffer_ms": mean_ms("jitter", "emitted"),
            "frames_dropped_by_browser": after.get("dropped", 0) - before.get("dropped", 0),
            "sent_width": after.get("width"), "encoder_limitation": after.get("limitation")}


def udp_receive_queues(ns: Namespace) -> dict[str, int]:
    """Bytes waiting in the kernel to be read, per process name, summed over its UDP sockets
    in the namespace (``ss``): the server's are packets its event loop has not read yet."""
    listing = subprocess.run(ns.prefix() + ["ss", "-u", "-a", "-n", "-p"], capture_output=True, text=True).stdout
    queued: dict[str, int] = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        name = re.search(r'users:\(\("([^"]+)"', line)
        if len(fields) > 2 and fields[1].isdigit() and name:
            queued[name[1]] = queued.get(name[1], 0) + int(fields[1])
    return queued


def latencies_ms(samples: list[list[float]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Times (s, from the first sample) and latencies (ms) of one tab's samples, and how
    many new pictures were displayed. The codes wrap every LOOP_FRAMES frames; a latency
    is taken as the unwrapped value nearest the previous one, so a latency that grows past
    the loop's 10 s is still followed."""
    times, values, previous, new = [], [], None, 0
    last_code = None
    for now, shown, captured in samples:
        frames = (captured - shown) % LOOP_FRAMES
        if previous is not None:
            frames += LOOP_FRAMES * round((previous - frames) / LOOP_FRAMES)
        previous = frames
        new += shown != last_code
        last_code = shown
        times.append(now / 1000)
        values.append(frames * 1000 / FPS)
    t = np.array(times)
    return t - (t[0] if len(t) else 0), np.array(values), new


def _round(value) -> float | None:
    return None if np.isnan(value) else round(float(value), 1)


def summarize(per_tab: list[dict], seconds: float) -> dict:
    """The figures of one stream count; tabs that displayed no readable frame in the
    window (a picture stuck or never shown) are counted in ``tabs_without_picture``."""
    all_values = np.concatenate([tab["latency_ms"] for tab in per_tab])
    if not len(all_values):
        all_values = np.array([np.nan])
    slopes, first, last = [], [], []
    for tab in per_tab:
        t, v = tab["t"], tab["latency_ms"]
        if len(t) > 2:
            slopes.append(float(np.polyfit(t, v, 1)[0]))
            third = t[-1] / 3
            first.extend(v[t < third])
            last.extend(v[t >= 2 * third])
    return {
        "streams": len(per_tab),
        "tabs_without_picture": sum(not len(tab["latency_ms"]) for tab in per_tab),
        "samples": int(len(all_values)),
        "median_ms": _round(np.median(all_values)),
        "p95_ms": _round(np.percentile(all_values, 95)),
        "max_ms": _round(all_values.max()),
        "growth_ms_per_s": round(max(slopes), 1) if slopes else None,
        "first_third_median_ms": round(float(np.median(first)), 1) if first else None,
        "last_third_median_ms": round(float(np.median(last)), 1) if last else None,
        # the test for "no growth": the last third's median within 20% of the first third's
        "bounded": bool(first and last and np.median(last) <= 1.2 * np.median(first)),
        "processed_fps": [tab["processed_fps"] for tab in per_tab],
        "displayed_fps": [round(tab["new_pictures"] / seconds, 1) for tab in per_tab],
        "server_delay_ms": [tab["server_delay_ms"] for tab in per_tab],
        # per tab: video frame callbacks in the window, how many had no readable code, the page's visibility
        "frame_callbacks": [tab["callbacks"] for tab in per_tab],
        "unreadable": [tab["unreadable"] for tab in per_tab],
        "visibility": [tab["visibility"] for tab in per_tab],
        # per tab, from the browser's WebRTC statistics over the window
        "browser": [tab["browser"] for tab in per_tab],
    }


def page_figures(page) -> dict:
    """The page's own figures: processed fps and the server's delay."""
    text = page.locator(".st-key-live-stats").inner_text()
    fps = re.search(r"Processed fps\s+([\d.]+)", text)
    delay = re.search(r"Delay\s+(\d+) ms", text)
    frames = re.search(r"Frames\s+(\d+)", text)
    return {"processed_fps": float(fps[1]) if fps else None, "server_delay_ms": int(delay[1]) if delay else None,
            "frames": int(frames[1]) if frames else 0}


def open_stream(browser, url: str):
    """A new tab on the Live page with its stream started and measured, or None when the
    server turned it away (admission control: "The camera view is busy")."""
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.add_init_script(KEEP_PEER_CONNECTIONS_JS)
    page.goto(url, timeout=PAGE_MS)
    camera, busy = page.locator(WEBRTC_IFRAME), page.get_by_text("The camera view is busy")
    wait_for(lambda: camera.count() > 0 or busy.count() > 0, PAGE_MS / 1000, "the camera view or the busy message")
    if busy.count():
        return None
    component = page.frame_locator(WEBRTC_IFRAME)
    clicked = [0.0]

    def started() -> bool:
        if component.get_by_role("button", name="Stop").count():
            return True
        start = component.get_by_role("button", name="Start")
        if start.count() and time.monotonic() - clicked[0] > 3:  # a rerun may swallow a click: click again
            start.click(timeout=PAGE_MS)
            clicked[0] = time.monotonic()
        return False

    wait_for(started, PAGE_MS / 1000, "the stream to start")
    wait_for(lambda: page_figures(page)["frames"] > 0, 120, "the first processed frame")
    frame = page.locator(WEBRTC_IFRAME).element_handle().content_frame()
    frame.wait_for_function("() => { const v = document.querySelector('video'); return v && v.videoWidth > 0; }",
                            timeout=PAGE_MS)
    frame.evaluate(MEASURE_JS, [STRIP[0], STRIP[1], LEFT, BLOCK, BITS])
    return page, frame


def measure(streams: list[int], seconds: float, warmup: float, workdir: Path, limit: int | None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    frames = coded_frames(LOOP_FRAMES)
    print(f"VP8 encode, 640x480 face frame: {vp8_encode_ms(frames[:90]):.1f} ms (median of 80)", flush=True)
    camera = write_y4m(workdir / "coded-face.y4m", frames, fps=FPS)
    del frames
    # Not mirrored (an operator default): the frame code is read left to right.
    env = {"FER_ICE_SERVERS": "", "FER_MIRROR": "false"} | ({"FER_MAX_STREAMS": str(limit)} if limit else {})
    results = []
    print(HEADER, flush=True)
    with Namespace(f"{NAMESPACE_PREFIX}{os.getpid()}") as ns, \
            streamlit_server(ns, PORT, env, workdir / "streamlit.log"), sync_playwright() as p:
        browsers, tabs, refused = [], [], 0
        for count in sorted(streams):
            while len(tabs) + refused < count:
                # A browser per tab: in one Chromium, a third tab's camera stopped the first two tabs' streams.
                browsers.append(p.chromium.launch(executable_path=str(ns.chromium_wrapper(workdir)),
                                                  args=chromium_args(camera)))
                tab = open_stream(browsers[-1], f"http://localhost:{PORT}")
                if tab is None:
                    refused += 1
                else:
                    tabs.append(tab)
            time.sleep(warmup)  # let the new stream settle: a measurement window, not synchronisation
            for _, frame in tabs:
                frame.evaluate("() => { Object.assign(window.__ferLatency, {samples: [], shown: 0, unreadable: 0}); }")
            before = [frame.evaluate(BROWSER_STATS_JS) for _, frame in tabs]
            end, udp = time.monotonic() + seconds, {}
            while time.monotonic() < end:  # the measurement window, sampling the sockets' queues
                for name, size in udp_receive_queues(ns).items():
                    udp[name] = max(udp.get(name, 0), size)
                time.sleep(min(2.0, max(0.0, end - time.monotonic())))
            per_tab = []
            for (page, frame), stats_before in zip(tabs, before):
                m = frame.evaluate("() => ({...window.__ferLatency, visibility: document.visibilityState})")
                t, values, new = latencies_ms(m["samples"])
                per_tab.append({"t": t, "latency_ms": values, "new_pictures": new, "callbacks": m["shown"],
                                "unreadable": m["unreadable"], "visibility": m["visibility"], **page_figures(page),
                                "browser": browser_delays(stats_before, frame.evaluate(BROWSER_STATS_JS))})
            results.append(summarize(per_tab, seconds) | {"tabs": count, "tabs_refused": refused,
                                                           "udp_receive_queue_max_bytes": udp})
            print(format_row(results[-1]), flush=True)
            print("  most bytes waiting in UDP receive queues: "
                  + (", ".join(f"{k} {v}" for k, v in udp.items()) or "none"), flush=True)
            for i, figures in enumerate(results[-1]["browser"]):
                print(f"  tab {i + 1} in the browser: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
        for browser in browsers:
            browser.close()
    return results


HEADER = ("tabs | streams | latency median | p95 | max | growth | first third -> last third | processed fps | "
          "displayed fps | server delay | tabs without picture | tabs turned away")


def _ms(value: float | None) -> str:
    return "-" if value is None or np.isnan(value) else f"{value:.0f} ms"


def format_row(r: dict) -> str:
    growth = "-" if r["growth_ms_per_s"] is None else f"{r['growth_ms_per_s']:+.1f} ms/s"
    return (f"{r['tabs']} | {r['streams']} | {_ms(r['median_ms'])} | {_ms(r['p95_ms'])} | {_ms(r['max_ms'])} | "
            f"{growth} | "
            f"{_ms(r['first_third_median_ms'])} -> {_ms(r['last_third_median_ms'])}"
            f" ({'within' if r['bounded'] else 'NOT within'} 20%)"
            f" | {', '.join(f'{x:.1f}' for x in r['processed_fps'] if x is not None)} | "
            f"{', '.join(f'{x:.1f}' for x in r['displayed_fps'])} | "
            f"{', '.join(f'{x} ms' for x in r['server_delay_ms'] if x is not None)} | {r['tabs_without_picture']}"
            f" | {r['tabs_refused']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 3], help="stream counts to measure")
    parser.add_argument("--seconds", type=float, default=60, help="measurement window per stream count")
    parser.add_argument("--warmup", type=float, default=10, help="seconds before each window")
    parser.add_argument("--max-streams", default="",
                        help="the server's stream limit: a number, or 'server' for its own default "
                             "(default: the largest --streams count, so every tab streams)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if args.max_streams not in ("", "server") and not (args.max_streams.isdigit() and int(args.max_streams) > 0):
        print("--max-streams takes a positive number or 'server'", file=sys.stderr)
        return 2
    limit = None if args.max_streams == "server" else int(args.max_streams or max(args.streams))
    missing = missing_prerequisites()
    if missing:
        print("live_latency.py needs " + "; ".join(missing), file=sys.stderr)
        return 2
    if min(args.streams) < 1 or args.seconds <= 0:
        print("--streams must be positive counts and --seconds positive", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fer-live-latency-") as folder:
        results = measure(args.streams, args.seconds, args.warmup, Path(folder), limit)
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "seconds": args.seconds,
                                         "max_streams": args.max_streams or max(args.streams),
                                         "load_average": os.getloadavg(), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
