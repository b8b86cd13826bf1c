"""Pure checks on what the pages draw: heatmap labels readable on every cell colour, reply headings nested
under the page's own headings. No database: these are functions of their inputs."""

from __future__ import annotations

import colorsys
import re

import pytest

from arena.web.charts import heatmap
from arena.web.markdown import render_markdown


def wcag_contrast(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    # Written out here, independently of arena.web.charts.
    def luminance(colour):
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in colour]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def parse_css_colour(value: str) -> tuple[float, float, float]:
    if value.startswith("#"):
        return tuple(int(value[k : k + 2], 16) / 255 for k in (1, 3, 5))
    match = re.fullmatch(r"hsl\(([\d.]+), ([\d.]+)%, ([\d.]+)%\)", value)
    hue, saturation, lightness = (float(v) for v in match.groups())
    return colorsys.hls_to_rgb(hue / 360, lightness / 100, saturation / 100)


def test_every_heatmap_cell_label_reaches_aa_contrast():
    # Two models whose win rate against each other sweeps 0..1 in steps of 0.5 points: every cell colour drawn.
    contrasts = []
    for step in range(201):
        rate = step / 200
        chart = heatmap(["one", "two"], [[None, rate], [1 - rate, None]], [[0, 10], [10, 0]])
        for cell in chart.cells:
            ratio = wcag_contrast(parse_css_colour(cell.text_fill), parse_css_colour(cell.fill))
            contrasts.append((ratio, cell.text, cell.fill, cell.text_fill))
    worst = min(contrasts)
    assert len(contrasts) == 402 and worst[0] >= 4.5, worst


def test_heatmap_labels_keep_the_page_ink_where_it_reads():
    chart = heatmap(["one", "two"], [[None, 0.55], [0.45, None]], [[0, 10], [10, 0]])
    assert {cell.text_fill for cell in chart.cells} == {"#1f2328"}


@pytest.mark.parametrize(
    ("markdown", "levels"),
    [
        ("# Title\n## Part\n### Detail\ntext", ["h3", "h4", "h5"]),
        ("### Why\ntext\n### What next\n#### Small", ["h3", "h3", "h4"]),
        ("###### Tiny\ntext", ["h3"]),
        ("# A\n###### Deep", ["h3", "h6"]),  # never past h6
        ("No headings, **bold** only.", []),
    ],
)
def test_reply_headings_start_at_h3(markdown, levels):
    html = str(render_markdown(markdown))
    assert re.findall(r"<(h[1-6])>", html) == levels
    assert len(re.findall(r"</h[1-6]>", html)) == len(levels)


def test_heading_nesting_keeps_the_sanitiser():
    hostile = "# Hi <script>alert(1)</script>\n[x](javascript:alert(1))\n\n<img src=x onerror=alert(1)>"
    html = str(render_markdown(hostile))
    assert html.startswith("<h3>") and "<script" not in html and "<img" not in html and "href" not in html
