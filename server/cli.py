"""The ``matcher`` console script: the core verbs of ``matcher.cli`` plus the service verbs.

The core stays importable without the web stack; only this module wires the two together.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from matcher import cli as core


def main(argv: Sequence[str] | None = None) -> int:
    return core.main(argv)


if __name__ == "__main__":
    sys.exit(main())
