"""Activations per day as an SVG bar chart drawn by the server (no script, no CDN).

The chart scales by its ``viewBox`` (``width="100%"``, no fixed pixel size): the same
drawing is read on a 360 px phone and a 1280 px screen (the page should cap it, e.g.
``max-width: 48rem``). Text is sized for the narrow screen. It has a ``<title>`` and a
``<desc>`` that says the numbers in words (screen readers), every bar has a ``<title>``
(its day and count, shown on hover), and every label is Malay first, then English.
"""

from __future__ import annotations

from datetime import date, timedelta
from xml.sax.saxutils import escape

from idp_extension.reporting.summary import Summary

WIDTH, HEIGHT = 400, 250
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 34, 44
FONT = 11
BAR_COLOUR = "#1f6f8b"
DEADLINE_COLOUR = "#b3261e"
MONTHS_MS = ["Jan", "Feb", "Mac", "Apr", "Mei", "Jun", "Jul", "Ogo", "Sep", "Okt", "Nov", "Dis"]
MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
X_LABELS = 4


def _day(value: date, months: list[str]) -> str:
    return f"{value.day} {months[value.month - 1]} {value.year}"


def _nice_top(peak: int) -> int:
    """A round axis maximum at or above ``peak`` (1, 2, 5, 10, 20, 50, ...)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= peak:
                return top * step
        top *= 10


def describe(summary: Summary) -> tuple[str, str]:
    """The chart's numbers in words, Malay and English."""
    days = summary.activations_by_day
    total = sum(days.values())
    first = _day(summary.go_live, MONTHS_MS)
    last = _day(max(days) if days else summary.go_live, MONTHS_MS)
    ms = f"{total} pengaktifan dari {first} hingga {last}."
    en = (f"{total} activations from {_day(summary.go_live, MONTHS_EN)} to "
          f"{_day(max(days) if days else summary.go_live, MONTHS_EN)}.")
    if total:
        best = max(days, key=lambda d: (days[d], d))
        ms += f" Tertinggi: {days[best]} pada {_day(best, MONTHS_MS)}."
        en += f" Highest: {days[best]} on {_day(best, MONTHS_EN)}."
    ms += f" Tarikh akhir kempen: {_day(summary.deadline, MONTHS_MS)}."
    en += f" Campaign deadline: {_day(summary.deadline, MONTHS_EN)}."
    return ms, en


def activation_chart(summary: Summary, *, chart_id: str = "activation-chart") -> str:
    """The SVG (one string, to be placed in a page or served as image/svg+xml)."""
    days = summary.activations_by_day
    last_day = max([summary.deadline, *days.keys()])
    span = (last_day - summary.go_live).days + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / span
    peak = max(days.values(), default=0)
    top = _nice_top(max(peak, 1))
    ms_desc, en_desc = describe(summary)
    title = "Pengaktifan sehari sejak mula kempen / Activations per day since go-live"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="sans-serif" font-size="{FONT}" class="activation-chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(ms_desc)} / {escape(en_desc)}</desc>',
        f'<text x="{LEFT}" y="13" font-weight="bold">Pengaktifan sehari</text>',
        f'<text x="{LEFT}" y="26" fill="#444">Activations per day</text>',
    ]
    # Horizontal grid: 0, half, top.
    for value in sorted({0, top // 2, top}):
        y = TOP + plot_h - plot_h * value / top
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#ccc" stroke-width="0.5"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    # Bars.
    gap = min(1.0, slot * 0.2)
    for index, (day, count) in enumerate(sorted(days.items())):
        if count <= 0:
            continue
        x = LEFT + (day - summary.go_live).days * slot + gap / 2
        h = plot_h * count / top
        out.append(
            f'<rect x="{x:.2f}" y="{TOP + plot_h - h:.2f}" width="{max(slot - gap, 0.5):.2f}" '
            f'height="{h:.2f}" fill="{BAR_COLOUR}"><title>{day.isoformat()}: {count}'
            f'</title></rect>')
    # Deadline marker.
    dx = LEFT + ((summary.deadline - summary.go_live).days + 0.5) * slot
    out.append(f'<line x1="{dx:.1f}" x2="{dx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
               f'stroke="{DEADLINE_COLOUR}" stroke-dasharray="3 2"/>')
    out.append(f'<text x="{dx - 3:.1f}" y="{TOP + 10}" text-anchor="end" '
               f'fill="{DEADLINE_COLOUR}">Tarikh akhir / Deadline</text>')
    # Axis and a few day labels (first, last and evenly between).
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
               f'y2="{TOP + plot_h}" stroke="#333"/>')
    picks = sorted({round(i * (span - 1) / (X_LABELS - 1)) for i in range(X_LABELS)})
    for i in picks:
        day = summary.go_live + timedelta(days=i)
        x = LEFT + (i + 0.5) * slot
        anchor = "start" if i == 0 else "end" if i == span - 1 else "middle"
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 14}" text-anchor="{anchor}">'
                   f'{day.day} {MONTHS_MS[day.month - 1]}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
               f'fill="#444">Tarikh / Date</text>')
    out.append("</svg>")
    return "\n".join(out)
