"""Starting the command under test as a person's terminal would."""

from __future__ import annotations

import sys

#: ``fer`` in a child process that Ctrl-C reaches, whatever started the test run. A shell
#: starts background jobs (``cmd &``, ``nohup``) with SIGINT ignored, children inherit
#: that, and Python then leaves it ignored, as it should; a test run started that way
#: would otherwise see ``fer annotate`` ignore the Ctrl-C the test sends. So the child
#: puts back Python's own SIGINT handler (KeyboardInterrupt) before running ``fer``.
FER_FROM_A_TERMINAL = [
    sys.executable, "-c",
    ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
     "sys.argv[0] = 'fer'; runpy.run_module('fer', run_name='__main__', alter_sys=True)"),
]
