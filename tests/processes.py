"""Starting the command under test as a person's terminal would."""

from __future__ import annotations

import signal
import subprocess
import sys

#: ``fer`` in a child process that Ctrl-C reaches, whatever started the test run. A shell
#: starts background jobs (``cmd &``, ``nohup``) with SIGINT ignored, children inherit
#: that, and Python then leaves it ignored, as it should; a test run started that way
#: would otherwise see ``fer annotate`` ignore the Ctrl-C the test sends. So the child
#: puts back Python's own SIGINT handler (KeyboardInterrupt) before running ``fer``. It
#: also prints every thread's stack on SIGUSR1 (:func:`finish_or_show_stacks`).
FER_FROM_A_TERMINAL = [
    sys.executable, "-c",
    ("import faulthandler, runpy, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
     "signal.signal(signal.SIGINT, signal.default_int_handler); "
     "sys.argv[0] = 'fer'; runpy.run_module('fer', run_name='__main__', alter_sys=True)"),
]


def finish_or_show_stacks(child: subprocess.Popen, timeout: float) -> str:
    """The stderr of ``child`` (started with :data:`FER_FROM_A_TERMINAL`) once it exits, or
    a failure that shows where each of its threads was, when it does not exit in ``timeout``
    seconds (a hang says nothing without them)."""
    try:
        return child.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGUSR1)
        try:
            child.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        child.kill()
        err = child.communicate()[1]
        raise AssertionError(f"fer did not exit within {timeout} s; its threads were at:\n{err[-8000:]}") from None
