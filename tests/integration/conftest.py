"""A real XRootD server for the integration tests: Debian's ``xrootd`` on a free localhost port.

The server serves a temporary copy of ``data/`` (plus files the tests add) and is torn down after
the session. xrootd refuses to run as root, so under root it runs as ``nobody`` (``setpriv`` or
``runuser``); the served folder is made world-readable for that user. The tests skip, saying why,
only where the binary or the XRootD Python client is missing or the server does not come up.
"""

from __future__ import annotations

import grp
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import REPO

INSTALL_HINT = "Debian package xrootd-server; workflow/scripts/install-system-packages.sh installs it"


@dataclass
class XRootDServer:
    """A running server: ``url(path)`` gives ``root://localhost:PORT//path`` for a served file."""

    port: int
    root: Path  # the served folder (a copy of data/)

    def url(self, path: str | Path) -> str:
        return f"root://localhost:{self.port}//{str(path).lstrip('/')}"

    def served(self, name: str) -> str:
        return self.url(self.root / name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_unprivileged() -> list[str]:
    """Command prefix that drops root to nobody (xrootd exits when started as root)."""
    if os.geteuid() != 0:
        return []
    group = "nogroup" if "nogroup" in {g.gr_name for g in grp.getgrall()} else "nobody"
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", f"--regid={group}", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("running as root without setpriv or runuser: cannot start xrootd as an unprivileged user")
    return []


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def xrootd_server():
    binary = shutil.which("xrootd")
    if binary is None:
        pytest.skip(f"xrootd server binary not found ({INSTALL_HINT})")
    pytest.importorskip("XRootD", reason="XRootD Python client missing: pip install 'dl4hep[xrootd]'")
    pytest.importorskip("fsspec_xrootd", reason="fsspec-xrootd missing: pip install 'dl4hep[xrootd]'")
    base = Path(tempfile.mkdtemp(prefix="dl4hep-xrootd-"))  # not under pytest's 0700 tmp: nobody must enter it
    data, run = base / "data", base / "run"
    shutil.copytree(REPO / "data", data)
    run.mkdir()
    for p in [base, data, *data.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    run.chmod(0o777)
    port = _free_port()
    cfg = base / "xrootd.cfg"
    cfg.write_text(
        f"xrootd.export /\nall.export {data}\noss.localroot /\nall.adminpath {run}\nall.pidpath {run}\nxrd.port {port}\n"
    )
    log = run / "xrootd.log"
    proc = subprocess.Popen([*_as_unprivileged(), binary, "-c", str(cfg), "-l", str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=base)
    try:
        if not _wait_for_port(port, proc):
            tail = log.read_text()[-800:] if log.exists() else "(no log)"
            pytest.skip(f"xrootd did not start on port {port} (exit {proc.poll()}): {tail}")
        yield XRootDServer(port=port, root=data)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(base, ignore_errors=True)
