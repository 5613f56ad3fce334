"""Engines of slopmachine-ops: releases, backups and the local stack.

Nothing in this package imports Prefect, so the engines are tested directly and
reused by the command line. Prefect tasks and flows live in the top-level
``tasks`` and ``flows`` packages.
"""

__version__ = "0.1.0"
