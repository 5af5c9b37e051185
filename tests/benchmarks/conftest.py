"""Make the repository's `benchmarks` package importable from these tests, and their fixtures."""

import os
import shlex
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))


@pytest.fixture()
def command_line():
    """Return how a recorded section's Command line starts for a command.

    The scripts record PYTHONPATH before the command when it is set, since
    it decides which leadq ran.
    """

    def starting(command: str) -> str:
        python_path = os.environ.get("PYTHONPATH")
        prefix = f"PYTHONPATH={shlex.quote(python_path)} " if python_path else ""
        return f"Command: `{prefix}{command}"

    return starting
