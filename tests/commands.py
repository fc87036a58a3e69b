"""The ``fer`` command run in-process, as the command-line tests run it."""

from __future__ import annotations

from fer.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``fer ARGV`` (paths may be given as they are)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv) -> str:
    """The one line a refused command prints, checked before the run (argparse's exit) or
    found in it, with exit status 2."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    return err.removesuffix("\n")
