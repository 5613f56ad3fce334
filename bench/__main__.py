"""Run one benchmark: ``python -m bench NAME [ARGS]``; without NAME, list them."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

# Modules of this package that are helpers, not benchmarks.
_HELPERS = {"latency", "measure"}


def available() -> list[str]:
    """Return the names of the benchmark modules in this package."""
    return sorted(
        module.name
        for module in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not module.name.startswith("_") and module.name not in _HELPERS
    )


def main(argv: list[str]) -> int:
    """Import ``bench.<argv[0]>`` and return what its ``main(argv[1:])`` returns."""
    names = available()
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m bench NAME [ARGS]")
        print("benchmarks: " + (", ".join(names) or "none"))
        return 0
    name = argv[0]
    if name not in names:
        print(
            f"unknown benchmark {name!r}; use one of: {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
