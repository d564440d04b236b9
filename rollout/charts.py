"""Tiny inline SVG line charts (no JavaScript libraries): time on x, value on y."""

from django.utils.html import escape
from django.utils.safestring import mark_safe

COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"]


def svg_line_chart(
    series: dict[str, list[tuple]],
    *,
    title: str,
    width: int = 520,
    height: int = 160,
    reference: float | None = None,
    y_range: tuple[float, float] | None = None,
    y_title: str = "",
    x_title: str = "time of the monitor check (UTC)",
    reference_label: str = "",
) -> str:
    """`series`: name → [(datetime, value or None)]. Returns an <svg> element (safe HTML)."""
    points = [(t, v) for values in series.values() for t, v in values if v is not None]
    if not points:
        return mark_safe(f'<p class="muted">{escape(title)}: no monitor data yet.</p>')
    pad = 30
    times = [t.timestamp() for t, _ in points]
    values = [v for _, v in points] + ([reference] if reference is not None else [])
    t0, t1 = min(times), max(times)
    v0, v1 = y_range or (min(0.0, min(values)), max(values) or 1.0)
    if v1 == v0:
        v1 = v0 + 1

    def x(t):
        return pad + (width - 2 * pad) * ((t.timestamp() - t0) / (t1 - t0) if t1 > t0 else 0.5)

    def y(v):
        return height - pad + (2 * pad - height) * (v - v0) / (v1 - v0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}" class="chart">',
        f'<text x="{pad}" y="14" font-size="12">{escape(title)}</text>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
        f'<text x="2" y="{y(v1) + 4:.0f}" font-size="10">{v1:.3g}</text>',
        f'<text x="2" y="{y(v0) + 4:.0f}" font-size="10">{v0:.3g}</text>',
        f'<text x="{pad}" y="{height - pad + 14}" font-size="10">{min(t for t, _ in points):%m-%d %H:%M}</text>',
        f'<text x="{width - pad - 60}" y="{height - pad + 14}" font-size="10">'
        f"{max(t for t, _ in points):%m-%d %H:%M}</text>",
        f'<text x="{width / 2:.0f}" y="{height - 2}" font-size="10" text-anchor="middle" class="x-title">'
        f"{escape(x_title)}</text>",
        f'<text x="10" y="{height / 2:.0f}" font-size="10" text-anchor="middle" class="y-title" '
        f'transform="rotate(-90 10 {height / 2:.0f})">{escape(y_title)}</text>',
    ]
    if reference is not None:
        parts.append(
            f'<line x1="{pad}" y1="{y(reference):.1f}" x2="{width - pad}" y2="{y(reference):.1f}" '
            f'stroke="#aaa" stroke-dasharray="4 3"/>'
        )
        if reference_label:
            parts.append(
                f'<text x="{width - pad}" y="{y(reference) - 3:.1f}" font-size="10" text-anchor="end" '
                f'class="threshold">{escape(reference_label)}</text>'
            )
    for index, (name, values_) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        coords = [(x(t), y(v)) for t, v in values_ if v is not None]
        if not coords:
            continue
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>' for px, py in coords]
        parts.append(
            f'<text x="{width - pad - 110}" y="{16 + 12 * index}" font-size="11" fill="{colour}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
