"""Server-rendered SVG charts (no script, no CDN): grouped bars and lines, each with a text
alternative; the page also shows every chart's data as a table."""

from __future__ import annotations

import math

from markupsafe import Markup, escape

PALETTE = ("#0d6efd", "#fd7e14", "#198754", "#6f42c1", "#dc3545", "#20c997")
WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 64


def nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:.3g}"


def _frame(label: str, series: list[str], top: float, unit: str) -> list[str]:
    """The SVG opening, the y axis with five gridlines, and the legend."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" class="dashboard-chart" font-family="sans-serif" font-size="11">',
        f"<title>{escape(label)}</title>",
    ]
    for i in range(6):
        value = top * i / 5
        y = TOP + plot_h - plot_h * i / 5
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dee2e6"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#495057">{_number(value)}</text>')
    if unit:
        parts.append(
            f'<text x="12" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 12 {TOP + plot_h / 2:.1f})" '
            f'text-anchor="middle" fill="#495057">{escape(unit)}</text>'
        )
    x = LEFT
    for i, name in enumerate(series):
        y = HEIGHT - 14
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{y}" fill="#212529">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return parts


def bar_chart(label: str, categories: list[str], series: dict[str, list[float | None]], unit: str = "") -> Markup:
    """Vertical bars: one group per category, one bar per series, each bar labelled with its value."""
    names = list(series)
    values = [[float(v or 0) for v in series[n]] for n in names]
    top = nice_max(max((v for vs in values for v in vs), default=0))
    if all(float(v).is_integer() for vs in values for v in vs):
        top = max(top, 5.0)  # counts: whole-number gridlines
    parts = _frame(label, names, top, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(1, len(categories))
    bar_w = min(40.0, group_w * 0.8 / max(1, len(names)))
    for c, category in enumerate(categories):
        group_x = LEFT + c * group_w + (group_w - bar_w * len(names)) / 2
        for s, name in enumerate(names):
            raw = series[name][c]
            h = plot_h * values[s][c] / top
            x, y = group_x + s * bar_w, TOP + plot_h - h
            shown = "–" if raw is None else _number(values[s][c])
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(category)}, {escape(name)}: {shown}</title></rect>'
            )
            parts.append(
                f'<text x="{x + (bar_w - 2) / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'fill="#212529">{shown}</text>'
            )
        parts.append(
            f'<text x="{LEFT + (c + 0.5) * group_w:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'fill="#212529">{escape(category)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text was escaped above


def line_chart(label: str, points: list[str], series: dict[str, list[float]], unit: str = "") -> Markup:
    """Lines over ordered points (e.g. daily snapshots); at most ~8 x labels."""
    names = list(series)
    top = nice_max(max((float(v) for vs in series.values() for v in vs), default=0))
    parts = _frame(label, names, top, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(points)

    inset = 36  # room for the first and last date labels

    def x_of(i: int) -> float:
        return LEFT + inset + (plot_w / 2 - inset if n == 1 else (plot_w - 2 * inset) * i / (n - 1))

    for s, name in enumerate(names):
        colour = PALETTE[s % len(PALETTE)]
        coords = [(x_of(i), TOP + plot_h - plot_h * float(v) / top) for i, v in enumerate(series[name])]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (x, y), point, v in zip(coords, points, series[name], strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(point)}, {escape(name)}: {_number(float(v))}</title></circle>"
            )
    step = max(1, math.ceil(n / 8))
    for i in range(0, n, step):
        parts.append(
            f'<text x="{x_of(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'fill="#212529">{escape(points[i][:10])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text was escaped above


def chart_of(figure) -> Markup | None:
    """The chart of a dashboard figure (lightserv.admin.queries.dashboard.Figure); None when it has no data."""
    if not figure.rows:
        return None
    labels = [str(r[0]) for r in figure.rows]
    if figure.name == "storage":
        series = {figure.columns[1]: [r[1] for r in figure.rows], figure.columns[2]: [r[2] for r in figure.rows]}
        return line_chart(figure.title, labels, series, unit=figure.unit)
    if figure.name == "turnaround":
        series = {"p50": [r[1] for r in figure.rows], "p90": [r[2] for r in figure.rows]}
        return bar_chart(figure.title, labels, series, unit=figure.unit)
    series = {name: [r[i] for r in figure.rows] for i, name in enumerate(figure.columns[1:], start=1)}
    return bar_chart(figure.title, labels, series, unit=figure.unit)
