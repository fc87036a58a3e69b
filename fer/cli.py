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
