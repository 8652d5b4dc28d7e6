"""The ``matcher`` console script: the core verbs of ``matcher.cli`` plus the service verbs.

The core stays importable without the web stack; only this module wires the two together. Service verbs
live in ``server.worker_cli`` (worker, db), ``server.web_cli`` (serve) and ``server.users_cli`` (users); each exposes
``register(verbs)`` adding argparse sub-commands whose ``run(args) -> int`` does the work.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from matcher import cli as core

SERVICE_MODULES = ("server.worker_cli", "server.web_cli", "server.users_cli")


def build_parser():  # noqa: ANN201
    parser = core.build_parser()
    verbs = next(a for a in parser._actions if a.dest == "verb")  # the sub-parsers action
    for name in SERVICE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return core.main(argv, parser=build_parser())


if __name__ == "__main__":
    sys.exit(main())
