"""A small bar chart of daily amounts, drawn on the server as SVG (no script, no service)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    value: int  # minor units
    label: str  # the formatted amount, for the tooltip and screen readers
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    max_label: str
    first_day: str
    last_day: str
    baseline: float


def daily_bars(
    days: Sequence[date],
    values: dict[date, int],
    fmt_amount: Callable[[int], str],
    fmt_day: Callable[[date], str],
    *,
    width: int = 600,
    height: int = 160,
) -> BarChart:
    """Bars for each day (zero where nothing was collected), scaled to the largest day."""
    top, bottom = 18.0, 20.0
    plot_h = height - top - bottom
    peak = max([values.get(d, 0) for d in days] + [0])
    slot = width / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        value = values.get(day, 0)
        h = 0.0 if peak <= 0 or value <= 0 else max(1.0, plot_h * value / peak)
        bars.append(
            Bar(
                day=day,
                value=value,
                label=f"{fmt_day(day)}: {fmt_amount(value)}",
                x=round(i * slot + slot * 0.15, 2),
                y=round(top + plot_h - h, 2),
                width=round(slot * 0.7, 2),
                height=round(h, 2),
            )
        )
    return BarChart(
        width=width,
        height=height,
        bars=bars,
        max_label=fmt_amount(peak),
        first_day=fmt_day(days[0]) if days else "",
        last_day=fmt_day(days[-1]) if days else "",
        baseline=top + plot_h,
    )
