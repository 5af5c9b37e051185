"""Check that the optional packages of evaluation are installed."""

from __future__ import annotations

import importlib

from leadq.errors import LeadqError

# Import name -> distribution name of the `learn` extra's packages.
LEARN_PACKAGES = {
    "sklearn": "scikit-learn",
    "matplotlib": "matplotlib",
    "jinja2": "jinja2",
}


class MissingExtra(LeadqError):
    """An optional package that a command needs is not installed."""


def require(*modules: str) -> None:
    """Raise MissingExtra naming the install command unless every module imports."""
    missing = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(LEARN_PACKAGES.get(module, module))
    if missing:
        raise MissingExtra(
            f"this command needs {', '.join(missing)}; install them with: pip install 'leadq[learn]'"
        )
