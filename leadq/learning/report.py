"""The training report: a Rich summary, an HTML page and its PNG plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.table import Table

from leadq.learning.evaluation import Evaluation
from leadq.learning.metrics import ECE_BINS

IMAGES = ("roc", "gains", "reliability")


def summary_table(evaluation: Evaluation) -> Table:
    table = Table(title=f"held-out metrics ({evaluation.scheme})", header_style="bold")
    for name in ("model", "ROC AUC", "PR AUC", "top-decile lift", "ECE", "Brier", "calibration"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for row in _rows(evaluation):
        table.add_row(
            row["kind"], f"{row['roc_auc']:.4f}", f"{row['pr_auc']:.4f}",
            f"{row['top_decile_lift']:.2f}", f"{row['ece']:.4f}", f"{row['brier']:.4f}",
            row["calibration"],
        )  # fmt: skip
    if evaluation.rules_roc_auc is not None:
        table.add_row("rules (total score)", f"{evaluation.rules_roc_auc:.4f}", *["-"] * 5)
    return table


def _rows(evaluation: Evaluation) -> list[dict]:
    rows = []
    for kind, held_out in evaluation.results.items():
        methods = sorted({setting["calibration"] for setting in held_out.settings})
        rows.append({"kind": kind, **held_out.metrics.as_dict(), "calibration": "/".join(methods)})
    return rows


def write_report(path: Path, evaluation: Evaluation, title: str, features: list[str]) -> list[Path]:
    """Write the HTML report and its images beside it; return the images' paths."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    images = {name: path.with_name(f"{path.stem}-{name}.png") for name in IMAGES}
    _plot_roc(evaluation, images["roc"])
    _plot_gains(evaluation, images["gains"])
    _plot_reliability(evaluation, images["reliability"])
    environment = Environment(
        loader=PackageLoader("leadq.learning", "templates"), autoescape=select_autoescape(["html"])
    )
    page = environment.get_template("report.html").render(
        title=title,
        scheme=evaluation.scheme,
        train_rows=evaluation.train_rows,
        test_rows=evaluation.test_rows,
        chosen=evaluation.best(),
        rules_roc_auc=evaluation.rules_roc_auc,
        rows=_rows(evaluation),
        images={name: image.name for name, image in images.items()},
        features=features,
    )
    path.write_text(page, encoding="utf-8")
    return list(images.values())


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(5, 4), dpi=80)
    return pyplot, figure, axes


def _save(pyplot, figure, axes, path: Path, xlabel: str, ylabel: str) -> None:
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(loc="best", fontsize="small")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)


def _plot_roc(evaluation: Evaluation, path: Path) -> None:
    from sklearn.metrics import roc_curve

    pyplot, figure, axes = _figure()
    for kind, held_out in evaluation.results.items():
        false_positive, true_positive, _ = roc_curve(held_out.labels, held_out.probabilities)
        axes.plot(false_positive, true_positive, label=f"{kind} (AUC {held_out.metrics.roc_auc:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    _save(pyplot, figure, axes, path, "false positive rate", "true positive rate")


def _plot_gains(evaluation: Evaluation, path: Path) -> None:
    pyplot, figure, axes = _figure()
    for kind, held_out in evaluation.results.items():
        order = np.argsort(-held_out.probabilities, kind="stable")
        found = np.cumsum(held_out.labels[order]) / max(1, held_out.labels.sum())
        share = np.arange(1, len(order) + 1) / len(order)
        axes.plot(np.r_[0, share], np.r_[0, found], label=kind)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    _save(pyplot, figure, axes, path, "share of leads, highest probability first", "share of conversions")


def _plot_reliability(evaluation: Evaluation, path: Path) -> None:
    pyplot, figure, axes = _figure()
    for kind, held_out in evaluation.results.items():
        index = np.minimum((held_out.probabilities * ECE_BINS).astype(int), ECE_BINS - 1)
        bins = [b for b in range(ECE_BINS) if (index == b).any()]
        predicted = [held_out.probabilities[index == b].mean() for b in bins]
        observed = [held_out.labels[index == b].mean() for b in bins]
        axes.plot(predicted, observed, marker="o", label=f"{kind} (ECE {held_out.metrics.ece:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    _save(pyplot, figure, axes, path, "mean predicted probability", "observed conversion rate")
