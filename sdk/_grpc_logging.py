"""Keeps gRPC's own INFO and WARNING log lines off the terminal of the ``runplane`` command.

gRPC's C core logs to stderr, and reads ``GRPC_VERBOSITY`` once, when ``grpc`` is imported:
this package imports it before any of the command's code runs, so the choice is made here.
The command explains every failed call in one line of its own, so lines such as "Handshake
failed with error SSL_ERROR_SSL" only repeat it in gRPC's words. Errors are still logged, a
``GRPC_VERBOSITY`` that is set wins, and programs that import the SDK are left alone.
"""

from __future__ import annotations

import os
import sys
from itertools import pairwise
from pathlib import Path

COMMAND = "runplane"
COMMAND_MODULE = "runplane.cli"


def started_as_the_command(argv: list[str], orig_argv: list[str]) -> bool:
    """Whether this process is ``runplane ...`` or ``python -m runplane.cli ...``."""
    script = Path(argv[0]).name if argv else ""
    module_runs = pairwise(orig_argv)
    return script == COMMAND or any(a == "-m" and b == COMMAND_MODULE for a, b in module_runs)


if started_as_the_command(sys.argv, sys.orig_argv):
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
