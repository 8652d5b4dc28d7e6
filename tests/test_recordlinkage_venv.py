"""The recordlinkage interop tested where a recordlinkage user runs it: recordlinkage 0.16 with its declared
dependencies (pandas<3) beside our core's, in a virtualenv of its own (the dev environment runs pandas 3, which
recordlinkage does not declare; docs/recordlinkage.md).

The virtualenv holds the core dependencies of pyproject.toml, its ``recordlinkage`` extra and pytest, installed
by pip with their dependencies: pip resolves pandas 2.x. It is built once per set of requirements and Python
version under the temporary directory (``matcher-recordlinkage-venv-<hash>``; ~1.5 min with pip's cache warm)
and reused after; ``matcher`` comes from this source tree (PYTHONPATH), so no install of the project is needed.
Inside it, pytest runs tests/test_recordlinkage_interop.py and tests/test_extra_comparators.py, which must pass
and not skip. Without a package index the test is skipped (failed under CI), like tests/test_install.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
from test_install import NO_INDEX, _unreachable

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parent.parent
# what matcher/ imports (the web and worker layers' dependencies stay out) and what runs the tests
CORE = ("numpy", "pandas", "scipy", "scikit-learn", "rapidfuzz", "jellyfish", "pyarrow")
TEST_TOOLS = ("pytest", "pytest-timeout")
INNER_TESTS = ("tests/test_recordlinkage_interop.py", "tests/test_extra_comparators.py")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower()


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return ([r for r in project["dependencies"] if _name(r) in CORE] + extras["recordlinkage"]
            + [r for r in extras["dev"] if _name(r) in TEST_TOOLS])


def cached_venv() -> Path:
    """The virtualenv's Python, built on first use into a scratch folder renamed into place once complete (an
    interrupted build is never reused; only ``python -m`` is run from it, which a move does not break)."""
    wanted = requirements()
    key = hashlib.sha256("\n".join([sys.version, *wanted]).encode()).hexdigest()[:12]
    home = Path(tempfile.gettempdir()) / f"matcher-recordlinkage-venv-{key}"
    if not home.exists():
        scratch = Path(tempfile.mkdtemp(prefix=f"{home.name}-building-"))
        try:
            _build(scratch, wanted)
            try:
                scratch.rename(home)
            except OSError:  # another run finished the same build first: use that one
                if not home.exists():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return home / "bin" / "python"


def _build(venv: Path, wanted: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                                "--disable-pip-version-check", "--retries", "1", "--timeout", "30", *wanted],
                               capture_output=True, text=True, env=env, timeout=900)
    if installed.returncode != 0:
        output = installed.stdout + installed.stderr
        if any(sign in output for sign in NO_INDEX):
            _unreachable(f"no package index reachable to build the recordlinkage virtualenv: {output[-600:]}")
        pytest.fail(f"pip install of {wanted} failed:\n{output[-3000:]}")


def test_the_interop_passes_with_recordlinkage_and_pandas_2() -> None:
    python = cached_venv()
    versions = subprocess.run([str(python), "-c", "import pandas, recordlinkage; "
                               "print(pandas.__version__, recordlinkage.__version__)"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert int(versions[0].split(".")[0]) == 2, versions  # the combination recordlinkage declares

    env = {**{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *INNER_TESTS],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)

    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", summary) and "skipped" not in summary, summary
