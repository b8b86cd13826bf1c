"""Server-rendered SVG charts: coordinates computed here, drawn by the templates (no script, no inline CSS)."""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Whisker:
    label: str
    y: float
    x_low: float
    x_mid: float
    x_high: float
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class WhiskerChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    axis_y: float
    rows: list[Whisker]
    ticks: list[Tick]
    axis_label: str = "Score (Elo scale)"
    # x of a reference line (no effect, even odds), when one is drawn.
    reference_x: float | None = None
    # Narrow layout: each label on its own line above its whisker, so the plot keeps the full width.
    stacked: bool = False
    axis_lines: tuple[str, ...] = ()
    font_size: int = 12


@dataclass(frozen=True)
class Responsive:
    """One chart drawn twice: the wide layout, and a narrow one whose text still reads at 11 px or more when the
    SVG is scaled down to a 390 px phone (the CSS shows one of them)."""

    wide: object
    narrow: object


ROW_HEIGHT = 22
STACKED_ROW_HEIGHT = 36
# Approximate width of one character of the 12px label font, to leave room for the longest label.
CHAR_WIDTH = 6.8
MAX_LABEL = 40
# The narrow layout's drawing width: on a 390 px screen the chart box is about 340 px, so text is drawn at 13 px
# to be at least 12 px on screen.
NARROW_WIDTH = 360
NARROW_FONT = 13


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = max(high - low, 1e-9)
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step) + 1)]


def _shorten(label: str, limit: int = MAX_LABEL) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap (SVG text does not wrap by itself)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def whisker_chart(
    entries: list[tuple[str, float, float, float]],
    width: int = 720,
    *,
    axis_label: str = "Score (Elo scale)",
    reference: float | None = None,
    fmt: str = "{:.0f}",
    stacked: bool = False,
) -> WhiskerChart | None:
    """entries: (label, value, ci_low, ci_high), drawn top to bottom in the given order."""
    entries = [e for e in entries if all(v is not None and math.isfinite(v) for v in e[1:])]
    if not entries:
        return None
    low = min([e[2] for e in entries] + ([reference] if reference is not None else []))
    high = max([e[3] for e in entries] + ([reference] if reference is not None else []))
    pad = max((high - low) * 0.05, 1.0) if fmt == "{:.0f}" else max((high - low) * 0.05, 1e-3)
    low, high = low - pad, high + pad
    font = NARROW_FONT if stacked else 12
    if stacked:
        entries = [(_shorten(label, int(width / (font * 0.6))), *rest) for label, *rest in entries]
        left, right, row_height, top = 10, width - 10, STACKED_ROW_HEIGHT, 30
    else:
        entries = [(_shorten(label), *rest) for label, *rest in entries]
        left, right = int(12 + CHAR_WIDTH * max(len(e[0]) for e in entries)), width - 16
        row_height, top = ROW_HEIGHT, 12

    def x(value: float) -> float:
        return round(left + (value - low) / (high - low) * (right - left), 2)

    rows = [
        Whisker(label, top + k * row_height, x(lo), x(mid), x(hi),
                f"{label}: {fmt.format(mid)} (95% CI {fmt.format(lo)} to {fmt.format(hi)})")
        for k, (label, mid, lo, hi) in enumerate(entries)
    ]  # fmt: skip
    axis_y = top + len(entries) * row_height - (12 if stacked else 0)
    # Fewer ticks when narrow, so their labels do not run into each other.
    ticks = [Tick(x(t), f"{t:g}") for t in _nice_ticks(low, high, 3 if stacked else 5)]
    reference_x = x(reference) if reference is not None else None
    axis_lines = tuple(wrap(axis_label, int(width / (font * 0.55)))) if stacked else (axis_label,)
    height = int(axis_y + 28 + 16 * len(axis_lines))
    return WhiskerChart(width, height, left, right, axis_y, rows, ticks, axis_label, reference_x, stacked,
                        axis_lines, font)  # fmt: skip


def responsive_whiskers(entries: list[tuple[str, float, float, float]], **options) -> Responsive | None:
    wide = whisker_chart(entries, **options)
    if wide is None:
        return None
    return Responsive(wide, whisker_chart(entries, NARROW_WIDTH, stacked=True, **options))


@dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    fill: str
    text: str
    text_fill: str
    title: str


@dataclass(frozen=True)
class HeatLabel:
    index: int
    number: str
    lines: list[str]
    # The whole name, kept for the accessible title when the drawn lines had to shorten it.
    full: str


@dataclass(frozen=True)
class Heatmap:
    width: int
    height: int
    cell: int
    margin: int
    top: int
    labels: list[HeatLabel]
    cells: list[HeatCell]
    font_size: int = 12
    # Row by column, the text of each cell ("" where the models never met): the table screen readers get.
    grid: list[list[str]] = ()


# Row names wrap onto two lines of this many characters; columns carry the row's number, so the grid stays
# narrow enough for a phone and no name is cut at an angle.
HEAT_LINE = 18
HEAT_FONT = 12


def _heat_label(k: int, name: str) -> HeatLabel:
    lines = wrap(name, HEAT_LINE)
    if len(lines) > 2:
        lines = [lines[0], _shorten(" ".join(lines[1:]), HEAT_LINE)]
    lines = [_shorten(line, HEAT_LINE + 4) for line in lines]
    return HeatLabel(k, str(k + 1), lines, name)


