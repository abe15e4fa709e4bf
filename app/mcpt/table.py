"""Plain-text tables for summaries, evaluation reports and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence


def _cell(v: object, digits: int) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], digits: int = 3) -> str:
    """Columns right-aligned except the first; floats to ``digits`` places. Markdown-compatible."""
    cells = [[_cell(v, digits) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        out = [values[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True)]
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(list(headers)), sep, *(line(r) for r in cells)])


def tail_note(text: str, width: int = 90) -> str:
    """A note cut to ``width`` from its end: a failure names a long path first and the reason last."""
    return text if len(text) <= width else "..." + text[-(width - 3) :]
