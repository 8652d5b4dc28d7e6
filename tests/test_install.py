"""A plain install (runtime dependencies only, no dev extras) can use Redis and RabbitMQ (issue 15: it failed with
"No module named 'packaging'" on Redis because the project depended on ``redis``, not ``celery[redis]``, and
the dev extras hid it).

A clean virtualenv (no system site packages) gets ``pip install`` of a copy of the source tree; its Python then
builds the service's Celery app (``workers.celery_app.make_celery``, which imports the task modules) on each
broker and runs a task through it with a worker in the same process, the result coming back through the
default result backend. About 45 s with pip's cache warm (the first build downloads ~150 MB of wheels).

Needs Redis at 127.0.0.1:6379 (database 14, this test's own) and RabbitMQ at 127.0.0.1:5672 (guest/guest),
each run on a queue of its own. Without them, or without a package index, the test is skipped with the reason;
under CI (CI=true) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_brokers import require

pytestmark = pytest.mark.install  # part of `make test`; `-m "not install"` leaves it out

ROOT = Path(__file__).resolve().parent.parent
BROKERS = {"redis": "redis://127.0.0.1:6379/14", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//"}
NO_INDEX = ("Failed to establish a new connection", "Temporary failure in name resolution", "Network is unreachable",
            "No matching distribution found")
COPY_IGNORE = shutil.ignore_patterns(".venv", "build", "dist", "*.egg-info", ".git", "__pycache__", ".*_cache",
                                     "test-artifacts", "out", "tests", "bench", "examples")

ROUND_TRIP = r'''
import sys, uuid
from pathlib import Path
from celery.contrib.testing.worker import start_worker
from kombu import Queue
from services.config import Config
from workers.celery_app import make_celery

data_dir, broker, queue = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
import services
assert Path(services.__file__).is_relative_to(Path(sys.prefix)), services.__file__  # the installed package
app = make_celery(Config.from_env(data_dir, broker_url=broker))
app.conf.task_queues = [Queue(queue, durable=False, auto_delete=True)]

@app.task(name="install_check.echo")
def echo(value):
    return {"echo": value}

with start_worker(app, pool="solo", queues=[queue], perform_ping_check=False, shutdown_timeout=30):
    token = uuid.uuid4().hex
    answer = echo.apply_async(args=[token], queue=queue).get(timeout=60)
    assert answer == {"echo": token}, answer
print("round trip ok on", broker.split(":")[0])
'''


def _unreachable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def plain_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The Python of a fresh virtualenv holding ``pip install <source tree>``: runtime dependencies only."""
    base = tmp_path_factory.mktemp("plain-install")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE)  # no stale build/ or egg-info of the working tree
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                "--retries", "1", "--timeout", "30", str(source)],
                               capture_output=True, text=True, env=env, timeout=900)
    if installed.returncode != 0:
        output = installed.stdout + installed.stderr
        if any(sign in output for sign in NO_INDEX):
            _unreachable(f"no package index reachable to build a clean install: {output[-600:]}")
        pytest.fail(f"pip install of the project failed:\n{output[-3000:]}")
    yield python


def test_a_plain_install_has_no_dev_tools(plain_python: Path) -> None:
    """The point of the exercise: nothing of the dev extras may hide a missing runtime dependency."""
    probe = "import importlib.util as u; print([m for m in ('pytest', 'flower', 'mypy') if u.find_spec(m)])"
    found = subprocess.run([str(plain_python), "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


@pytest.mark.parametrize("broker", BROKERS)
def test_a_plain_install_runs_a_task_on_each_production_broker(plain_python: Path, tmp_path: Path,
                                                               broker: str) -> None:
    url = BROKERS[broker]
    require("127.0.0.1", 6379 if broker == "redis" else 5672, broker)  # skipped unreachable, failed under CI
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MATCHER_", "PYTHONPATH", "VIRTUAL_ENV"))}
    queue = f"install-check-{uuid.uuid4().hex[:12]}"
    done = subprocess.run([str(plain_python), "-c", ROUND_TRIP, str(tmp_path / "data"), url, queue],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"round trip ok on {url.split(':')[0]}" in done.stdout
