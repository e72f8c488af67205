"""The status page's chart: running servers against capacity over 24 h, as inline SVG (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

WIDTH, HEIGHT, PAD = 600, 160, 24


def capacity_chart_svg(*, samples: Sequence[tuple[datetime, int, int]], now: datetime, hours: int = 24) -> str:
    """Return an SVG of (at, running, capacity) samples over the last hours, oldest left."""
    start = now - timedelta(hours=hours)
    points = sorted(s for s in samples if s[0] >= start)
    top = max([c for _, _, c in points] + [r for _, r, _ in points] + [1])
    span = (now - start).total_seconds()

    def x(at: datetime) -> float:
        return PAD + (WIDTH - 2 * PAD) * (at - start).total_seconds() / span

    def y(value: int) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top

    def line(values: list[tuple[datetime, int]]) -> str:
        # Steps, not slopes: a count holds until the next sample.
        out, previous = [], None
        for at, value in values:
            if previous is not None:
                out.append(f"{x(at):.1f},{y(previous):.1f}")
            out.append(f"{x(at):.1f},{y(value):.1f}")
            previous = value
        return " ".join(out)

    running = line([(at, r) for at, r, _ in points])
    capacity = line([(at, c) for at, _, c in points])
    title = f"Running servers against capacity, last {hours} h ({len(points)} samples)"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="capacity-chart" id="capacity-chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
        f'<text x="{PAD}" y="{PAD - 8}" font-size="11">{top}</text>'
        f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="11">-{hours} h</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="11" text-anchor="end">now</text>'
        f'<polyline class="capacity" fill="none" stroke="#c0392b" stroke-dasharray="4 3" points="{capacity}"/>'
        f'<polyline class="running" fill="none" stroke="#01a982" stroke-width="2" points="{running}"/>'
        "</svg>"
    )
