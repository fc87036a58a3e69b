"""What a live frame costs the server at the camera sizes the app could ask for.

The Live and Booth pages ask the camera for 640x480. A 1280x720 camera shows a face
standing back with 1.5 times the pixels, but each frame costs more: the frame pipeline
(detect, classify, track, draw) and the VP8 encode of the labelled frame sent back (the
server also decodes each camera frame; not measured here). This prints, per size,
detector and minimum face size, the median milliseconds per frame of each and the frames
per second they would allow on their own, measured in one run so that they compare on one
machine state::

    python benchmarks/camera_size.py                       # 640x480 and 1280x720, haar and blazeface
    python benchmarks/camera_size.py --min-face 0.12 0.07 --frames 90 --json out.json

The frames are the browser tests' webcam frames (scikit-image's astronaut, drifting a
few pixels), scaled to each size, so the face fills the same share of every frame.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "app"))
sys.path.insert(0, str(REPO / "benchmarks"))


def pipeline_ms(frames: list[np.ndarray], detector: str, min_face: float) -> float:
    """Median milliseconds per frame of one live stream's pipeline (tracking on)."""
    from fer.engine.settings import Settings
    from fer.recognizer import EmotionRecognizer

    stream = EmotionRecognizer().new_stream(Settings(detector=detector, min_face=min_face), camera=True)
    times = []
    for rgb in frames:
        start = time.perf_counter()
        stream.process(rgb)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times[10:])  # after the first full scans and warm-up


def main() -> int:
    from appdata import face_frames
    from live_latency import vp8_encode_ms
    from skimage import data

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1280x720"], help="camera sizes, WxH")
    parser.add_argument("--detectors", nargs="+", default=["haar", "blazeface"], help="face detectors to compare")
    parser.add_argument("--min-face", nargs="+", type=float, default=[0.12, 0.07],
                        help="minimum face sizes to compare (fraction of the frame's shorter side)")
    parser.add_argument("--frames", type=int, default=60, help="frames per measurement (default: 60)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    rows = []
    load_before = os.getloadavg()
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        frames = face_frames(data.astronaut(), args.frames, (w, h))
        encode = vp8_encode_ms(frames)
        for detector in args.detectors:
            for min_face in args.min_face:
                process = pipeline_ms(frames, detector, min_face)
                rows.append({"size": size, "detector": detector, "min_face": min_face, "pipeline_ms": round(process, 1),
                             "vp8_encode_ms": round(encode, 1), "fps_bound": round(1000 / (process + encode), 1)})
                print(f"{size:>9} {detector:>9} min_face {min_face:.2f}: pipeline {process:6.1f} ms + VP8 encode "
                      f"{encode:5.1f} ms per frame -> at most {1000 / (process + encode):5.1f} fps", flush=True)
    report = {"rows": rows, "frames": args.frames, "cpus": os.cpu_count(),
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    print(f"load average {report['load_average_before']} -> {report['load_average_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
