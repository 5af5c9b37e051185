"""Write the funnel report as one HTML file with its charts embedded as PNG."""

from __future__ import annotations

import base64
from pathlib import Path

from leadq.evaluation.extras import require
from leadq.evaluation.report import Report
from leadq.evaluation.terminal import days, percent


def render_html(report: Report) -> str:
    """Render the report; Jinja2 escapes every value, such as a lead source, as HTML."""
    require("jinja2", "matplotlib")
    from jinja2 import Environment, PackageLoader, select_autoescape

    from leadq.evaluation.charts import calibration_chart, volume_chart

    charts = {
        b.dimension: _encoded(volume_chart(b)) for b in report.breakdowns if b.groups
    }
    calibration = (
        _encoded(calibration_chart(report.calibration))
        if report.calibration.deciles
        else None
    )
    environment = Environment(
        loader=PackageLoader("leadq.evaluation", "templates"),
        autoescape=select_autoescape(default=True),
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        report=report,
        charts=charts,
        calibration_chart=calibration,
        percent=percent,
        days=days,
    )


def write_html(report: Report, path: Path) -> None:
    path.write_text(render_html(report), encoding="utf-8")


def _encoded(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")
