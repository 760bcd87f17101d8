"""Server-side charts for the reports: matplotlib's SVG backend, Noto Sans CJK, no network.

Text stays text in the SVG (``svg.fonttype = none``) so WeasyPrint lays it out with the same CJK font as the
page and the labels remain searchable in the PDF. Every drawn element that a reader counts carries an ``id``
(``bar-<n>``, ``series-<n>``) so tests can check the chart against its data. Output is deterministic: fixed
hash salt, no date metadata.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from collections.abc import Sequence

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

CJK_FAMILY = "Noto Sans CJK SC"
PALETTE = ("#0b7285", "#e8590c", "#2b8a3e", "#5f3dc4", "#c92a2a", "#868e96")
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#e4e7eb"


@functools.cache
def cjk_font_name() -> str:
    """The family name of the system's Noto Sans CJK font, registering its file with matplotlib if needed."""
    try:
        font_manager.findfont(font_manager.FontProperties(family=CJK_FAMILY), fallback_to_default=False)
        return CJK_FAMILY
    except ValueError:
        pass
    fc_match = shutil.which("fc-match")
    if fc_match:
        found = subprocess.run(  # noqa: S603 - fixed arguments, no user input
            [fc_match, "-f", "%{file}", CJK_FAMILY], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        if found:
            font_manager.fontManager.addfont(found)
            return font_manager.FontProperties(fname=found).get_name()
    return "sans-serif"


def _style() -> dict:
    return {
        "svg.fonttype": "none",
        "svg.hashsalt": "xinqiao-report",
        "font.family": [cjk_font_name(), "sans-serif"],
        "font.size": 9,
        "axes.edgecolor": GRID,
        "axes.labelcolor": MUTED,
        "xtick.color": MUTED,
        "ytick.color": MUTED,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


def _svg(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None, "Creator": "XinQiao"})
    return buffer.getvalue().decode("utf-8")


def _short_number(value: float, _position: int | None = None) -> str:
    if abs(value) >= 10_000:
        return f"{value / 10_000:g}万"
    return f"{value:g}"


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str = "",
    width: float = 7.0,
    height: float = 2.6,
    secondary: bool = False,
) -> str:
    """One line per series over the labels (e.g. days), a marker on every point; returns SVG text.

    With ``secondary`` every series after the first is drawn against a right-hand axis of its own."""
    from matplotlib.ticker import FuncFormatter

    with rc_context(_style()):
        figure = Figure(figsize=(width, height))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        lines = []
        for index, (name, values) in enumerate(series):
            # a second series of another magnitude (interactions next to views) gets its own axis on the right
            target = axes if index == 0 or not secondary else axes.twinx()
            (line,) = target.plot(
                positions,
                list(values),
                color=PALETTE[index % len(PALETTE)],
                marker="o",
                markersize=2.5,
                linewidth=1.4,
                label=name,
            )
            line.set_gid(f"series-{index}")
            lines.append(line)
            if target is not axes:
                target.set_ylim(bottom=0)
                target.yaxis.set_major_formatter(FuncFormatter(_short_number))
                target.spines["right"].set_visible(True)
        step = max(1, len(labels) // 8)
        axes.set_xticks(positions[::step], [labels[i] for i in positions[::step]])
        axes.yaxis.set_major_formatter(FuncFormatter(_short_number))
        axes.grid(axis="y", color=GRID, linewidth=0.6)
        axes.set_ylim(bottom=0)
        if title:
            axes.set_title(title, loc="left", color=INK, fontsize=10)
        if len(series) > 1:
            axes.legend(
                lines,
                [line.get_label() for line in lines],
                frameon=False,
                loc="upper left",
                ncols=len(series),
                fontsize=8,
            )
        figure.tight_layout()
        return _svg(figure)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str = "",
    width: float = 7.0,
    height: float | None = None,
    value_format: str = "{:,.0f}",
) -> str:
    """Horizontal bars, largest first as given, each labelled with its value; returns SVG text."""
    from matplotlib.ticker import FuncFormatter

    height = height or max(1.4, 0.32 * len(labels) + 0.7)
    with rc_context(_style()):
        figure = Figure(figsize=(width, height))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))[::-1]
        bars = axes.barh(positions, list(values), color=PALETTE[0], height=0.62)
        for index, bar in enumerate(bars):
            bar.set_gid(f"bar-{index}")
            axes.annotate(
                value_format.format(values[index]),
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=INK,
            )
        axes.set_yticks(positions, list(labels))
        axes.xaxis.set_major_formatter(FuncFormatter(_short_number))
        axes.grid(axis="x", color=GRID, linewidth=0.6)
        axes.margins(x=0.15)
        if title:
            axes.set_title(title, loc="left", color=INK, fontsize=10)
        figure.tight_layout()
        return _svg(figure)
