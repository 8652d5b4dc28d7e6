"""A task run's status: the one list of them, and which are active and which terminal. Stored in
``task_runs.status`` as the member's value (a plain string column), so the enum changes nothing in the database.

    STARTING -> RUNNING -> SUCCEEDED | FAILED | TIMEOUT | STOPPED      (STOPPING: set by the API's cancel)
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    STARTING = "STARTING"  # committed, queued (or waiting out a retry's countdown)
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"  # cancelled; the worker ends it STOPPED at its next progress report
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"


# Tuples, not sets: SQL ``IN (...)`` lists and messages list them in this order.
ACTIVE: tuple[RunStatus, ...] = (RunStatus.STARTING, RunStatus.RUNNING, RunStatus.STOPPING)
TERMINAL: tuple[RunStatus, ...] = tuple(status for status in RunStatus if status not in ACTIVE)
