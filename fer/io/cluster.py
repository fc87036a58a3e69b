"""``fer annotate --ray``: the same batch as :mod:`fer.io.batch`, its files shared out to a
pool of Ray actors, each holding one loaded :class:`~fer.recognizer.EmotionRecognizer`.

The outputs are planned on the driver exactly as in the sequential run
(:func:`fer.io.batch.plan_batch`); one input file is one unit of work, done by
:func:`fer.io.batch.annotate_one` on a worker, so every file lands where and as the
sequential command writes it, whole or not at all. Nothing is lost and nothing done
twice: an input whose outputs exist is skipped (a rerun resumes; ``overwrite`` redoes
it), a file whose worker died (killed, out of memory, its node lost) goes back to the
queue for another worker, up to :data:`MAX_ATTEMPTS` times, and a bad input fails alone.

With one combined log, each file's rows wait in their part as in the sequential run
(:func:`fer.io.batch.log_parts`): the same rows, and a rerun after an interruption
reuses the parts.

Ray is imported only here, and only when a Ray run starts (``pip install ".[cluster]"`` in
a checkout: the ``[cluster]`` extra of this package, not of PyPI's unrelated ``fer``).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from fer.engine.classify import DeviceError
from fer.engine.settings import Settings
from fer.io.batch import (
    Result,
    annotate_one,
    assemble_log,
    log_parts,
    open_parts,
    output_folders,
    plan_batch,
    skipped,
    with_part,
)
from fer.io.output_names import Planned
from fer.io.outputs import discard, no_new_empty_folders, partial_name
from fer.io.provenance import provenance
from fer.io.video import VideoError, VideoInfo
from fer.models.modelfile import ModelFileError

#: Tries of one file whose worker died before it is reported as failed: a file that kills
#: every worker it meets (a decoder crash, memory) must not stop the job.
MAX_ATTEMPTS = 3
#: Seconds between two looks at the workers' progress (and at signals): each look is one
#: call per busy worker, answered beside its work (see :class:`Annotator`).
POLL_SECONDS = 0.5

#: ``progress(frames_done, frames_total, files_done, files_total)``, a few times a second.
JobProgress = Callable[[int, int, int, int], None]


class ClusterError(RuntimeError):
    """Ray is missing, or the cluster cannot be reached or used."""


class WorkerDied(RuntimeError):
    """A file's worker died on every try."""


