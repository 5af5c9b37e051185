"""Charts of the funnel report as PNG bytes, drawn with matplotlib's Agg backend.

Figures are made with `matplotlib.figure.Figure` and drawn on an Agg canvas,
so no window system and no global pyplot state are involved.
"""

from __future__ import annotations

import io

from leadq.evaluation.calibration import Calibration
from leadq.evaluation.funnel import Breakdown

SIZE = (7.0, 3.2)
BARS = "#4c72b0"
RATES = "#dd8452"


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def volume_chart(breakdown: Breakdown) -> bytes:
    """Bars of leads per group, with the conversion rate on a second axis."""
    figure = _figure()
    axes = figure.add_subplot()
    names = [g.group for g in breakdown.groups]
    positions = range(len(names))
    axes.bar(positions, [g.leads for g in breakdown.groups], color=BARS)
    axes.set_ylabel("leads")
    axes.set_xticks(
        list(positions),
        names,
        rotation=30 if len(names) > 6 else 0,
        ha="right" if len(names) > 6 else "center",
    )
    rates = axes.twinx()
    rates.plot(
        positions,
        [100 * (g.rate or 0) for g in breakdown.groups],
        color=RATES,
        marker="o",
    )
    rates.set_ylabel("conversion rate (%)")
    rates.set_ylim(bottom=0)
    axes.set_title(f"Leads and conversion rate by {breakdown.dimension}")
    return _png(figure)


def calibration_chart(calibration: Calibration) -> bytes:
    """Observed conversion rate per score decile, and mean probabilities if any."""
    figure = _figure()
    axes = figure.add_subplot()
    deciles = [d.decile for d in calibration.deciles]
    axes.bar(
        deciles,
        [100 * d.rate for d in calibration.deciles],
        color=BARS,
        label="observed",
    )
    predicted = [d.mean_probability for d in calibration.deciles]
    if any(p is not None for p in predicted):
        axes.plot(
            deciles,
            [100 * (p or 0) for p in predicted],
            color=RATES,
            marker="o",
            label="mean probability",
        )
        axes.legend()
    axes.set_xlabel("score decile (1 = lowest scores)")
    axes.set_ylabel("conversion rate (%)")
    axes.set_xticks(deciles)
    axes.set_title("Conversion rate by score decile")
    return _png(figure)
