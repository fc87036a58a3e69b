"""``fer bench``: latency of the live path and throughput of video annotation, as JSON.

Test frames and clips are built here from a real face (scikit-image's ``astronaut``, a
public-domain NASA portrait; FER2013 faces from ``../shared`` when scikit-image is not
installed), never from files in the repository:

* classifier: milliseconds per face for the model alone on batches of 1 and 16
  48x48 faces (what an image of one person and a crowded frame cost), ten-crop off
  and on, median and 95th percentile, in each precision asked for (``--precision
  float32 int8`` compares them in one run);
* live: a 640x480 stream in which one or four faces drift slowly, through one
  :class:`~fer.engine.pipeline.FramePipeline` per face detector and precision, ten-crop
  off and on; per-frame milliseconds for each stage (detection, grayscale conversion and crops,
  the network, tracking, drawing and fitting to the display) and the whole frame,
  median and 95th percentile: where a frame's time goes;
* full scan: one detector's whole-frame scan of the live scenes' frames, alone, median
  and 95th percentile (what a stream runs every ``full_scan_every`` frames beside them);
* video: a 640x480 30 fps clip with a moving face annotated end to end (decode, detect,
  classify, draw, encode), in a fresh process per clip length, so that each reports its
  own peak resident memory: equal peaks for a short and a long clip show that memory
  does not grow with the video's length.

Everything runs on the CPU, whatever else the machine has. The numbers depend on what
else the machine is doing: the JSON records the load average before and after.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import queue as queue_module
import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from textwrap import fill
from typing import Any

import numpy as np

SIZE = (640, 480)
VIDEO_FPS = 30  # the benchmark clip's frame rate
#: Faces per call of the classifier alone, and faces per frame of the live path.
CLASSIFIER_BATCHES = (1, 16)
LIVE_FACES = (1, 4)
#: The frame pipeline's stages, as ``FramePipeline.timings`` names them.
STAGES = ("detect", "crop", "classify", "track", "draw")


def classifier_key(batch: int, tencrop: bool) -> str:
    return f"batch_{batch}_tencrop_{'on' if tencrop else 'off'}"


def live_key(faces: int, tencrop: bool) -> str:
    return f"{faces}_face{'s' if faces > 1 else ''}_tencrop_{'on' if tencrop else 'off'}"


def frame_name(faces: int, tencrop: bool) -> str:
    """A live measurement as the README's tables name it: "4 faces, ten-crop"."""
    return f"{faces} face{'s' if faces > 1 else ''}" + (", ten-crop" if tencrop else "")


def face_images(n: int) -> list[np.ndarray]:
    """``n`` RGB face patches (head and shoulders, square)."""
    try:
        from skimage import data

        face = data.astronaut()[10:230, 115:335]
        return [face if i % 2 == 0 else face[:, ::-1].copy() for i in range(n)]
    except ImportError:
        from fer.training.data import load_fer2013

        source = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013.tar.gz"
        faces, _ = load_fer2013(source).split("PublicTest")
        return [np.repeat(np.pad(faces[i], 24, mode="edge")[..., None], 3, axis=2) for i in range(n)]


class Scene:
    """640x480 frames with ``faces`` faces that drift a little from frame to frame."""

    def __init__(self, faces: int, size: tuple[int, int] = SIZE):
        import cv2

        self.w, self.h = size
        cols = 1 if faces == 1 else 2
        rows = -(-faces // cols)
        self.side = int(min(self.w / cols, self.h / rows) * (0.6 if faces == 1 else 0.8))
        self.patches = [cv2.resize(p, (self.side, self.side), interpolation=cv2.INTER_AREA) for p in face_images(faces)]
        self.cells = [((c + 0.5) * self.w / cols, (r + 0.5) * self.h / rows) for r in range(rows) for c in range(cols)]
        self.background = np.full((self.h, self.w, 3), 96, np.uint8)

    def frame(self, t: int) -> np.ndarray:
        frame = self.background.copy()
        for i, (patch, (cx, cy)) in enumerate(zip(self.patches, self.cells)):
            x = int(np.clip(cx - self.side / 2 + 12 * np.sin(t / 15 + i), 0, self.w - self.side))
            y = int(np.clip(cy - self.side / 2 + 6 * np.cos(t / 20 + i), 0, self.h - self.side))
            frame[y:y + self.side, x:x + self.side] = patch
        return frame


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def stats(values: list[float]) -> dict[str, float]:
    return {"median": round(float(np.median(values)), 2), "p95": round(float(np.percentile(values, 95)), 2)}


def bench_classifier(classifier, batch: int, tencrop: bool, repeats: int, warmup: int = 10) -> dict[str, Any]:
    """Milliseconds per call and per face of ``classifier.predict_proba`` on ``batch`` faces."""
    import cv2

    size = classifier.face_size
    gray = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (size, size), interpolation=cv2.INTER_AREA)
            for f in face_images(batch)]
    faces = np.stack(gray)
    calls = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        classifier.predict_proba(faces, tencrop=tencrop)
        if i >= warmup:
            calls.append((time.perf_counter() - start) * 1000)
    return {"call_ms": stats(calls), "per_face_ms": stats([c / batch for c in calls]), "repeats": repeats}


