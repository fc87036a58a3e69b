"""The README's code examples, for the tests that run them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def python_examples() -> list[str]:
    """Every ```python block of the README."""
    return code_blocks("python")


def fer_commands(name: str) -> list[list[str]]:
    """Every ``fer NAME ...`` line of the README's bash blocks, split as a shell would
    (comments dropped, continuation lines joined)."""
    commands = []
    for block in code_blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith(f"fer {name} "):
                commands.append(shlex.split(line, comments=True)[2:])
    return commands
