"""Report tables of ``slopops nodes`` and ``slopops mcp``, and their consoles."""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from slopops.fleet import RolloutReport
from slopops.fleet.errors import RolloutFailedError

console = Console(soft_wrap=True)
# Messages quote values such as [host]:port, so rich markup stays off.
errors = Console(stderr=True, soft_wrap=True, markup=False)

NODE_COLUMNS = ("node", "status", "release", "health", "note")


def print_table(title: str, columns: Sequence[str], rows: list[dict[str, str]]) -> None:
    """Print one table row per dict, in ``columns`` order.

    Cells are plain text, because values such as [host]:port are not markup.
    """
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(row[column]) for column in columns))
    console.print(table)


def finish_node_report(report: RolloutReport, title: str) -> None:
    """Print the node table and any error or warning, and exit 1 unless it is ok."""
    print_table(title, NODE_COLUMNS, report.rows())
    if not report.ok:
        errors.print(f"error: {RolloutFailedError(report)}")
        raise typer.Exit(1)
    if report.reason:
        errors.print(f"warning: {report.reason}")
