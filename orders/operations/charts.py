"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched."""
from __future__ import annotations

from datetime import timedelta

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orders.operations.selectors import HourCounts
from temporal_bridge.order import states

STATE_COLOURS = {
    states.PENDING_APPROVAL: "#d9a400",
    states.APPROVED: "#6aa8e8",
    states.PROCESSING: "#2f6fd6",
    states.FULFILLING: "#7b4fd6",
    states.PARTIALLY_SHIPPED: "#a855f7",
    states.FULFILLED: "#2e9d5b",
    states.REJECTED: "#c2410c",
    states.CANCELLED: "#7c7c7c",
    states.EXPIRED: "#a8a29e",
    states.FAILED: "#b91c1c",
    states.STOPPED: "#44403c",
}


def _n(value: float) -> str:
    return f"{value:.1f}"


def _nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value`."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= value:
                return step * top
        top *= 10


def stacked_hours_svg(hours: list[HourCounts], state_order: list[str], *, width: int = 760, height: int = 240) -> SafeString:
    """Bars per hour, stacked by state, with axis, hour labels and a legend; each bar segment has a tooltip."""
    left, right, top, bottom = 40, 10, 10, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_ceiling(max([h.total for h in hours] + [1]))
    slot = plot_w / max(len(hours), 1)
    bar_w = max(slot * 0.75, 1)

    parts = []
    for tick in (0, peak // 2, peak) if peak >= 2 else (0, peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e5e7eb"/>'
            '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#555">{}</text>',
            left, _n(y), width - right, _n(y), left - 6, _n(y + 4), tick,
        ))
    for index, hour in enumerate(hours):
        x = left + index * slot + (slot - bar_w) / 2
        y = top + plot_h
        for state in state_order:
            n = hour.counts.get(state, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" data-state="{}" data-count="{}">'
                "<title>{}–{}: {} {}</title></rect>",
                _n(x), _n(y), _n(bar_w), _n(h), STATE_COLOURS.get(state, "#999"), state, n,
                hour.start.strftime("%H:%M"), (hour.start + timedelta(hours=1)).strftime("%H:%M"),
                n, states.LABELS.get(state, state).lower(),
            ))
        if index % 3 == 0:
            parts.append(format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#555">{}</text>',
                _n(x + bar_w / 2), top + plot_h + 15, hour.start.strftime("%H:%M"),
            ))
    legend_y = height - 22
    for index, state in enumerate(state_order):
        lx = left + (index % 5) * 140
        ly = legend_y + (index // 5) * 16 - 8
        parts.append(format_html(
            '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11" fill="#333">{}</text>',
            lx, ly, STATE_COLOURS.get(state, "#999"), lx + 14, ly + 9, states.LABELS.get(state, state),
        ))
    total = sum(h.total for h in hours)
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" aria-labelledby="chart-title">'
        '<title id="chart-title">Orders submitted per hour over the last {} hours, by state now ({} in all)</title>{}</svg>',
        width, height, len(hours), total, format_html_join("", "{}", ((p,) for p in parts)),
    )
