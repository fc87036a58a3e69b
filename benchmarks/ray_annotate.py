"""What Ray adds to ``fer annotate``: one batch of clips annotated three ways in one run,
sequentially (the default command), with ``--ray --workers 2`` and with ``--ray
--workers 1``, each on a fresh local Ray instance, so its start-up is counted. Each way
runs in a fresh Python process, timed from the moment it is started, as the commands
are: importing PyTorch and fer is paid by all three, and Ray's workers pay it again.

    python benchmarks/ray_annotate.py [--clips 8] [--seconds 20] [--weights FILE] [--json out.json]

The clips are ``fer bench``'s (:func:`fer.bench.make_clip`: 640x480, 30 fps, a drifting
face, an AAC track). For each way it prints the wall time, frames per second over the
whole run (start-up included) and after the first frame, the seconds to the first frame
(imports and model loading; for Ray, starting the instance and its workers too:
``imported_s``, ``ray_imported_s`` and ``ray_started_s`` say when the command had
imported PyTorch and fer, then Ray, then started its instance, and ``ray_shutdown_s`` how
long stopping it took at the end), the CPU use (cores
busy on average, machine-wide from ``/proc/stat``: run it on a quiet machine) and, for
the Ray workers, the resident memory of each worker after its first file and its peak
(``/proc/PID/status``; flat memory means a worker does not grow with the videos it has
done). Ratios against the sequential run come last. Not a timed test: the figures depend
on the machine and on what else it is doing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

WAYS = ("sequential", "ray_workers_2", "ray_workers_1")


def busy_jiffies() -> tuple[int, int]:
    """Machine-wide CPU time, busy and total, in clock ticks (``/proc/stat``'s first line)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def ray_workers_rss() -> dict[int, int]:
    """Resident kilobytes of each Ray worker holding a recognizer (``ray::Annotator...``)."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "cmdline").read_bytes().startswith(b"ray::Annotator"):
                status = (proc / "status").read_text()
                rss = next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS:"))
                found[int(proc.name)] = int(rss)
        except (OSError, StopIteration):
            continue
    return found


class Meter:
    """Times one way of running the batch, and samples the Ray workers' memory."""

    def __init__(self, start: float, cpu_start: tuple[int, int]) -> None:
        self.start, self.cpu_start = start, cpu_start  # time.monotonic() and busy_jiffies() when the way began
        self.first_frame: float | None = None
        self.frames = 0
        self.rss: dict[int, list[int]] = {}

    def saw(self, frames: int) -> None:
        if frames > 0 and self.first_frame is None:
            self.first_frame = time.monotonic() - self.start
        self.frames = max(self.frames, frames)
        for pid, kb in ray_workers_rss().items():
            self.rss.setdefault(pid, []).append(kb)

    def report(self) -> dict[str, Any]:
        frames = self.frames
        wall = time.monotonic() - self.start
        busy, total = busy_jiffies()
        cores = (busy - self.cpu_start[0]) / max(1, total - self.cpu_start[1]) * os.cpu_count()
        first = self.first_frame or wall
        out = {"wall_s": round(wall, 1), "frames": frames, "fps": round(frames / wall, 1),
               "fps_after_first_frame": round(frames / max(wall - first, 1e-9), 1),
               "first_frame_s": round(first, 1), "cpu_cores_busy": round(cores, 2)}
        if self.rss:
            out["worker_rss_mb"] = {str(pid): {"early": round(kb[min(len(kb) - 1, len(kb) // 4)] / 1024),
                                               "peak": round(max(kb) / 1024)} for pid, kb in self.rss.items()}
        return out


def sequential(meter: Meter, clips: list[Path], out: Path, weights: str | None) -> dict[str, Any]:
    from fer.io.batch import annotate_files
    from fer.recognizer import EmotionRecognizer

    imported = time.monotonic() - meter.start
    rec = EmotionRecognizer(weights)
    done = [0]

    def progress(src: Path) -> Callable[[int, int | None, float | None], None]:
        before = done[0]

        def update(frames: int, total: int | None, eta: float | None) -> None:
            meter.saw(before + frames)
            done[0] = before + frames
        return update

    _check(annotate_files(clips, rec, out=out, progress=progress))
    return meter.report() | {"imported_s": round(imported, 1)}


def on_ray(meter: Meter, clips: list[Path], out: Path, weights: str | None, workers: int) -> dict[str, Any]:
    """Ray started here as the command starts it, so that its parts are timed: importing
    it, starting the instance, the rest (workers loading their models) to the first frame,
    and stopping it at the end."""
    from fer.io.cluster import annotate_on_ray, import_ray, start_ray

    marks = {"imported_s": time.monotonic() - meter.start}  # Python, PyTorch and fer
    ray = import_ray()
    marks["ray_imported_s"] = time.monotonic() - meter.start
    start_ray(ray, workers=workers)
    marks["ray_started_s"] = time.monotonic() - meter.start
    try:
        _check(annotate_on_ray(clips, weights, out=out, workers=workers,
                               progress=lambda frames, total, files, all_files: meter.saw(frames)))
    finally:
        stopping = time.monotonic()
        ray.shutdown()
        marks["ray_shutdown_s"] = time.monotonic() - stopping
    return meter.report() | {k: round(v, 1) for k, v in marks.items()}


def _check(results: Iterable[Any]) -> None:
    for result in results:
        if result.error is not None or result.skipped:
            raise RuntimeError(f"{result.source}: {result.error or result.skipped}")


def run_way(name: str, clips: list[Path], out: Path, weights: str | None) -> dict[str, Any]:
    """Run one way in a fresh Python process (this script, ``--way``), timed from its start."""
    started, cpu = time.monotonic(), busy_jiffies()
    command = [sys.executable, __file__, "--way", name, "--out", str(out), "--since", repr(started),
               "--since-cpu", f"{cpu[0]},{cpu[1]}", *(["--weights", weights] if weights else []), *map(str, clips)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def one_way(args: argparse.Namespace) -> None:
    """The ``--way`` process: one way of running the batch, its report printed as JSON."""
    busy, total = (int(x) for x in args.since_cpu.split(","))
    meter = Meter(args.since, (busy, total))
    clips = [Path(c) for c in args.inputs]
    if args.way == "sequential":
        report = sequential(meter, clips, args.out, args.weights)
    else:
        report = on_ray(meter, clips, args.out, args.weights, int(args.way.rsplit("_", 1)[1]))
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=8, help="clips in the batch (default: 8)")
    parser.add_argument("--seconds", type=float, default=20, help="length of each clip (default: 20)")
    parser.add_argument("--weights", help="model file (default: the shipped one)")
    parser.add_argument("--json", help="also write the results here")
    # One way in its own process (see run_way): not for use by hand.
    parser.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--since", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--since-cpu", help=argparse.SUPPRESS)
    parser.add_argument("inputs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.way:
        return one_way(args)
    from fer.bench import make_clip

    with tempfile.TemporaryDirectory(prefix="fer-ray-bench-") as tmp:
        folder = Path(tmp)
        print(f"making {args.clips} clips of {args.seconds:g} s (640x480, 30 fps) ...", file=sys.stderr)
        clips = [make_clip(folder / f"clip{i}.mp4", args.seconds) for i in range(args.clips)]
        report: dict[str, Any] = {"clips": args.clips, "seconds_each": args.seconds, "cpus": os.cpu_count(),
                                  "load_average_before": os.getloadavg()}
        for name in WAYS:
            print(f"{name} ...", file=sys.stderr)
            report[name] = run_way(name, clips, folder / name, args.weights)
            print(f"{name}: {json.dumps(report[name])}", file=sys.stderr)
        seq = report["sequential"]["wall_s"]
        report["speed_vs_sequential"] = {name: round(seq / report[name]["wall_s"], 3) for name in WAYS}
        report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
