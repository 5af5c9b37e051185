"""Options of `leadq serve` that are rejected before anything starts or is created."""

from __future__ import annotations

import pytest

from tests.service.servers import leadq


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rescore-every", "0", "--rescore-every 0: give a number of seconds above 0, such as 3600"),
        ("--rescore-every", "nan", "--rescore-every nan: give a number of seconds above 0, such as 3600"),
        ("--rescore-every", "inf", "--rescore-every inf: give a number of seconds above 0, such as 3600"),
        ("--port", "70000", "--port 70000: give a TCP port from 1 to 65535, such as 8000"),
        ("--workers", "0", "--workers 0: give a number of processes of 1 or more, such as 2"),
    ],
)
def test_serve_rejects_option(option, value, message, tmp_path):
    store = tmp_path / "leadq.db"

    done = leadq("serve", option, value, "--database", f"sqlite:///{store}")

    assert done.returncode == 2
    assert done.stderr == f"error: {message}\n"
    assert not store.exists()
