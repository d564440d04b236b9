"""Reward curves as inline SVG (no JavaScript, nothing fetched)."""

from django.utils.html import escape
from django.utils.safestring import mark_safe

COLORS = {"train": "#2563eb", "valid": "#f59e0b"}


def reward_curve_svg(curve: list[dict], *, width: int = 420, height: int = 180, title: str = "") -> str:
    """A line per series (train, valid) over steps; y from 0 to 1 (rewards), widened if a value falls outside.
    Below 100 px high it is a sparkline: lines only, the numbers in the tooltip."""
    compact = height < 100
    pad_left, pad_right, pad_top, pad_bottom = (3, 3, 3, 3) if compact else (36, 10, 20, 24)
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    values = [p[s] for p in curve for s in COLORS if p.get(s) is not None]
    low, high = min([0.0, *values]), max([1.0, *values])
    steps = [p["step"] for p in curve] or [0]
    first, last = min(steps), max(steps)

    def x(step):
        return pad_left + (plot_w * (step - first) / (last - first) if last > first else plot_w / 2)

    def y(value):
        return pad_top + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="reward-curve" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title or "reward curve")}">',
        f'<rect x="{pad_left}" y="{pad_top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#e5e7eb"/>',
    ]
    if not compact:
        for tick in (low, (low + high) / 2, high):
            parts.append(
                f'<text x="{pad_left - 4}" y="{y(tick) + 4:.1f}" font-size="10" text-anchor="end" fill="#6b7280">'
                f"{tick:.2f}</text>"
            )
        parts.append(f'<text x="{pad_left}" y="{height - 6}" font-size="10" fill="#6b7280">step {first}</text>')
        parts.append(
            f'<text x="{width - pad_right}" y="{height - 6}" font-size="10" text-anchor="end" fill="#6b7280">'
            f"step {last}</text>"
        )
        if title:
            parts.append(f'<text x="{pad_left}" y="13" font-size="12" fill="#1d2430">{escape(title)}</text>')
    for series, color in COLORS.items():
        points = [(x(p["step"]), y(p[series])) for p in curve if p.get(series) is not None]
        if not points:
            continue
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        last_value = next(p[series] for p in reversed(curve) if p.get(series) is not None)
        parts.append(
            f'<polyline class="series-{series}" fill="none" stroke="{color}" stroke-width="2" points="{path}">'
            f"<title>{series} reward {last_value} at step {last}</title></polyline>"
        )
        if not compact:
            legend_x = width - pad_right - (110 if series == "train" else 55)
            parts.append(f'<text x="{legend_x}" y="13" font-size="11" fill="{color}">{series}</text>')
    if not curve and not compact:
        parts.append(
            f'<text x="{pad_left + plot_w / 2}" y="{pad_top + plot_h / 2}" font-size="12" text-anchor="middle" '
            'fill="#6b7280">no metrics yet</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