def bench_live(recognizer, faces: int, tencrop: bool, frames: int, warmup: int = 20,
               detector: str = "haar") -> dict[str, Any]:
    """Milliseconds per frame; ``total_cpu_ms`` is the process's CPU time per frame, which
    stays near ``total_ms`` on an idle machine and below it when other work competes."""
    warmup = min(warmup, frames)
    scene = Scene(faces)
    clips = [scene.frame(t) for t in range(frames + warmup)]
    pipeline = recognizer.new_stream(recognizer.settings.replace(tencrop=tencrop, detector=detector))
    timings, found = {**{stage: [] for stage in STAGES}, "total": [], "total_cpu": []}, []
    for t, frame in enumerate(clips):
        start, cpu = time.perf_counter(), time.process_time()
        _, result = pipeline.process(frame)
        total, total_cpu = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
        if t >= warmup:
            for stage in STAGES:
                timings[stage].append(pipeline.timings[stage])
            timings["total"].append(total)
            timings["total_cpu"].append(total_cpu)
            found.append(len(result))
    return {**{f"{k}_ms": stats(v) for k, v in timings.items()},
            "faces_found_per_frame": round(float(np.mean(found)), 3), "frames": frames}


def bench_full_scan(settings, faces: int, scans: int, warmup: int = 3) -> dict[str, Any]:
    """Milliseconds of one full scan of the live scene's frame by the detector of
    ``settings``, alone (a stream runs one every ``full_scan_every`` frames on a thread
    beside its frames)."""
    from fer.engine.detect import make_detector

    scene = Scene(faces)
    scanner = make_detector(settings)
    times = []
    for t in range(warmup + scans):
        frame = scene.frame(t)
        start = time.perf_counter()
        scanner.detect(frame)
        if t >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    return {"ms": stats(times), "scans": scans}


