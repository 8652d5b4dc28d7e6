"""The production brokers (Redis, RabbitMQ), Flower on the same app, the time-limit backstop and the recovery of
runs whose message was lost. Real ``celery worker`` subprocesses throughout (see worker_support).

Under CI (CI=true) an unreachable Redis or RabbitMQ fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import requests
from conftest import FIXTURES
from worker_support import ROOT, Service, make_service

from storage.models import TaskRun, utcnow
from workers import dispatch
from workers.celery_app import TASK_QUEUE, make_celery

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")  # kombu's

PEOPLE = FIXTURES / "people" / "records.csv"
REDIS_URL = "redis://127.0.0.1:6379/15"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def require(host: str, port: int, what: str) -> None:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"{what} unreachable at {host}:{port}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def broker_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """A service on Redis (database 15, this suite's own) or RabbitMQ, its task queue emptied first."""
    url = request.param
    if url.startswith("redis"):
        require("127.0.0.1", 6379, "Redis")
        redis.Redis.from_url(url).flushdb()
    else:
        require("127.0.0.1", 5672, "RabbitMQ")
    service = make_service(tmp_path, broker_url=url)
    make_celery(service.config).control.purge()  # messages an earlier, interrupted run may have left
    try:
        yield service
    finally:
        service.close()


def labeling_then_matches(service: Service) -> None:
    transform = service.add_transform(service.add_dataset(PEOPLE))
    sets = service.wait(service.start(transform, "LABELING_SET_GENERATION", num_sets=3))
    assert sets.status == "SUCCEEDED", sets.error_message
    run = service.wait(service.start(transform, "FIND_MATCHES"))
    assert run.status == "SUCCEEDED", run.error_message
    assert len(service.output(run).read_text().splitlines()) == len(PEOPLE.read_text().splitlines())


@pytest.mark.parametrize("broker_service", [REDIS_URL, RABBITMQ_URL], indirect=True, ids=["redis", "rabbitmq"])
def test_runs_go_through_a_production_broker(broker_service: Service) -> None:
    broker_service.start_worker()
    labeling_then_matches(broker_service)


@pytest.mark.parametrize("broker_service", [REDIS_URL], indirect=True, ids=["redis"])
def test_messages_carry_time_limits_from_the_runs_timeout(broker_service: Service) -> None:
    """No worker: the message waits in Redis, where its headers can be read."""
    transform = broker_service.add_transform(broker_service.add_dataset(PEOPLE), timeout_minutes=7)
    run_id = broker_service.start(transform, "FIND_MATCHES")
    raw = redis.Redis.from_url(REDIS_URL).lrange(TASK_QUEUE, 0, -1)
    headers = [json.loads(message)["headers"] for message in raw]
    assert [(h["argsrepr"], h["timelimit"]) for h in headers] == [
        (repr([run_id]), [7 * 60 + dispatch.SOFT_GRACE + dispatch.HARD_GRACE, 7 * 60 + dispatch.SOFT_GRACE])]


def test_soft_time_limit_ends_the_run_timeout_and_publishes_nothing(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """What Celery raises inside a stage that overran its time: the run ends TIMEOUT, its output removed."""
    from celery.exceptions import SoftTimeLimitExceeded

    from services import task_types
    from workers.tasks import execute_task_run

    service = make_service(tmp_path)
    for key, value in service.env().items():
        if key.startswith("MATCHER_"):
            monkeypatch.setenv(key, value)

    def overran(ctx: object) -> None:
        service.store.output_dir(run_id).mkdir(parents=True, exist_ok=True)  # as if something was half-written
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(task_types, "find_matches", overran)  # the registry names it; resolved per run
    try:
        run_id = service.start(service.add_transform(service.add_dataset(PEOPLE)), "FIND_MATCHES")
        assert execute_task_run(run_id) == "TIMEOUT"
        run = service.run(run_id)
        assert run.status == "TIMEOUT" and "time limit" in run.error_message
        assert not service.store.output_dir(run_id).exists()
    finally:
        service.close()


def test_a_run_whose_message_was_lost_is_queued_again(tmp_path: Path) -> None:
    """The row committed, the message never published (the API died in between, or a worker died between
    fetching and claiming it on the SQL broker): a worker's recovery sweep finds it STARTING with an empty queue."""
    service = make_service(tmp_path)
    try:
        transform = service.add_transform(service.add_dataset(PEOPLE))
        with service.db.session() as session:
            run = TaskRun(transform_id=transform, type="FIND_MATCHES", params={}, created_by=service.user_id,
                          created_at=utcnow() - timedelta(minutes=6))
            session.add(run)
            session.flush()
            lost = run.id
            young = TaskRun(transform_id=transform, type="EXPORT_LABELS", params={}, created_by=service.user_id)
            session.add(young)
            session.flush()
            fresh = young.id
        service.start_worker()
        done = service.wait(lost)
        assert done.status == "SUCCEEDED", done.error_message
        assert done.celery_task_id is not None
        assert service.run(fresh).status == "STARTING"  # too young to call lost: its message may be on the way
    finally:
        service.close()


@pytest.fixture
def flower(tmp_path: Path) -> Iterator[tuple[Service, str]]:
    require("127.0.0.1", 6379, "Redis")
    redis.Redis.from_url(REDIS_URL).flushdb()
    service = make_service(tmp_path, broker_url=REDIS_URL)
    port = _free_port()
    env = dict(service.env(), FLOWER_UNAUTHENTICATED_API="true")
    log = (tmp_path / "flower.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.celery_app", "flower",
                                f"--port={port}", "--address=127.0.0.1"], env=env, cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        yield service, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        service.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(url: str, ready: object, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = requests.get(url, timeout=5).json()
            if ready(last):  # type: ignore[operator]
                return last
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} never became ready; last answer: {last!r}")


def test_flower_monitors_the_same_app(flower: tuple[Service, str]) -> None:
    service, base = flower
    _poll(f"{base}/api/tasks", lambda answer: answer == {})  # listening to events before anything happens
    service.start_worker()
    run_id = service.start(service.add_transform(service.add_dataset(PEOPLE)), "FIND_MATCHES")
    assert service.wait(run_id).status == "SUCCEEDED"
    workers = _poll(f"{base}/api/workers?refresh=1", lambda answer: bool(answer))
    assert any(name.startswith("celery@") for name in workers)  # type: ignore[union-attr]

    def finished(tasks: object) -> bool:
        return any(run_id in str(t.get("args")) and t.get("state") == "SUCCESS"
                   for t in tasks.values())  # type: ignore[union-attr]

    tasks = _poll(f"{base}/api/tasks", finished)
    task = next(t for t in tasks.values() if run_id in str(t.get("args")))  # type: ignore[union-attr]
    assert task["name"] == "matcher.execute_task_run" and task["result"] == repr("SUCCEEDED")
