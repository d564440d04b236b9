"""Server-side inline SVG (no JS library, nothing fetched): predicted-vs-human scatter."""

from django.utils.html import escape
from django.utils.safestring import mark_safe

DOMAIN_COLORS = {
    "communication": "#1f77b4",
    "scheduling": "#ff7f0e",
    "ops": "#2ca02c",
    "research": "#d62728",
    "memory": "#9467bd",
    "other": "#7f7f7f",
}


def scatter_svg(points: list, *, size: int = 320, margin: int = 40) -> str:
    """points: [[human, predicted, domain], ...] with both values in [0, 1]."""
    inner = size - 2 * margin

    def x(value):
        return margin + float(value) * inner

    def y(value):
        return size - margin - float(value) * inner

    parts = [
        f'<svg id="scatter" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" '
        f'height="{size}" role="img" aria-label="Predicted versus human reward on the held-out split">',
        f'<rect x="{margin}" y="{margin}" width="{inner}" height="{inner}" fill="none" stroke="#999"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#ccc" stroke-dasharray="4 3"/>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{x(tick)}" y="{size - margin + 14}" font-size="10" text-anchor="middle">{tick}</text>')
        parts.append(f'<text x="{margin - 6}" y="{y(tick) + 3}" font-size="10" text-anchor="end">{tick}</text>')
    parts.append(f'<text x="{size / 2}" y="{size - 6}" font-size="11" text-anchor="middle">human reward</text>')
    parts.append(
        f'<text x="12" y="{size / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {size / 2})">predicted reward</text>'
    )
    for human, predicted, domain in points:
        if human is None or predicted is None:
            continue
        color = DOMAIN_COLORS.get(domain, DOMAIN_COLORS["other"])
        parts.append(
            f'<circle cx="{x(human):.1f}" cy="{y(predicted):.1f}" r="3" fill="{color}" fill-opacity="0.6">'
            f"<title>{escape(domain)}: human {human}, predicted {predicted}</title></circle>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
