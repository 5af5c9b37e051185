"""Options of `leadq serve` that are rejected before anything starts or is created."""

from __future__ import annotations

import socket

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


def test_serve_rejects_port_in_use(tmp_path):
    store = tmp_path / "leadq.db"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        done = leadq("serve", "--port", str(port), "--database", f"sqlite:///{store}")

    assert done.returncode == 2
    assert done.stderr == (
        f"error: --host 127.0.0.1 --port {port}: cannot listen there (Address already in use); "
        f"stop the program that uses the port, or choose another --port\n"
    )
    assert not store.exists()


def test_serve_rejects_foreign_address(tmp_path):
    store = tmp_path / "leadq.db"

    # 203.0.113.0/24 is reserved for documentation (RFC 5737), so normally no interface has it.
    done = leadq("serve", "--host", "203.0.113.1", "--database", f"sqlite:///{store}")

    assert done.returncode == 2
    assert done.stderr == (
        "error: --host 203.0.113.1 --port 8000: cannot listen there (Cannot assign requested address); "
        "give --host an address of this machine, such as 127.0.0.1 or 0.0.0.0\n"
    )
    assert not store.exists()
