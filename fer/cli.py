"""The ``fer`` command line: one sub-command per job, each a thin layer over the API.

Errors a user can fix (a wrong path, a damaged file, a face-less video) end the command
with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from fer import __version__
from fer.engine.classify import DEVICES, PRECISIONS, DeviceError, PrecisionError
from fer.engine.settings import DETECTORS
from fer.io.cluster import ClusterError
from fer.io.images import ImageError
from fer.io.outputs import OutputError
from fer.io.video import VideoError
from fer.models.modelfile import ModelFileError, check_zooms
from fer.settings_cli import add_settings_arguments, fits_display, settings_from_args
from fer.training.data import DatasetError
from fer.training.ensemble import CRITERIA, DEFAULT_CRITERION
from fer.training.quantize import CALIBRATION_FACES, QuantizeError
from fer.training.train import CheckpointError, TrainConfigError

USER_ERRORS: tuple[type[Exception], ...] = (DatasetError, ModelFileError, TrainConfigError, FileNotFoundError,
                                            ImageError, VideoError, OutputError, DeviceError,
                                            ClusterError, QuantizeError, CheckpointError, PrecisionError)


def _app(args: argparse.Namespace) -> int:
    from fer.app.launch import run_app

    return run_app(args.streamlit_args)


def _booth(args: argparse.Namespace) -> int:
    import os

    from fer.app.booth import BOOTH_ENV
    from fer.app.launch import run_app

    os.environ[BOOTH_ENV] = "1"  # read by the app's router: only the booth view is served
    return run_app(args.streamlit_args)


def _train(args: argparse.Namespace) -> None:
    from fer.training.train import config_from_args, train

    best = train(config_from_args(args), resume=args.resume)
    print(f"best checkpoint (chosen on PublicTest): {best}")


def _export(args: argparse.Namespace) -> None:
    from fer.training.export import export_checkpoint

    print(f"wrote {export_checkpoint(args.checkpoint, args.output, args.weights_dtype, args.overwrite)}")


def _quantize(args: argparse.Namespace) -> None:
    from fer.training.quantize import quantize_file

    path, info = quantize_file(args.model, args.data, args.output, calibration=args.calibration,
                               overwrite=args.overwrite)
    check = info["public_test"]
    print(f"PublicTest (n={check['faces']}, centre crop): float32 {check['accuracy_float32']:.4f}, int8 "
          f"{check['accuracy_int8']:.4f}, same label {check['same_label']:.4f}")
    print(f"wrote {path}")


def _evaluate(args: argparse.Namespace) -> None:
    from fer.training.evaluate import evaluate, format_report, plot_confusion_matrices, write_json

    result = evaluate(args.weights, args.data, args.split, tencrop=args.tencrop, ensemble_weights=args.ensemble_weights,
                      precision=args.precision)
    print(format_report(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    if args.plots:
        for path in plot_confusion_matrices(result, args.plots):
            print(f"wrote {path}")


def _metrics(args: argparse.Namespace) -> int:
    from fer.models.metrics_files import read_metrics_files
    from fer.models.modelfile import default_weights
    from fer.training.report import accuracy_table, update_readme, write_model_metrics

    paths = [write_model_metrics(w, args.data, plots=args.plots, precision=args.precision) for w in args.weights]
    for path in paths:
        print(f"wrote {path}")
    if args.readme:
        found = read_metrics_files(paths[0].parent, first=default_weights().name)
        if found.problems:  # a row that vanished from the published table would go unnoticed
            print(f"fer metrics: error: {args.readme} not updated: {'; '.join(found.problems)}", file=sys.stderr)
            return 2
        table = accuracy_table(found.cards)
        print(table)
        if update_readme(args.readme, table):
            print(f"updated the accuracy table in {args.readme}")
    return 0


def _study(args: argparse.Namespace) -> None:
    from fer.training.study import results_table, run_study, write_report
    from fer.training.train import TrainConfig

    if args.report_only:
        write_report(args.results, args.json, args.report)
        print(f"wrote {args.report}")
        return
    base = TrainConfig(data=args.data, model=args.model, width_mult=args.width_mult, epochs=args.epochs,
                       subset=args.subset, seed=args.seed)
    study = run_study(base, args.out, args.json, args.report, args.remedies, mixup=not args.no_mixup)
    print(results_table(study))
    print(f"wrote {args.json} and {args.report} ({study['train_minutes']:.0f} training minutes)")


def _ensemble(args: argparse.Namespace) -> None:
    from fer.training.ensemble import build_ensemble

    result = build_ensemble(args.weights, args.data, args.output, tencrop=not args.no_tencrop, step=args.step,
                            precision=args.precision, criterion=args.criterion, overwrite=args.overwrite,
                            zooms=tuple(args.zooms))
    for member, acc in zip(result["members"], result["member_public_accuracy"]):
        print(f"{member}: PublicTest accuracy {acc:.4f} alone")
    weights = ", ".join(f"{w:.2f}" for w in result["weights"])
    print(f"weights (chosen on PublicTest by {args.criterion}): {weights}; PublicTest accuracy "
          f"{result['public_accuracy']:.4f}; PrivateTest accuracy {result['private']['accuracy']:.4f}")
    if result["dropped"]:
        print(f"left out (weight 0): {', '.join(result['dropped'])}")
    print(f"wrote {result['file']}")


def _annotate(args: argparse.Namespace) -> int:
    from fer.io.batch import check_output, expand_inputs

    inputs = expand_inputs(args.inputs)
    if not inputs:
        raise FileNotFoundError(f"no images or videos in {' '.join(args.inputs)}")
    try:
        check_output(inputs, args.output)  # after the expansion: one folder may hold several inputs
    except ValueError as e:
        args.parser.error(str(e))
    if args.ray is not None:
        return _annotate_on_ray(args, inputs)
    from tqdm import tqdm

    from fer.io.batch import annotate_files
    from fer.recognizer import EmotionRecognizer

    rec = EmotionRecognizer(args.weights, settings=args.settings, device=args.device, precision=args.precision)
    bars: list[tqdm] = []

    def progress(src):
        bar = tqdm(desc=src.name, unit="frame", leave=False, disable=None)  # none where stderr is not a terminal
        bars.append(bar)

        def update(done: int, total: int | None, eta: float | None) -> None:
            bar.total = total
            bar.update(done - bar.n)
        return update

    failed = []
    earlier_log = _file_version(args.log)
    try:
        for result in annotate_files(inputs, rec, out=args.output, log=args.log, fit=args.fit,
                                     progress=progress, overwrite=args.overwrite,
                                     summary=args.summary):
            while bars:
                bars.pop().close()
            if result.error is not None:
                failed.append(result)
                print(f"fer annotate: error: {result.error}", file=sys.stderr)
            elif result.skipped:
                print(f"{result.source}: skipped, {result.skipped}")
            else:
                print(f"{result.source} -> {result.output}: {result.text}")
    finally:  # an error or a signal: clear the progress bar so the message gets its own line
        while bars:
            bars.pop().close()
    _report_log(args.log, earlier_log, any_done=len(failed) < len(inputs))
    if failed and len(inputs) > 1:
        print(f"fer annotate: {len(failed)} of {len(inputs)} inputs failed: "
              + ", ".join(str(r.source) for r in failed), file=sys.stderr)
    return 2 if failed else 0


def _file_version(path: str | None) -> tuple[int, int] | None:
    """What tells a file written anew (renamed into place) from the one there before."""
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns) if stat else None


def _report_log(log: str | None, earlier: tuple[int, int] | None, any_done: bool) -> None:
    """Say whether ``--log`` was written: not when every input failed, nor when the inputs
    were skipped as done by a run without that log (it has no rows of theirs)."""
    if log is None or not any_done:
        return
    if _file_version(log) not in (None, earlier):
        print(f"wrote {log}")
    else:
        print(f"{log}: not written: the inputs were skipped (their outputs exist) and no earlier run with this "
              "log left their rows; add --overwrite to annotate them again")


def _annotate_on_ray(args: argparse.Namespace, inputs: list[Path]) -> int:
    """The batch on Ray: one progress bar over every frame of every input, a line per
    file as it finishes, and a summary at the end; exit status 2 when an input failed."""
    from tqdm import tqdm

    from fer.io.cluster import annotate_on_ray, import_ray

    import_ray()  # before the progress bar: without Ray, the one line that says so
    bar = tqdm(unit="frame", desc="starting Ray", dynamic_ncols=True, disable=None)

    def progress(frames: int, total: int, files: int, all_files: int) -> None:
        bar.total = total
        bar.set_description(f"{files}/{all_files} files", refresh=False)
        bar.update(frames - bar.n)

    done, skipped, failed, retried = [], [], [], []
    earlier_log = _file_version(args.log)
    job = annotate_on_ray(inputs, args.weights, args.settings, args.device, out=args.output, log=args.log,
                          fit=args.fit, overwrite=args.overwrite, summary=args.summary, address=args.ray or None,
                          workers=args.workers, progress=progress)
    try:
        for result in job:
            if result.attempts > 1:
                retried.append(result)
            if result.error is not None:
                failed.append(result)
                tqdm.write(f"fer annotate: error: {result.error}", file=sys.stderr)
            elif result.skipped:
                skipped.append(result)
                tqdm.write(f"{result.source}: skipped, {result.skipped}")
            else:
                done.append(result)
                tries = f", try {result.attempts}" if result.attempts > 1 else ""
                tqdm.write(f"{result.source} -> {result.output}: {result.text} [{result.worker}{tries}]")
    except BaseException:
        bar.leave = False  # the error's line replaces the bar
        raise
    finally:
        job.close()  # stopped early: the workers are ended and their partial files removed now
        bar.close()
    _report_log(args.log, earlier_log, any_done=len(failed) < len(inputs))
    print(f"fer annotate: {len(inputs)} inputs: {len(done)} annotated, {len(skipped)} skipped (done before), "
          f"{len(failed)} failed; {len(retried)} retried after their worker died")
    for result in failed:
        print(f"fer annotate: failed: {result.error}", file=sys.stderr)
    return 2 if failed else 0


def _bench(args: argparse.Namespace) -> None:
    import json

    from fer.bench import README_END, README_START, run, tables
    from fer.training.evaluate import write_json
    from fer.training.report import update_readme

    report = run(args.weights, frames=args.frames, video_seconds=args.video_seconds, detectors=tuple(args.detectors),
                 precisions=tuple(args.precision), log=lambda msg: print(msg, file=sys.stderr))
    print(json.dumps(report, indent=2))
    if args.json:
        print(f"wrote {write_json(report, args.json)}", file=sys.stderr)
    if args.readme and update_readme(args.readme, tables(report), README_START, README_END):
        print(f"updated the speed tables in {args.readme}", file=sys.stderr)


def _robustness(args: argparse.Namespace) -> None:
    import json

    from fer.robustness import README_END, README_START, VARIANTS, plot, run, table
    from fer.scenes import CONDITIONS
    from fer.training.evaluate import write_json
    from fer.training.report import update_readme

    report = run(args.data, faces=args.faces, split=args.split, weights=args.weights,
                 variants={name: VARIANTS[name] for name in args.variants}, min_face=args.min_face,
                 conditions=tuple(c for c in CONDITIONS if c.name in args.conditions),
                 log=lambda msg: print(msg, file=sys.stderr))
    print(table(report))
    print(json.dumps({"classifier_on_fer2013_crops": report["classifier_on_fer2013_crops"],
                      "crop_fit": report["crop_fit"]}, indent=2))
    if args.json:
        print(f"wrote {write_json(report, args.json)}", file=sys.stderr)
    if args.plot:
        print(f"wrote {plot(report, args.plot)}", file=sys.stderr)
    if args.readme and update_readme(args.readme, table(report), README_START, README_END):
        print(f"updated the robustness table in {args.readme}", file=sys.stderr)


def _check_robustness(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from fer.engine.settings import Settings
    from fer.robustness import PLOT_FORMATS, README_END, README_START
    from fer.scenes import CONDITIONS

    if args.faces < 7:
        parser.error(f"--faces {args.faces}: at least 7, one per class (the sample is class-stratified)")
    low, high = Settings.__dataclass_fields__["min_face"].metadata["range"]
    if not low <= args.min_face <= high:
        parser.error(f"--min-face {args.min_face}: must be in [{low}, {high}], the minimum face sizes detection takes")
    if args.readme and set(args.conditions) != {c.name for c in CONDITIONS}:
        parser.error("--readme: the README's table has every condition; leave --conditions out with --readme")
    _check_readme(parser, args.readme, README_START, README_END)
    _check_outputs(parser, files=(args.json, args.plot), inputs=_inputs([args.weights], args.data),
                   overwrite=args.overwrite)
    if args.plot and Path(args.plot).suffix.lower().lstrip(".") not in PLOT_FORMATS:
        parser.error(f"--plot {args.plot}: a {', '.join('.' + f for f in PLOT_FORMATS)} file")


def _check_bench(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from fer.bench import README_END, README_START, check_lengths

    try:
        args.video_seconds = tuple(float(s) for s in args.video_seconds.split(",")) if args.video_seconds else ()
    except ValueError:
        parser.error(f"--video-seconds {args.video_seconds}: seconds separated by commas, e.g. 10,60")
    try:
        check_lengths(args.frames, args.video_seconds)
    except ValueError as e:
        parser.error(str(e))
    _check_readme(parser, args.readme, README_START, README_END)
    _check_outputs(parser, files=(args.json,), inputs=_inputs([args.weights]), overwrite=args.overwrite)


def _check_evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.ensemble_weights is not None:
        try:
            args.ensemble_weights = [float(w) for w in args.ensemble_weights.split(",")]
        except ValueError:
            parser.error(f"--ensemble-weights {args.ensemble_weights}: numbers separated by commas, e.g. 0.6,0.4")
    from fer.training.evaluate import confusion_plot_paths

    plots = confusion_plot_paths(args.plots, args.split, args.tencrop) if args.plots else []
    _check_outputs(parser, files=(args.json, *plots), folders=(args.plots,), inputs=_inputs(args.weights, args.data),
                   overwrite=args.overwrite)


def _check_metrics(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from fer.training.report import README_END, README_START

    _check_readme(parser, args.readme, README_START, README_END)
    _check_outputs(parser, folders=(args.plots,))


def _check_study(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Without --report-only the study needs data and known remedies; with it, the results
    it redraws. (Remedies are checked here, not by argparse choices: importing the study
    for every ``fer`` command would cost a second.)"""
    import json

    from fer.training.study import REMEDIES

    if not args.report_only:
        unknown = [r for r in args.remedies or [] if r not in REMEDIES]
        if unknown:
            parser.error(f"--remedies: unknown {', '.join(unknown)}; choose from {', '.join(REMEDIES)}")
        if not args.data:
            parser.error("--data is required unless --report-only")
        return
    try:
        args.results = json.loads(Path(args.json).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        parser.error(f"--json {args.json}: cannot read the study's results ({getattr(e, 'strerror', None) or e})")
    if not isinstance(args.results, dict) or not isinstance(args.results.get("runs"), list) or not args.results["runs"]:
        parser.error(f"--json {args.json}: not the results of fer study (no runs)")


def _check_ensemble(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from fer.training.ensemble import check_step

    try:
        check_step(args.step)
        check_zooms(args.zooms, "--zooms")
    except ValueError as e:
        parser.error(str(e))
    _check_outputs(parser, files=(args.output,), inputs=_inputs(args.weights, args.data), overwrite=args.overwrite)


def _check_model_output(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``fer export`` and ``fer quantize`` write a model file: a ``.pt`` (``--weights``
    reads a ``.json`` as an ensemble), never over the checkpoint it comes from; quantize
    may write over its model, as its help says."""
    if Path(args.output).suffix.lower() != ".pt":
        parser.error(f"-o {args.output}: a model file is written as .pt")
    source = () if args.command == "quantize" else (Path(args.checkpoint),)
    _check_outputs(parser, files=(args.output,), inputs=source, overwrite=args.overwrite)


def _check_outputs(parser: argparse.ArgumentParser, files: tuple[str | os.PathLike | None, ...] = (),
                   folders: tuple[str | None, ...] = (), inputs: tuple[Path, ...] = (),
                   overwrite: bool | None = None) -> None:
    """Outputs that could not be written fail before the evaluation or benchmark that
    would fill them, not after it. An output file is never one of the command's
    ``inputs``; where the command has ``--overwrite`` (``overwrite`` not None), it replaces
    an existing file only with it."""
    from fer.io.outputs import OutputError, check_writable, refuse_to_replace

    try:
        for path in filter(None, folders):
            check_writable(path, folder=True)
        for path in filter(None, files):
            if any(Path(path).resolve() == source.resolve() for source in inputs):
                raise OutputError(f"{path} is an input of this command; choose another output name")
            check_writable(path)
            if overwrite is not None:
                refuse_to_replace(path, overwrite)
    except OutputError as e:
        parser.error(str(e))


def _inputs(weights: Sequence[str | None], data: str | None = None) -> tuple[Path, ...]:
    """The files a command reads: its model files (an ensemble's members too; the default
    model where none is named) and its data."""
    from fer.models.modelfile import default_weights, files_of

    models = tuple(path for w in weights for path in files_of(w or default_weights()))
    return models + ((Path(data),) if data else ())


def _check_app(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The operator's environment, before the server starts rather than on the first
    visitor's live page."""
    from fer.app.launch import check_environment

    try:
        check_environment()
    except ValueError as e:
        parser.error(str(e))


def _check_readme(parser: argparse.ArgumentParser, readme: str | None, start: str, end: str) -> None:
    """A ``--readme`` that cannot take the generated block fails before the run, not after."""
    from fer.training.report import check_readme

    if readme:
        try:
            check_readme(readme, start, end)
        except ValueError as e:
            parser.error(f"--readme: {e}")


def _check_annotate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fold the settings options into one validated Settings."""
    try:
        args.settings = settings_from_args(args)
    except ValueError as e:
        parser.error(str(e))
    args.fit = fits_display(args)
    if args.log is not None and Path(args.log).suffix.lower() not in (".csv", ".json"):
        parser.error(f"--log {args.log}: the log must be a .csv or .json file")
    if args.workers is not None and args.ray is None:
        parser.error("--workers goes with --ray")
    if args.ray is not None and args.precision != "auto":
        parser.error(f"--precision {args.precision}: Ray workers run in auto precision; leave --precision out "
                     "with --ray")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers {args.workers}: at least 1")
    if args.ray and Path(args.ray).exists():
        parser.error(f"--ray {args.ray}: that is a file, not a Ray address; put --ray after the inputs "
                     "(or write --ray=ADDRESS)")


PRECISION_HELP = ("auto is bfloat16 on CPUs with AMX, else int8 where the model file carries an int8 variant "
                  "(fer quantize), else bfloat16 where the CPU computes it natively (AVX512-BF16), else float32; "
                  "int8 runs on the CPU only")


def _precision_argument(p: argparse.ArgumentParser, help: str = "precision of the networks",
                        auto: str = PRECISION_HELP) -> None:
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=f"{help}: {auto} (default: auto)")


class OneLineErrorParser(argparse.ArgumentParser):
    """An option error is one line on stderr and exit status 2, like every other bad
    request: the message names the option, and ``--help`` has the usage block that
    argparse would print above it."""

    #: The command line being parsed (set by :func:`main`), for the hint below.
    tokens: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        if message.endswith(": expected one argument"):  # argparse takes "-1,0,0" or "-inf" for an option
            names = message.removeprefix("argument ").split(":")[0].split("/")
            if any(a in names and b.startswith("-") for a, b in zip(self.tokens, self.tokens[1:])):
                message += f" (a value that starts with '-' goes as {names[-1]}=VALUE)"
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from fer.training.train import add_config_arguments

    parser = OneLineErrorParser(prog="fer", description="Facial expression recognition on FER2013.")
    parser.add_argument("--version", action="version", version=f"fer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("app", help="start the web app (other arguments go to `streamlit run`)",
                       description="Start the web app with the project's Streamlit options. Other arguments go to "
                                   "`streamlit run`, e.g. fer app --server.port 8502 --server.address 0.0.0.0")
    p.set_defaults(func=_app, parser=p, validate=_check_app)

    p = sub.add_parser("booth", help="start the web app in booth mode: the full-window live view only",
                       description="Start the app serving only the booth view: the mirrored live camera fitted "
                                   "to the window, a banner with the main face's emotion, no controls for "
                                   "visitors. Set the operator's defaults first (see the README). Other "
                                   "arguments go to `streamlit run`.")
    p.set_defaults(func=_booth, parser=p, validate=_check_app)

    p = sub.add_parser("train", help="train a model on FER2013")
    add_config_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    p.set_defaults(func=_train, parser=p)

    p = sub.add_parser("export", help="write a training checkpoint as a TorchScript model file")
    p.add_argument("checkpoint", help="checkpoint from fer train (e.g. runs/vgg10/best.pt)")
    p.add_argument("-o", "--output", required=True, help="model file to write, e.g. weights/vgg10.pt")
    p.add_argument("--weights-dtype", choices=("float16", "float32"), default="float16",
                   help="how the file stores the weights; loading always restores float32 (default: float16, "
                        "half the size)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=_export, validate=_check_model_output, parser=p)

    p = sub.add_parser("quantize", help="add an int8 variant to a model file (calibrated on Training faces, "
                                        "checked on PublicTest), for CPUs without AMX")
    p.add_argument("model", help="model file, e.g. weights/vgg10.pt")
    p.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    p.add_argument("-o", "--output", required=True, help="model file to write (may be MODEL itself, with --overwrite)")
    p.add_argument("--calibration", type=int, default=CALIBRATION_FACES, metavar="N",
                   help=f"Training faces to calibrate on, class-stratified, each as its centre and ten-crop views "
                        f"(default: {CALIBRATION_FACES}; 0: all of them)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=_quantize, validate=_check_model_output, parser=p)

    p = sub.add_parser("evaluate", help="metrics of a model or weighted ensemble on a FER2013 test split")
    p.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    p.add_argument("--weights", nargs="+", required=True, help="model files (.pt) or ensemble files (.json)")
    p.add_argument("--ensemble-weights", help="comma-separated weight per model, e.g. 0.6,0.4 (default: equal)")
    p.add_argument("--split", choices=("public", "private"), required=True,
                   help="public (PublicTest, for choosing) or private (PrivateTest, for reporting)")
    p.add_argument("--tencrop", action="store_true", help="average ten crops per face (default: centre crop)")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.add_argument("--plots", help="also write confusion-matrix heatmaps (PNG) into this directory")
    p.add_argument("--overwrite", action="store_true", help="replace files an earlier run left under these names")
    _precision_argument(p)
    p.set_defaults(func=_evaluate, validate=_check_evaluate, parser=p)

    p = sub.add_parser("metrics", help="write the metrics file shipped beside a model (both splits, both crops)")
    p.add_argument("weights", nargs="+", help="model or ensemble files, e.g. weights/vgg10.pt")
    p.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    p.add_argument("--plots", help="also write confusion-matrix heatmaps (PNG) into this directory")
    p.add_argument("--readme", help="regenerate the accuracy table in this README from the metrics files")
    _precision_argument(p, help="precision of the reference figures (int8 means float32 here); a file with an int8 "
                                "variant is evaluated in int8 too")
    p.set_defaults(func=_metrics, validate=_check_metrics, parser=p)

    p = sub.add_parser("study", help="train and compare class-imbalance remedies, write the report")
    p.add_argument("--data", help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    p.add_argument("--model", default="vgg10", help="architecture (default: vgg10)")
    p.add_argument("--width-mult", type=float, default=0.5, help="width multiplier (default: 0.5)")
    p.add_argument("--epochs", type=int, default=12, help="epochs per remedy (default: 12)")
    p.add_argument("--subset", type=int, default=0, help="train on this many faces only; 0 = all (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="seed shared by every remedy (default: 0)")
    p.add_argument("--remedies", nargs="+", metavar="REMEDY",
                   help="run only these remedies (default: all; docs/imbalance.md lists them)")
    p.add_argument("--no-mixup", action="store_true", help="skip the best-remedy-plus-mixup run")
    p.add_argument("--out", default="runs/study", help="directory for the runs (default: runs/study)")
    p.add_argument("--json", default="docs/imbalance.json", help="results file (default: docs/imbalance.json)")
    p.add_argument("--report", default="docs/imbalance.md", help="report file (default: docs/imbalance.md)")
    p.add_argument("--report-only", action="store_true", help="only re-render the report from --json")
    p.set_defaults(func=_study, validate=_check_study, parser=p)

    p = sub.add_parser("ensemble", help="weighted ensemble: weights searched on PublicTest, PrivateTest reported")
    p.add_argument("weights", nargs="+", help="member model files")
    p.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    p.add_argument("-o", "--output", required=True, help="ensemble file to write, e.g. weights/ensemble.ens.json")
    p.add_argument("--step", type=float, default=0.1, help="grid step of the weight search (default: 0.1)")
    p.add_argument("--criterion", choices=CRITERIA, default=DEFAULT_CRITERION,
                   help=f"what the weights optimise on PublicTest (default: {DEFAULT_CRITERION}; "
                        "accuracy moves in steps of one face and carries over less well)")
    p.add_argument("--no-tencrop", action="store_true", help="search and report with centre crops only")
    p.add_argument("--zooms", type=float, nargs="+", default=[1.0], metavar="ZOOM",
                   help="look at each face at these zooms and average (e.g. 0.9 1 1.1: shrunk, as is, "
                        "enlarged; include 1 to keep the face as is), every member alike, whatever zooms an "
                        "ensemble given as a member had; the file records them for whoever loads it (default: 1)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    _precision_argument(p, help="precision of the members",
                        auto="auto is bfloat16 where the CPU computes it natively, else float32; never int8, which "
                             "only some members may carry, so that all are weighed in one precision")
    p.set_defaults(func=_ensemble, validate=_check_ensemble, parser=p)

    p = sub.add_parser("annotate", help="label the faces in images and videos (told apart by content)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image (jpg, png, webp, bmp, ...) or video (mp4, mov, ...)")
    p.add_argument("-o", "--output", help="output file (one input) or folder (default: NAME.annotated.EXT beside "
                                          "each input; videos are written as .mp4)")
    p.add_argument("--log", help="one results file for all inputs, .csv or .json (default: results beside each "
                                 "output: NAME.annotated.json for images, .csv and .json for videos)")
    p.add_argument("--weights", help="model or ensemble file (default: weights/vgg10.pt or $FER_WEIGHTS)")
    p.add_argument("--summary", action="store_true",
                   help="per video, also write NAME.annotated.faces.csv (per face: first and last time, seconds per "
                        "emotion, dominant emotion) and NAME.annotated.timeline.png (one line per face)")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where the classifier runs: auto = CUDA when present, else the CPU (default: auto)")
    _precision_argument(p, help="precision of the classifier")
    p.add_argument("--overwrite", action="store_true", help="replace outputs left by an earlier run (default: "
                                                                 "skip the inputs whose outputs exist)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="share the files out to a Ray cluster's workers (pip install \"fer[cluster]\"): ADDRESS is "
                        "the cluster's (e.g. auto, HEAD:6379); without it, RAY_ADDRESS, else a cluster started "
                        "on this machine, else a new local one. Put it after the inputs. A rerun resumes: inputs "
                        "whose outputs exist are skipped")
    p.add_argument("--workers", type=int, metavar="N",
                   help="with --ray: how many workers, each with its own model (default: one per CPU of the "
                        "cluster, or per GPU when the classifier runs on GPUs)")
    add_settings_arguments(p)
    p.set_defaults(func=_annotate, validate=_check_annotate, parser=p)

    p = sub.add_parser("bench", help="measure live latency and video throughput; print JSON")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--weights", help="model or ensemble file (default: weights/vgg10.pt or $FER_WEIGHTS)")
    p.add_argument("--frames", type=int, default=300, help="frames per live measurement (default: 300)")
    p.add_argument("--video-seconds", default="10,60",
                   help="lengths of the 640x480 30 fps test clips in seconds, comma-separated; "
                        "'' skips (default: 10,60)")
    p.add_argument("--detectors", nargs="+", choices=DETECTORS, default=["haar", "blazeface"],
                   help="detectors whose live latency to measure, in one run (default: haar blazeface)")
    p.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["auto"],
                   help=f"precisions to measure the classifier and the live path in, in one run: {PRECISION_HELP} "
                        "(default: auto)")
    p.add_argument("--readme", help="regenerate the speed tables in this README from the results")
    p.add_argument("--overwrite", action="store_true", help="replace files an earlier run left under these names")
    p.set_defaults(func=_bench, validate=_check_bench, parser=p)

    from fer.robustness import DEFAULT_VARIANTS, MIN_FACE, VARIANTS
    from fer.scenes import CONDITIONS

    condition_names = [c.name for c in CONDITIONS]

    p = sub.add_parser("robustness", help="detection recall and end-to-end accuracy of each detector on FER2013 "
                                          "faces turned, small, covered, dark, blurred, compressed or in groups")
    p.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    p.add_argument("--faces", type=int, default=60, help="faces per condition, a class-stratified sample (default: 60)")
    p.add_argument("--split", choices=("private", "public"), default="private",
                   help="faces from PrivateTest (reporting) or PublicTest (choosing) (default: private)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(DEFAULT_VARIANTS),
                   help=f"detectors to compare (default: {' '.join(DEFAULT_VARIANTS)}; blazeface-unaligned is "
                        "blazeface without turning faces upright)")
    p.add_argument("--min-face", type=float, default=MIN_FACE,
                   help=f"smallest face asked for, fraction of the shorter side, within the app's range (default: "
                        f"{MIN_FACE}: 40-pixel faces are in range)")
    p.add_argument("--conditions", nargs="+", choices=condition_names, default=condition_names, metavar="NAME",
                   help="only these conditions (default: all: " + ", ".join(f"'{c}'" for c in condition_names) + ")")
    p.add_argument("--weights", help="model or ensemble file (default: weights/vgg10.pt or $FER_WEIGHTS)")
    p.add_argument("--json", help="also write the full results to this file, e.g. docs/robustness.json")
    p.add_argument("--plot", help="also draw recall and accuracy per condition into this PNG, e.g. docs/robustness.png")
    p.add_argument("--readme", help="regenerate the robustness table in this README (needs every condition)")
    p.add_argument("--overwrite", action="store_true", help="replace files an earlier run left under these names")
    p.set_defaults(func=_robustness, validate=_check_robustness, parser=p)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that the same
    ``finally`` blocks remove partial files and temporary folders."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    OneLineErrorParser.tokens = list(sys.argv[1:] if argv is None else map(str, argv))
    args, extra = parser.parse_known_args(argv)
    if args.command in ("app", "booth"):
        args.streamlit_args = extra
    elif extra:
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "validate", None):
        args.validate(args.parser, args)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        status = args.func(args)
    except USER_ERRORS as e:
        print(f"fer {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fer {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"fer {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    return status or 0
