"""Peak memory of the web process while it takes a large CSV upload (issue 15: a 308 MB CSV took it to 4.3 GB).

Usage::

    python bench/upload_memory.py --size-mb 2048 [--code DIR] [--keep]

Generates a CSV of ``--size-mb`` MB (people-like rows: a unique id, names, email, phone, address, date of
birth; cached in the temp directory), starts a real ``matcher serve --no-worker --no-demo --web-workers 1`` on
127.0.0.1 on a fresh data directory, uploads the file with ``curl -F`` (streamed from disk, as a browser sends
it) and reads the web worker's peak resident set size (``VmHWM`` in ``/proc/<pid>/status``) before and after.
``--max-upload-mb N`` sets the server's ``MATCHER_MAX_UPLOAD_MB`` (a 413 run: how fast, and what is left in
the data directory). ``--code DIR`` runs another checkout of the project (``git archive <commit> | tar -x -C
DIR``) with this interpreter: the "before" figure. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
FIRST = np.array(["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Henry", "Isla", "Jack", "Maria", "Noah"])
LAST = np.array(["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright"])
CITY = np.array(["London", "Leeds", "York", "Bristol", "Cardiff", "Glasgow", "Oxford", "Bath", "Derby", "Hull"])


def generate(path: Path, size_mb: int) -> None:
    """~100-byte rows written 500,000 at a time until the file reaches the size, then cut at a line end 1 MB
    below it."""
    rng = np.random.default_rng(0)
    target, start = size_mb * 1024 * 1024, 0
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("id,first_name,last_name,email,phone,street_address,city,postcode,date_of_birth\n")
        while handle.tell() < target:
            n = 500_000
            ids = np.arange(start, start + n)
            first, last = FIRST[rng.integers(0, len(FIRST), n)], LAST[rng.integers(0, len(LAST), n)]
            frame = pd.DataFrame({
                "id": [f"r{i}" for i in ids], "first_name": first, "last_name": last,
                "email": [f"{f.lower()}.{la.lower()}{i}@example.com"
                          for f, la, i in zip(first, last, ids, strict=True)],
                "phone": [f"07{v:09d}" for v in rng.integers(0, 10**9, n)],
                "street_address": [f"{v} High Street" for v in rng.integers(1, 500, n)],
                "city": CITY[rng.integers(0, len(CITY), n)],
                "postcode": [f"AB{v:02d} {w}XY" for v, w in zip(rng.integers(1, 99, n), rng.integers(1, 9, n),
                                                                strict=True)],
                "date_of_birth": [f"19{v % 100:02d}-{v % 12 + 1:02d}-{v % 28 + 1:02d}"
                                  for v in rng.integers(0, 10**6, n)],
            })
            handle.write(frame.to_csv(index=False, header=False))
            start += n
    cut_at_line(path, target - 1024 * 1024)


def cut_at_line(path: Path, size: int) -> None:
    """Truncate to the last whole line within ``size`` bytes: with the multipart framing, a ``--size-mb 2048``
    file still fits the default 2048 MB limit."""
    if path.stat().st_size <= size:
        return
    with open(path, "r+b") as handle:
        handle.seek(size - 65536)
        tail = handle.read(65536)
        handle.truncate(size - 65536 + tail.rindex(b"\n") + 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def web_worker(serve_pid: int) -> int:
    """serve -> python -m server.web_server (gunicorn's master) -> its one worker."""
    for child in children(serve_pid):
        if b"server.web_server" in Path(f"/proc/{child}/cmdline").read_bytes():
            workers = children(child)
            if len(workers) == 1:
                return workers[0]
    raise LookupError("no single web worker yet")


def wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("matcher serve exited")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("matcher serve did not become healthy")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV for the next run")
    parser.add_argument("--max-upload-mb", type=int, help="MATCHER_MAX_UPLOAD_MB of the server (a 413 run)")
    parser.add_argument("--max-columns", type=int, help="MATCHER_MAX_COLUMNS of the server (5: the file is "
                        "received, saved and refused before parsing: the cost of receiving alone)")
    args = parser.parse_args()
    csv_path = Path(tempfile.gettempdir()) / f"upload-bench-{args.size_mb}mb.csv"
    if not csv_path.exists():
        generate(csv_path, args.size_mb)
    cut_at_line(csv_path, args.size_mb * 1024 * 1024 - 1024 * 1024)
    work = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHER_")}
    env["PYTHONPATH"] = str(args.code.resolve())
    if args.max_upload_mb:
        env["MATCHER_MAX_UPLOAD_MB"] = str(args.max_upload_mb)
    if args.max_columns:
        env["MATCHER_MAX_COLUMNS"] = str(args.max_columns)
    command = [sys.executable, "-m", "server.cli", "serve", "--no-worker", "--no-demo", "--web-workers", "1",
               "--port", str(port), "--data-dir", str(work / "data")]
    log = open(work / "serve.log", "w")  # noqa: SIM115 (open for the server's whole life)
    process = subprocess.Popen(command, cwd=args.code, env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        worker = web_worker(process.pid)
        token = (work / "data" / "admin-token").read_text().strip()
        before = status_kb(worker, "VmRSS")
        started = time.monotonic()
        upload = subprocess.run(
            ["curl", "-sS", "-o", str(work / "response.json"), "-w", "%{http_code}", "-H", "Expect:",
             "-H", f"Authorization: Bearer {token}", "-F", f"file=@{csv_path};type=text/csv",
             f"{base}/api/v1/datasets"], capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        peak = status_kb(worker, "VmHWM")
        body = json.loads((work / "response.json").read_text() or "{}")
        print(json.dumps({"file_mb": round(csv_path.stat().st_size / 2**20), "status": upload.stdout,
                          "rows": body.get("row_count"), "detail": body.get("detail"),
                          "key_candidates": [c["name"] for c in body.get("columns", []) if c.get("unique_non_empty")],
                          "left_in_data_dir": sorted(p.name for sub in ("uploads", "datasets")
                                                     for p in (work / "data" / sub).iterdir()),
                          "web_worker_rss_before_mb": round(before / 1024),
                          "web_worker_peak_rss_mb": round(peak / 1024), "upload_seconds": round(seconds, 1)}))
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
        if (work / "response.json").exists() and b'"row_count"' not in (work / "response.json").read_bytes():
            print((work / "serve.log").read_text()[-3000:], file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            csv_path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
