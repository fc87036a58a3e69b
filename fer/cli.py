"""The ``fer`` command line: one sub-command per job, each a thin layer over the API.

Errors a user can fix (a wrong path, a damaged file, a face-less video) end the command
with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fer.data import DatasetError
from fer.export import ModelFileError

USER_ERRORS: tuple[type[Exception], ...] = (DatasetError, ModelFileError, FileNotFoundError)


def _train(args: argparse.Namespace) -> None:
    from fer.train import config_from_args, train

    best = train(config_from_args(args), resume=args.resume)
    print(f"best checkpoint (chosen on PublicTest): {best}")


def _export(args: argparse.Namespace) -> None:
    from fer.export import export_checkpoint

    print(f"wrote {export_checkpoint(args.checkpoint, args.output)}")


def _evaluate(args: argparse.Namespace) -> None:
    from fer.evaluate import evaluate, format_report, plot_confusion_matrices, write_json

    weights = [float(w) for w in args.ensemble_weights.split(",")] if args.ensemble_weights else None
    result = evaluate(args.weights, args.data, args.split, tencrop=args.tencrop, ensemble_weights=weights)
    print(format_report(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    if args.plots:
        for path in plot_confusion_matrices(result, args.plots):
            print(f"wrote {path}")


def _metrics(args: argparse.Namespace) -> None:
    import json

    from fer.report import accuracy_table, update_readme, write_model_metrics

    paths = [write_model_metrics(w, args.data, plots=args.plots) for w in args.weights]
    for path in paths:
        print(f"wrote {path}")
    if args.readme:
        table = accuracy_table([json.loads(p.read_text()) for p in paths])
        print(table)
        if update_readme(args.readme, table):
            print(f"updated the accuracy table in {args.readme}")


def build_parser() -> argparse.ArgumentParser:
    from fer.train import add_config_arguments

    parser = argparse.ArgumentParser(prog="fer", description="Facial expression recognition on FER2013.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model on FER2013")
    add_config_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    p.set_defaults(func=_train)

    p = sub.add_parser("export", help="write a training checkpoint as a TorchScript model file")
    p.add_argument("checkpoint", help="checkpoint from fer train (e.g. runs/vgg10/best.pt)")
    p.add_argument("-o", "--output", required=True, help="model file to write, e.g. weights/vgg10.pt")
    p.set_defaults(func=_export)

    p = sub.add_parser("evaluate", help="metrics of a model or weighted ensemble on a FER2013 test split")
    p.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    p.add_argument("--weights", nargs="+", required=True, help="model files (.pt) or ensemble files (.json)")
    p.add_argument("--ensemble-weights", help="comma-separated weight per model, e.g. 0.6,0.4 (default: equal)")
    p.add_argument("--split", choices=("public", "private"), required=True,
                   help="public (PublicTest, for choosing) or private (PrivateTest, for reporting)")
    p.add_argument("--tencrop", action="store_true", help="average ten crops per face (default: centre crop)")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.add_argument("--plots", help="also write confusion-matrix heatmaps (PNG) into this directory")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("metrics", help="write the metrics file shipped beside a model (both splits, both crops)")
    p.add_argument("weights", nargs="+", help="model or ensemble files, e.g. weights/vgg10.pt")
    p.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    p.add_argument("--plots", help="also write confusion-matrix heatmaps (PNG) into this directory")
    p.add_argument("--readme", help="regenerate the accuracy table in this README from the metrics files")
    p.set_defaults(func=_metrics)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except USER_ERRORS as e:
        print(f"fer {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fer {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