def _ray_requirement() -> str:
    """The Ray this package's ``[cluster]`` extra asks for, as installed (pyproject.toml
    says it once)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return next(r.split(";")[0].strip() for r in requires("fer") or [] if 'extra == "cluster"' in r)
    except (PackageNotFoundError, StopIteration):
        return "ray"


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ClusterError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError(f'--ray needs Ray, which is not installed: pip install "{_ray_requirement()}" (the '
                           "[cluster] extra of this package) on every machine of the cluster") from None
    return ray


class Annotator:
    """A Ray actor's state: one loaded recognizer, reused for every file it is given.

    Its progress is read by the driver (:meth:`frames_done`, in the actor's ``progress``
    concurrency group, so it is answered while :meth:`annotate` works) rather than sent
    by the actor: no call per frame, and no further actor (a process of its own) to
    hold the counts."""

    def __init__(self, weights: str | None, settings: Settings, device: str):
        from fer.recognizer import EmotionRecognizer

        self.error, self.recognizer = None, None
        self.progress: tuple[int, int] = (-1, 0)  # the input in hand, its frames done
        try:
            self.recognizer = EmotionRecognizer(weights, settings=settings, device=device)
        except (ModelFileError, DeviceError) as e:  # said once by the driver, not once per file
            self.error = e

    def ready(self) -> tuple[Exception | None, int]:
        """The error that kept the model from loading (None when it loaded), and the pid."""
        return self.error, os.getpid()

    def provenance(self) -> dict[str, Any]:
        return provenance(self.recognizer.classifier, self.recognizer.settings)

    def annotate(self, index: int, plan: Planned, fit: bool, overwrite: bool) -> Result:
        def report(done: int, total: int | None, eta: float | None) -> None:
            self.progress = (index, done)

        self.progress = (index, 0)
        result = annotate_one(plan, self.recognizer, fit, report, overwrite)
        result.worker = f"pid {os.getpid()} on {socket.gethostname()}"
        return result

    def frames_done(self) -> tuple[int, int]:
        """The input in hand (its place on the command line) and its frames done so far."""
        return self.progress


def annotate_on_ray(inputs: Sequence[str | os.PathLike], weights: str | os.PathLike | None = None,
                    settings: Settings | None = None, device: str = "auto", out: str | os.PathLike | None = None,
                    log: str | os.PathLike | None = None, fit: bool = False, overwrite: bool = False,
                    summary: bool = False, address: str | None = None, workers: int | None = None,
                    progress: JobProgress | None = None) -> Iterator[Result]:
    """Annotate ``inputs`` on Ray, yielding a :class:`Result` per input as it finishes
    (inputs skipped or unreadable first); the arguments are those of
    :func:`fer.io.batch.annotate_files`, plus:

    ``address``: the cluster's (``"auto"``, ``"HEAD:6379"``); None: Ray's own
    choice (``RAY_ADDRESS``, else a cluster started on this machine, else a new local
    instance). When Ray is already initialised in this process it is used as it is.
    ``workers``: how many actors (default: one per CPU of the cluster, or per GPU when
    the classifier runs on GPUs). ``progress``: see :data:`JobProgress`.

    Inputs and outputs must be at the same paths on every machine (a shared folder).
    Raises :class:`ClusterError` when Ray is missing or no worker can load the model.
    """
    ray = import_ray()
    settings = settings or Settings()
    items = plan_batch(inputs, out, log, overwrite, summary)
    parts = log_parts(log)
    planned: list[tuple[int, Planned]] = []  # the usable inputs, by their place on the command line
    todo: list[tuple[int, Planned]] = []  # those not done by an earlier run
    for index, item in enumerate(items):
        if isinstance(item, Result):
            yield item
            continue
        plan = with_part(item, log)
        planned.append((index, plan))
        done = skipped(plan, overwrite)
        if done is not None:
            yield done
        else:
            todo.append((index, plan))
    if not todo and not (parts is not None and any(plan.results[0].exists() for _, plan in planned)):
        return
    folders = output_folders([plan for _, plan in planned], log)
    # open_parts before Ray starts: a read-only log folder costs a second
    with no_new_empty_folders(folders), open_parts(log):
        started_here = not ray.is_initialized()
        signals = DeferredSignals()  # the handlers of this process, before Ray replaces them
        if started_here:
            start_ray(ray, address, workers)
        try:
            with signals:
                pool = _Pool(ray, weights, settings, device, workers, signals.deliver)
                yield from pool.run(todo, fit, overwrite, progress)
                if parts is not None:
                    assemble_log(Path(log), parts, [plan for _, plan in planned], pool.provenance())
        finally:
            if started_here:
                ray.shutdown()


def start_ray(ray: Any, address: str | None = None, workers: int | None = None) -> None:
    """Join the cluster at ``address`` or, without one, as :func:`annotate_on_ray` says;
    no dashboard, Ray's own messages kept out of the command's output.

    A local instance started here gets as many CPUs as the job has ``workers`` (when
    given): Ray starts one idle worker process per CPU as it starts, and on a small
    machine a spare one, importing Ray beside the one that loads the model, delays the
    first frame (``benchmarks/ray_annotate.py``, ``--workers 1``). A cluster that is
    joined keeps its own CPUs."""
    # Ray reports usage statistics to its makers from a cluster's dashboard unless told
    # not to; this command sends nothing anywhere (a cluster started by hand: README).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False}
    local = {"num_cpus": workers} if workers and not address else {}
    try:
        try:
            ray.init(address=address or None, **options, **local)
        except ValueError:
            if not local:
                raise
            # Without an address Ray joins a cluster it finds (RAY_ADDRESS, `ray start` on
            # this machine) and refuses a CPU count there, before it connects: join as it is.
            ray.init(address=None, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"cannot start or reach Ray{f' at {address}' if address else ''}: "
                           f"{str(e).splitlines()[0]}") from None


class DeferredSignals:
    """SIGTERM and SIGINT held while Ray's own code waits, then handed to this process's
    handlers (the CLI's: end the run, exit status 143 or 130) between two waits.

    ``ray.init`` replaces the SIGTERM handler with one that aborts the process, leaving
    partial files, and an exception raised by a handler inside Ray's wait surfaces as a
    ``SystemError``; so the handlers are taken when this object is made, before
    ``ray.init``, and, inside ``with``, a signal is only noted, and raised by
    :meth:`deliver` from plain Python code. The handlers are put back on leaving.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.active = threading.current_thread() is threading.main_thread()  # signals reach only that thread
        self.kept = {sig: signal.getsignal(sig) for sig in self.SIGNALS} if self.active else {}
        self.pending: list[int] = []

    def __enter__(self) -> DeferredSignals:
        for sig in self.kept:
            signal.signal(sig, self._note)
        return self

    def _note(self, signum: int, frame: object) -> None:
        self.pending.append(signum)

    def deliver(self) -> None:
        """Run the kept handler of a signal that came meanwhile (it may raise)."""
        while self.pending:
            sig = self.pending.pop(0)
            handler = self.kept[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:  # what the signal would have done: end the process
                signal.signal(sig, signal.SIG_DFL)
                signal.raise_signal(sig)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.kept.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def discard_partials(plan: Planned) -> None:
    """Remove what a worker that was killed while writing ``plan``'s outputs left: it could
    not clean up itself."""
    partials = [partial_name(p) for p in plan.files]
    discard([*partials, *(p.with_name(p.name + ".rows") for p in partials)])


def frames_of(plan: Planned) -> int:
    """The frames an input should take (1 for a picture), for the progress bar's total."""
    if plan.kind == "image":
        return 1
    try:
        return VideoInfo.read(plan.source).expected_frames() or 0
    except VideoError:
        return 0


class _Pool:
    """The actors, each given the next file as soon as it is free; a dead one is replaced
    and its file queued again, first in line."""

    def __init__(self, ray: Any, weights: str | os.PathLike | None, settings: Settings, device: str,
                 workers: int | None, between_waits: Callable[[], None]):
        """Start the actors (they load their models while the driver goes on: see :meth:`run`)."""
        self.ray, self.between_waits = ray, between_waits
        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0) if device in ("auto", "cuda") else 0
        count = workers or max(1, int(gpus or resources.get("CPU", 1)))
        share = min(1.0, (gpus or resources.get("CPU", 1)) / count)  # --workers beyond the cluster still starts
        options = {"num_gpus": share, "num_cpus": 0} if gpus else {"num_cpus": share}
        self.actor_class = ray.remote(max_restarts=0, concurrency_groups={"progress": 1}, **options)(Annotator)
        self.args = (str(weights) if weights is not None else None, settings, device)
        self.actors = [self._start() for _ in range(count)]

    def _start(self) -> Any:
        return self.actor_class.remote(*self.args)

    def _get(self, refs: list[Any]) -> list[Any]:
        """``ray.get``, in short waits, between which a signal can end the run."""
        while self.ray.wait(refs, num_returns=len(refs), timeout=POLL_SECONDS)[1]:
            self.between_waits()
        return self.ray.get(refs)

    def _wait_until_loaded(self) -> None:
        errors = [error for error, _ in self._get([a.ready.remote() for a in self.actors]) if error is not None]
        if errors:
            raise errors[0]  # the model file or device error, as the sequential command says it

    def provenance(self) -> dict[str, Any]:
        return self._get([self.actors[0].provenance.remote()])[0]

    def _frames_done(self, actors: list[Any]) -> list[tuple[int, int]]:
        """What the busy ``actors`` say they have done (nothing from one that died meanwhile:
        the main loop hears of that from its task)."""
        from ray.exceptions import RayActorError

        refs = [actor.frames_done.options(concurrency_group="progress").remote() for actor in actors]
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=POLL_SECONDS)
        answers = []
        for ref in ready:
            try:
                answers.append(self.ray.get(ref))
            except RayActorError:
                continue
        return answers

    def run(self, todo: list[tuple[int, Planned]], fit: bool, overwrite: bool,
            progress: JobProgress | None) -> Iterator[Result]:
        """Yield each file's result as it finishes; stopped early (Ctrl-C, an error), end
        the workers before returning, so that none writes after the command ended."""
        ray = self.ray
        from ray.exceptions import RayActorError, RayTaskError

        expected = {i: frames_of(plan) for i, plan in todo}  # while the workers load their models
        self._wait_until_loaded()
        done: dict[int, int] = {}  # frames done of each running input, as last heard
        queue = deque((i, plan, 1) for i, plan in todo)
        idle: deque = deque(self.actors)
        running: dict[Any, tuple[Any, int, Planned, int]] = {}  # task -> actor, input, plan, try
        finished: set[int] = set()
        try:
            while queue or running:
                while idle and queue:
                    actor = idle.popleft()
                    i, plan, attempt = queue.popleft()
                    running[actor.annotate.remote(i, plan, fit, overwrite)] = (actor, i, plan, attempt)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
                self.between_waits()
                for ref in ready:
                    actor, i, plan, attempt = running.pop(ref)
                    try:
                        result = ray.get(ref)
                        idle.append(actor)
                    except RayActorError:  # killed, out of memory, its node lost: a new worker, the file again
                        discard_partials(plan)
                        replacement = self._start()
                        self.actors[self.actors.index(actor)] = replacement
                        idle.append(replacement)
                        done[i] = 0
                        if attempt < MAX_ATTEMPTS:
                            queue.appendleft((i, plan, attempt + 1))
                            continue
                        result = Result(plan.source, plan.kind, error=WorkerDied(
                            f"{plan.source}: its worker died on each of {attempt} tries (out of memory? a crash?)"))
                    except RayTaskError as e:  # a bug, not a bad input: one line, and the others go on
                        cause = getattr(e, "cause", None) or e
                        reason = str(cause).splitlines()[0] if str(cause) else ""
                        result = Result(plan.source, plan.kind,
                                        error=RuntimeError(f"{plan.source}: {type(cause).__name__}: {reason}"))
                        idle.append(actor)
                    result.attempts = attempt
                    finished.add(i)
                    yield result
                if progress is not None:
                    in_hand = {i for _, i, _, _ in running.values()}
                    done.update((i, n) for i, n in self._frames_done([a for a, *_ in running.values()])
                                if i in in_hand)
                    frames = sum(expected[i] if i in finished else min(done.get(i, 0), expected[i] or done.get(i, 0))
                                 for i in expected)
                    progress(frames, sum(expected.values()), len(finished), len(expected))
        finally:
            if running:
                for actor in self.actors:
                    ray.kill(actor)
                ray.wait(list(running), num_returns=len(running), timeout=30)
                for _, _, plan, _ in running.values():
                    discard_partials(plan)
