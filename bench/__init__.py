"""Benchmarks, run with ``python -m bench NAME``; separate from the tests.

Each module ``bench/NAME.py`` defines ``main(argv: list[str]) -> int``. It
measures its own baseline in the same run and prints one line per figure:
``<figure>: <value> (goal <goal>)``.
"""