def make_clip(path: Path, seconds: float, fps: int = VIDEO_FPS, size: tuple[int, int] = SIZE) -> Path:
    """An H.264 clip of a drifting face, with a silent AAC track (videos usually have one)."""
    import av

    scene = Scene(1, size)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        v.codec_context.options = {"preset": "ultrafast"}
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        for t in range(int(seconds * fps)):
            out.mux(v.encode(av.VideoFrame.from_ndarray(scene.frame(t), format="rgb24")))
        out.mux(v.encode(None))
        for start in range(0, int(seconds * 16000), 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
            out.mux(a.encode(frame))
        out.mux(a.encode(None))
    return path


def _video_child(weights: str | None, src: str, dst: str, precision: str, queue) -> None:
    """Runs in a fresh process: load the model, annotate, report time and peak memory."""
    try:
        from fer.recognizer import EmotionRecognizer

        rec = EmotionRecognizer(weights, device="cpu", precision=precision)
        start, cpu = time.perf_counter(), time.process_time()
        summary = rec.annotate_video(src, dst)
        seconds = time.perf_counter() - start
        queue.put({"frames": summary.frames, "seconds": round(seconds, 2), "fps": round(summary.frames / seconds, 1),
                   "cpu_seconds": round(time.process_time() - cpu, 2), "face_rows": summary.face_rows,
                   "peak_rss_mb": peak_rss_mb()})
    except BaseException as e:  # reported by the parent
        queue.put({"error": f"{type(e).__name__}: {e}"})


def peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` rather than ``ru_maxrss``: Linux
    carries ``ru_maxrss`` over from the parent into a spawned child."""
    try:
        with open("/proc/self/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes, but bytes on macOS
        kb /= 1024 if sys.platform == "darwin" else 1
    return round(kb / 1024, 1)


def _child_result(child, results) -> dict[str, Any]:
    """The child's report; an error one if it died without one (killed, out of memory)."""
    while True:
        try:
            return results.get(timeout=1.0)
        except queue_module.Empty:
            if not child.is_alive():
                return {"error": f"the video process ended with exit code {child.exitcode} and no result"}


def bench_video(weights: str | None, seconds_list: list[float], workdir: Path,
                precision: str = "auto") -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    results = {}
    for seconds in seconds_list:
        src = make_clip(workdir / f"clip{seconds:g}s.mp4", seconds)
        queue = ctx.Queue()
        child = ctx.Process(target=_video_child, args=(weights, str(src), str(workdir / f"out{seconds:g}s.mp4"),
                                                              precision, queue))
        child.start()
        try:
            result = _child_result(child, queue)
        finally:
            if child.is_alive():  # interrupted: the clip's annotation is not worth waiting for
                child.terminate()
            child.join()
            queue.close()
        if "error" in result:
            raise RuntimeError(f"video benchmark failed: {result['error']}")
        results[f"{seconds:g}s"] = result
    return results


def check_lengths(frames: int, video_seconds: tuple[float, ...]) -> None:
    """Raise ValueError for lengths no benchmark can run: checked before any model loads."""
    if frames < 1:
        raise ValueError(f"--frames {frames}: at least 1")
    if any(not 1 / VIDEO_FPS <= s < float("inf") for s in video_seconds):
        raise ValueError(f"--video-seconds: every length must be a number of seconds, at least one frame "
                         f"(1/{VIDEO_FPS} s)")


def run(weights: str | os.PathLike | None = None, frames: int = 300, video_seconds: tuple[float, ...] = (10, 60),
        detectors: tuple[str, ...] = ("haar", "blazeface"), precisions: tuple[str, ...] = ("auto",),
        log=print) -> dict[str, Any]:
    """Run every benchmark and return the JSON-able results: the classifier and the live
    path once per precision asked for (``classifier_48x48[precision]``,
    ``live_640x480[detector][precision]``, keyed by the precision each ran in: ``auto``
    is resolved), the video once, in the first precision."""
    import cv2
    import torch

    from fer.engine.classify import resolve_precision
    from fer.recognizer import EmotionRecognizer

    check_lengths(frames, video_seconds)
    load_before = os.getloadavg()
    recognizers = {}
    for asked in dict.fromkeys(precisions):
        rec = EmotionRecognizer(weights, device="cpu", precision=asked)  # the figures are the CPU's, as labelled
        recognizers.setdefault(rec.classifier.precision, rec)
    first = next(iter(recognizers.values()))
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_name(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "torch_threads": torch.get_num_threads(), "classifier_workers": first.classifier.workers,
                    "opencv_threads": cv2.getNumThreads(),
                    "precisions": list(recognizers),
                    "auto_precision": resolve_precision("auto", torch.device("cpu"),
                                                        all(m.meta.int8 for m in first.classifier.members))},
        "model": {"file": str(first.weights),
                  "members": [{"arch": m.meta.arch, "weight": m.weight, "zooms": list(m.zooms)}
                              for m in first.classifier.members]},
        "settings": first.settings.as_dict(),
        "classifier_48x48": {},
        "live_640x480": {detector: {} for detector in detectors},
        "full_scan_640x480": {detector: {} for detector in detectors},
    }
    for precision, rec in recognizers.items():
        report["classifier_48x48"][precision] = {}
        for batch in CLASSIFIER_BATCHES:
            for tencrop in (False, True):
                key = classifier_key(batch, tencrop)
                log(f"classifier: {precision}, {key} ...")
                report["classifier_48x48"][precision][key] = bench_classifier(rec.classifier, batch, tencrop, frames)
    for detector in detectors:
        for faces in LIVE_FACES:
            log(f"full scan: {detector}, {frame_name(faces, False)} ...")
            report["full_scan_640x480"][detector][frame_name(faces, False)] = bench_full_scan(
                first.settings.replace(detector=detector), faces, min(frames, 30))
        for precision, rec in recognizers.items():
            live = report["live_640x480"][detector][precision] = {}
            for faces in LIVE_FACES:
                for tencrop in (False, True):
                    key = live_key(faces, tencrop)
                    log(f"live: {detector}, {precision}, {key} ...")
                    live[key] = bench_live(rec, faces, tencrop, frames, detector=detector)
    if video_seconds:
        with tempfile.TemporaryDirectory(prefix="fer-bench-") as tmp:
            log(f"video: 640x480 30 fps clips of {', '.join(f'{s:g}' for s in video_seconds)} s "
                f"({first.classifier.precision}) ...")
            report["video_640x480_30fps"] = bench_video(str(first.weights), list(video_seconds), Path(tmp),
                                                        first.classifier.precision)
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


README_START = "<!-- bench:start (generated by `fer bench --readme`; do not edit) -->"
README_END = "<!-- bench:end -->"
#: The live path's targets: median milliseconds per 640x480 frame, ten-crop off, by faces.
LIVE_TARGETS_MS = {1: 15.0, 4: 30.0}
README_WIDTH = 88


def tables(report: dict[str, Any]) -> str:
    """Markdown for the README: the classifier alone, per face; the live path by stage,
    against :data:`LIVE_TARGETS_MS`, in the precision that ``auto`` picks on the
    benchmarked machine (when measured); and, when more than one precision was measured,
    the live path in each."""
    classifier, live = report["classifier_48x48"], report["live_640x480"]
    auto = report["machine"]["auto_precision"]
    shown = auto if auto in classifier else next(iter(classifier))
    which = 'what `precision="auto"` runs on this machine' if shown == auto else f"`auto` would run {auto} here"
    lines = [fill("The shipped model alone, on 48x48 faces, milliseconds per face (the faces of one call are "
                  "shared by the classifier's workers):", README_WIDTH), "",
             "| faces per call | precision | centre crop, median | p95 | ten-crop, median | p95 |",
             "|---|---|---|---|---|---|"]
    for batch in CLASSIFIER_BATCHES:
        for precision, runs in classifier.items():
            off, on = (runs[classifier_key(batch, tencrop)]["per_face_ms"] for tencrop in (False, True))
            lines.append(f"| {batch} | {precision} | {off['median']:.1f} | {off['p95']:.1f} | {on['median']:.1f} "
                         f"| {on['p95']:.1f} |")
    lines += ["", fill(f"Milliseconds per 640x480 frame of the whole live path in {shown} ({which}), by stage: "
                       "detect; crop (grayscale conversion and crops); the network; track; draw (and fit to the "
                       "display); the CPU column is the process's own CPU time per frame (above the total where "
                       "two threads work at once):", README_WIDTH), "",
              "| detector | live frame | detect | crop | network | track | draw | total, median | total, p95 "
              "| CPU, median | target |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for detector, per_precision in live.items():
        for faces in LIVE_FACES:
            for tencrop in (False, True):
                run = per_precision[shown][live_key(faces, tencrop)]
                total = run["total_ms"]
                stages = " | ".join(f"{run[f'{stage}_ms']['median']:.1f}" for stage in STAGES)
                target = None if tencrop else LIVE_TARGETS_MS.get(faces)
                verdict = "" if target is None else \
                    f"median &le; {target:g} ms: {'met' if total['median'] <= target else 'not met'}"
                lines.append(f"| {detector} | {frame_name(faces, tencrop)} | {stages} | **{total['median']:.1f}** "
                             f"| {total['p95']:.1f} | {run['total_cpu_ms']['median']:.1f} | {verdict} |")
    scans = report["full_scan_640x480"]
    lines += ["", fill("A full scan of the same frames, alone, median (p95) milliseconds (a stream runs one every "
                       "`full_scan_every` frames on a thread beside its frames):", README_WIDTH), "",
              "| detector | " + " | ".join(frame_name(faces, False) for faces in LIVE_FACES) + " |",
              "|---|" + "---|" * len(LIVE_FACES)]
    for detector, per_scene in scans.items():
        cells = [per_scene[frame_name(faces, False)]["ms"] for faces in LIVE_FACES]
        lines.append(f"| {detector} | " + " | ".join(f"{c['median']:.1f} ({c['p95']:.1f})" for c in cells) + " |")
    precisions = list(classifier)
    if len(precisions) > 1:
        lines += ["", fill("The same run in each precision, median (p95) milliseconds per frame, and the network's "
                           "part (median):", README_WIDTH), "",
                  f"| detector | live frame | {' | '.join(precisions)} | network, {' -> '.join(precisions)} |",
                  "|---|---|" + "---|" * (len(precisions) + 1)]
        for detector, per_precision in live.items():
            for faces in LIVE_FACES:
                runs = [per_precision[p][live_key(faces, False)] for p in precisions]
                totals = " | ".join(f"{r['total_ms']['median']:.1f} ({r['total_ms']['p95']:.1f})" for r in runs)
                network = " -> ".join(f"{r['classify_ms']['median']:.1f}" for r in runs)
                lines.append(f"| {detector} | {frame_name(faces, False)} | {totals} | {network} |")
    return "\n".join(lines)
