"""Small file systems for the tests of a full or read-only disk."""

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from prerequisites import require


@contextmanager
def tmpfs(path: Path, size: str, files: list[Path] = (), read_only: bool = False):
    """A small tmpfs at ``path`` holding copies of ``files``, remounted read-only if asked."""
    tests = "the tests of a full or read-only disk"
    require(["root and mount(8)"] if os.geteuid() != 0 or not shutil.which("mount") else [], tests)
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    require([f"a tmpfs ({done.stderr.decode().strip()})"] if done.returncode else [], tests)
    try:
        for f in files:
            shutil.copy(f, path)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)
