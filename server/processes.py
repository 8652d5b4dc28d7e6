"""Child processes of ``matcher serve``: started in their own session, never outliving it, stopped politely.

A child gets its own session, so a Ctrl-C in the terminal reaches only ``matcher serve``, which then stops
each child in order (the web server first, the worker last). On Linux a child also asks the kernel for SIGTERM
when ``matcher serve`` dies (``PR_SET_PDEATHSIG``): even a SIGKILLed ``matcher serve`` leaves no orphan.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)
    parent = os.getpid()

    def arm() -> None:  # runs in the child between fork and exec
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the prctl: nobody will signal us
            os._exit(1)

    return arm


def spawn(command: list[str], env: dict[str, str], stdout_to_stderr: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=_parent_death_signal(),
                            stdout=sys.stderr.fileno() if stdout_to_stderr else None)


def stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
