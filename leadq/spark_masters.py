"""Spark master URLs: the forms Spark accepts, and whether a standalone master is reachable.

Spark itself reports a bad master late and at length. An unknown form
makes its JVM exit before PySpark connects, and a standalone master that
accepts no connection costs three registration attempts of 20 seconds each
before the SparkContext stops, each with a Java stack trace. leadq checks
both before it starts a JVM.
"""

from __future__ import annotations

import re
import socket

from leadq.errors import OptionError

# The forms of Spark 4's SparkContext: local threads, a local test
# cluster, standalone masters (several for high availability), YARN and
# Kubernetes.
LOCAL_MASTER = re.compile(r"local(?:\[(?:[1-9]\d*|\*)(?:,\d+)?\])?")
LOCAL_CLUSTER_MASTER = re.compile(r"local-cluster\[[1-9]\d*,\s*[1-9]\d*,\s*[1-9]\d*\]")
STANDALONE_PREFIX = "spark://"
MASTER_FORMS = "local[N], local[*], spark://HOST:PORT, yarn or k8s://HOST:PORT"
# Seconds to wait for a standalone master's port to accept a connection.
CONNECT_TIMEOUT = 5.0


def check_spark_master(master: str) -> None:
    """Raise OptionError unless Spark accepts the form of `master` and a standalone master is reachable."""
    text = master.strip()
    if LOCAL_MASTER.fullmatch(text) or LOCAL_CLUSTER_MASTER.fullmatch(text):
        return
    if text == "yarn" or text.startswith("k8s://"):
        return
    if text.startswith(STANDALONE_PREFIX):
        _check_standalone(master, _standalone_addresses(master))
        return
    raise OptionError(
        f"--spark-master {master!r} is not a Spark master URL; use {MASTER_FORMS}"
    )


def _standalone_addresses(master: str) -> list[tuple[str, int]]:
    """Return the host and port of each master in `spark://HOST:PORT[,HOST:PORT...]`."""
    addresses = []
    for part in master.strip()[len(STANDALONE_PREFIX) :].split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise OptionError(
                f"--spark-master {master!r}: {part.strip()!r} is not HOST:PORT; "
                f"write a standalone master as spark://HOST:PORT, such as spark://host:7077"
            )
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def _check_standalone(master: str, addresses: list[tuple[str, int]]) -> None:
    """Raise OptionError unless one of the masters accepts a TCP connection."""
    failures = []
    for host, port in addresses:
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
            return
        except OSError as error:
            failures.append(f"{host}:{port} ({error.strerror or error})")
    raise OptionError(
        f"--spark-master {master!r}: cannot connect to {', '.join(failures)}; "
        f"start the Spark master or correct the URL, or use local[2] to run Spark on this machine"
    )
