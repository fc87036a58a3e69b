"""Writing outputs safely: every file appears whole or not at all, and a failed write
(read-only folder, a file or folder in the way, a full disk) becomes one
:class:`OutputError` that names the path and the reason.

Files are written under a ``.partial`` name and renamed into place once all of an
input's outputs are complete; on any failure, or an interruption, the partial files are
removed, and removing them never hides the first error.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path


class OutputError(OSError):
    """An output that cannot be written: its folder is read-only or missing, a file is in
    the way, the disk is full, or it would replace a file it must not. ``path`` and
    ``reason``, where known, let a caller name the output in its user's terms."""

    def __init__(self, message: str, *, path: Path | None = None, reason: str | None = None):
        super().__init__(message)
        self.path = path
        self.reason = reason


def partial_name(path: Path) -> Path:
    """Where ``path`` is written until it is complete."""
    return path.with_name(path.name + ".partial")


@contextmanager
def written_together(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield a partial name for each of ``paths`` to write; when the block ends without an
    error, rename them all into place. Any :class:`OSError` on the way becomes an
    :class:`OutputError`; the partial files are removed whatever happens.

    All or nothing: a folder where a file is to go is refused before the block runs (its
    rename would fail only after the work, and after the renames before it), and when a
    rename still fails, the set's files are removed (those renamed already, and an earlier
    run's others), so that no output of the set is left to pass for a finished one.

    >>> with written_together("out.png", "out.json") as (png, js):   # doctest: +SKIP
    ...     png.write_bytes(data); js.write_text("[]")
    """
    finals = [Path(p) for p in paths]
    partials = [partial_name(p) for p in finals]
    for final in finals:
        refuse_folder(final)
    renaming = False
    try:
        yield partials
        renaming = True
        for partial, final in zip(partials, finals):
            partial.replace(final)
    except BaseException as e:
        if renaming:  # the set is part new, part an earlier run's: neither may pass for finished
            discard(finals)
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise output_error(e, finals, partials) from None
        raise
    finally:
        discard(partials)


def write_whole(path: str | os.PathLike, data: bytes | memoryview | str) -> Path:
    """Write one file whole or not at all, as :func:`written_together` does: ``data`` as
    text when it is a string, else as bytes."""
    path = Path(path)
    with written_together(path) as (partial,):
        if isinstance(data, str):
            partial.write_text(data)
        else:
            partial.write_bytes(data)
    return path


def refuse_folder(path: Path) -> None:
    """Raise :class:`OutputError` when a folder is where the file ``path`` is to be written."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder", path=path, reason="it is a folder")


def output_error(e: OSError, finals: Sequence[Path], partials: Sequence[Path] = ()) -> OutputError:
    """``e`` as an :class:`OutputError` naming the output concerned (its final name, not
    the partial one) and the system's reason."""
    path = finals[0] if finals else None
    if e.filename is not None:
        named = Path(os.fsdecode(e.filename))
        path = dict(zip(partials, finals)).get(named, named)
    reason = reason_of(e)
    return OutputError(f"cannot write {path}: {reason}" if path else f"cannot write the output: {reason}",
                       path=path, reason=reason)


def reason_of(e: OSError) -> str:
    """The system's reason for a failed write, in words."""
    return "no space left on the device" if e.errno == errno.ENOSPC else e.strerror or str(e)


def refuse_to_replace(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise :class:`OutputError` when ``path`` exists and replacing it was not asked for:
    a model or ensemble file written by mistake over another costs hours to remake."""
    if not overwrite and Path(path).exists():
        raise OutputError(f"{path} exists; pass --overwrite to replace it")


def check_writable(path: str | os.PathLike, folder: bool = False) -> None:
    """Raise :class:`OutputError` unless ``path`` (a file, or a folder if ``folder``) could
    be written now. Called before a long run whose result goes there, so a mistyped or
    read-only output costs a second, not the run: the later write still reports any
    failure (a full disk) on its own."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise OutputError(f"cannot write {path}: it is a {'file' if folder else 'folder'}")
    existing = next(p for p in [path if folder else path.parent, *path.parents] if p.exists())
    if not existing.is_dir():
        raise OutputError(f"cannot write {path}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: {existing} is not writable")


def make_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and its parents) unless it exists, or raise :class:`OutputError`
    saying why not: a file in the way, a read-only parent."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise OutputError(f"cannot create the folder {folder}: {blocking} is a file") from None
    except OSError as e:
        raise OutputError(f"cannot create the folder {folder}: {e.strerror or e}") from None
    return folder


@contextmanager
def no_new_empty_folders(folders: Iterable[Path]) -> Iterator[None]:
    """For a block that creates ``folders`` (and their parents) as it writes into them:
    at its end, those that did not exist before and are still empty are removed, so a run
    that wrote nothing there (every input failed, or it was stopped) leaves no empty folder.
    Only for one writer at a time: another one could be about to write into such a folder."""
    new = {p for folder in folders for p in (folder, *folder.parents) if not os.path.exists(p)}
    try:
        yield
    finally:
        for folder in sorted(new, key=lambda p: len(p.parts), reverse=True):  # the deepest first
            with suppress(OSError):
                folder.rmdir()


def discard(paths: Iterable[Path]) -> None:
    """Remove leftover partial files. A file that cannot be removed could not have been
    written either (read-only folder), so failures here are ignored: they must never hide
    the error that made the cleanup necessary."""
    for path in paths:
        with suppress(OSError):
            if path.exists():
                path.unlink()
