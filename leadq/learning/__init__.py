"""Learning from outcomes: point-in-time training sets, predictive models,
calibration, evaluation and the model artefact that `leadq score` reads.

scikit-learn, LightGBM, pandas, matplotlib and Jinja2 come with the `learn`
extra; `require_learning` names the install command when one is missing.
"""

from __future__ import annotations

import importlib.util

from leadq.errors import LeadqError

LEARNING_PACKAGES = ("sklearn", "lightgbm", "pandas", "matplotlib", "jinja2")


def require_learning() -> None:
    """Raise LeadqError naming the install command when a learning package is missing."""
    missing = [name for name in LEARNING_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise LeadqError(
            f"predictive models need {', '.join(missing)}; install them with "
            "pip install 'leadq[learn]'"
        )