INK = "#1f2328"
# WCAG AA for text under 18px.
MIN_TEXT_CONTRAST = 4.5


def _win_rate_hsl(rate: float) -> tuple[int, int]:
    # Diverging: red below 50%, white at 50%, blue above; lightness carries the magnitude.
    hue = 215 if rate >= 0.5 else 5
    strength = min(abs(rate - 0.5) * 2, 1.0)
    return hue, round(97 - 52 * strength)


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour with channels in 0..1."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[k : k + 2], 16) / 255 for k in (1, 3, 5))


def readable_ink(background: tuple[float, float, float]) -> str:
    """The page's ink when it reaches AA contrast on this background, else white or black, whichever is
    stronger. Between mid and dark fills neither the ink nor white reaches 4.5:1; black or white always does."""
    if contrast_ratio(_hex_rgb(INK), background) >= MIN_TEXT_CONTRAST:
        return INK
    white, black = (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)
    return "#ffffff" if contrast_ratio(white, background) >= contrast_ratio(black, background) else "#000000"


def heatmap(labels: list[str], win_rate: list[list[float | None]], battles: list[list[int]]) -> Heatmap | None:
    """Row model's win rate against the column model (ties half); empty where they never met. Drawn at its own
    pixel size (never scaled down), in a box that scrolls sideways when a phone is narrower than the grid."""
    n = len(labels)
    if n < 2:
        return None
    heat_labels = [_heat_label(k, label) for k, label in enumerate(labels)]
    longest = max(len(f"{h.number}. {line}") for h in heat_labels for line in h.lines)
    cell, margin, top = 32, int(8 + 0.6 * HEAT_FONT * longest), 24
    cells = []
    grid = [["" for _ in range(n)] for _ in range(n)]
    for i in range(n):
        for j in range(n):
            rate = win_rate[i][j]
            if i == j or rate is None or not battles[i][j]:
                continue
            grid[i][j] = f"{round(rate * 100)}%"
            hue, lightness = _win_rate_hsl(rate)
            cells.append(
                HeatCell(
                    x=margin + j * cell,
                    y=top + i * cell,
                    fill=f"hsl({hue}, 65%, {lightness}%)",
                    text=f"{round(rate * 100)}",
                    text_fill=readable_ink(colorsys.hls_to_rgb(hue / 360, lightness / 100, 0.65)),
                    title=f"{labels[i]} vs {labels[j]}: {rate:.0%} over {battles[i][j]} battles",
                )
            )
    return Heatmap(
        width=margin + n * cell + 2,
        height=top + n * cell + 4,
        cell=cell,
        margin=margin,
        top=top,
        labels=heat_labels,
        cells=cells,
        font_size=HEAT_FONT,
        grid=grid,
    )


@dataclass(frozen=True)
class ScatterPoint:
    label: str
    x: float
    y: float
    x_low: float
    x_high: float
    y_low: float
    y_high: float
    title: str


@dataclass(frozen=True)
class Scatter:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    points: list[ScatterPoint]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str
    font_size: int = 11


def scatter(
    points: list[dict], x_label: str, y_label: str, width: int = 640, height: int = 420, font_size: int = 11
) -> Scatter | None:
    """points: {label, x, x_low, x_high, y, y_low, y_high}; missing interval ends collapse onto the point."""
    if not points:
        return None
    for p in points:
        p["x_low"] = p["x"] if p.get("x_low") is None else p["x_low"]
        p["x_high"] = p["x"] if p.get("x_high") is None else p["x_high"]
    xs = [v for p in points for v in (p["x_low"], p["x_high"])]
    ys = [v for p in points for v in (p["y_low"], p["y_high"])]
    x_pad, y_pad = max((max(xs) - min(xs)) * 0.05, 1e-6), max((max(ys) - min(ys)) * 0.05, 1e-6)
    x0, x1, y0, y1 = min(xs) - x_pad, max(xs) + x_pad, min(ys) - y_pad, max(ys) + y_pad
    left, right, top, bottom = 64, width - 16, 12, height - 48

    def sx(v: float) -> float:
        return round(left + (v - x0) / (x1 - x0) * (right - left), 2)

    def sy(v: float) -> float:
        return round(bottom - (v - y0) / (y1 - y0) * (bottom - top), 2)

    drawn = [
        ScatterPoint(p["label"], sx(p["x"]), sy(p["y"]), sx(p["x_low"]), sx(p["x_high"]), sy(p["y_low"]),
                     sy(p["y_high"]), f"{p['label']}: {y_label} {p['y']:.0f}, {x_label} {p['x']:g}")
        for p in points
    ]  # fmt: skip
    return Scatter(
        width, height, left, right, top, bottom, drawn,
        [Tick(sx(t), f"{t:g}") for t in _nice_ticks(x0, x1)],
        [Tick(sy(t), f"{t:g}") for t in _nice_ticks(y0, y1)],
        x_label, y_label, font_size,
    )  # fmt: skip


def responsive_scatter(points: list[dict], x_label: str, y_label: str) -> Responsive | None:
    wide = scatter([dict(p) for p in points], x_label, y_label)
    if wide is None:
        return None
    return Responsive(wide, scatter([dict(p) for p in points], x_label, y_label, NARROW_WIDTH, 320, NARROW_FONT))
