"""Aligned text tables whose cells may be coloured without breaking alignment.

Every cell is made terminal-safe here (herd.text.field): cells carry what
hosts sent (names, descriptions, error reasons), and a CR, LF or escape
sequence in one must not start a row, move the cursor or paint anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import click

from herd import text as safe


@dataclass(frozen=True)
class Cell:
    """Text plus an optional click.style colour, applied after padding."""

    text: str
    fg: str | None = None
    bold: bool = False


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Cell | str]], color: bool) -> list[str]:
    """Lines of a left-aligned table; the last column is not padded."""
    cells = [[_safe(c if isinstance(c, Cell) else Cell(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell.text))
    lines = [_line([Cell(h, bold=True) for h in headers], widths, color)]
    lines.extend(_line(row, widths, color) for row in cells)
    return lines


def _safe(cell: Cell) -> Cell:
    shown = safe.field(cell.text)
    return cell if shown == cell.text else Cell(shown, cell.fg, cell.bold)


def _line(row: Sequence[Cell], widths: Sequence[int], color: bool) -> str:
    parts = []
    last = len(row) - 1
    for i, cell in enumerate(row):
        text = cell.text if i == last else cell.text.ljust(widths[i])
        if color and (cell.fg or cell.bold):
            text = click.style(text, fg=cell.fg, bold=cell.bold)
        parts.append(text)
    return "  ".join(parts).rstrip()
