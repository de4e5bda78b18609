#!/usr/bin/env python3
"""One entry point for a fresh machine that has only Python.

    python3 dev.py app      set up .venv (first time only) and start the lab's CLI
    python3 dev.py test     set up .venv with the test tools, run ruff (lint and format) and the tests
                            (as root on Debian it also installs redis-server for the TLS tests)
    python3 dev.py bench    set up .venv with the test tools, run the benchmarks

The virtual environment lives in `.venv/` inside the checkout. It is rebuilt only
when a requirements file or pyproject.toml changes, so the second run starts at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
INPUTS = ("requirements.txt", "requirements-dev.txt", "pyproject.toml")


def _fingerprint(extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for name in INPUTS:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def _ensure_venv(with_dev_tools: bool) -> None:
    """Create or refresh .venv so that it matches the pinned requirements."""
    wanted = "dev" if with_dev_tools else "app"
    stamp = VENV / f".installed-{_fingerprint(wanted)}"
    dev_stamp = VENV / f".installed-{_fingerprint('dev')}"
    if stamp.exists() or dev_stamp.exists():
        return
    if sys.version_info < (3, 10):  # noqa: UP036 - dev.py runs on whatever python3 the machine has
        sys.exit(f"Python 3.10 or newer is needed (found {sys.version.split()[0]}).")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    requirements = "requirements-dev.txt" if with_dev_tools else "requirements.txt"
    print(f"Installing {requirements} into .venv (first run only) ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-r", str(ROOT / requirements)], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.write_text(requirements + "\n")


def _ensure_tls_test_server() -> None:
    """The TLS tests need Debian's redis-server (the embedded Valkey has no TLS): install it where we can."""
    if shutil.which("redis-server"):
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("Installing Debian's redis-server for the TLS tests ...", flush=True)
        subprocess.run(["bash", str(ROOT / "tests" / "reliability" / "install-tls-server.sh")], check=True)
        return
    print("Note: redis-server is not installed, so the TLS tests will be skipped", flush=True)
    print("      (as root on Debian/Ubuntu: bash tests/reliability/install-tls-server.sh).", flush=True)


def _run(argv: list[str]) -> int:
    """Run a child and return its exit status.

    Ctrl-C goes to every process in the terminal's foreground group, this one too. The
    child decides what Ctrl-C means (the app goes back to its menu), so this process
    lets it pass: if it exited, the shell would take the terminal back from a running app.
    A Python-level handler, unlike SIG_IGN, is not inherited by the child.
    """
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        status = subprocess.call(argv, cwd=ROOT)
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - status if status < 0 else status  # killed by signal N: 128 + N, as a shell reports it


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "app":
        _ensure_venv(with_dev_tools=False)
        return _run([str(PYTHON), str(ROOT / "11-external-persistence" / "app.py"), *rest])
    if command == "test":
        _ensure_venv(with_dev_tools=True)
        _ensure_tls_test_server()
        ruff = [str(PYTHON), "-m", "ruff"]
        lint = _run([*ruff, "check", "."]) or _run([*ruff, "format", "--check", "."])
        tests = _run([str(PYTHON), "-m", "pytest", *rest])
        return tests or lint
    if command == "bench":
        _ensure_venv(with_dev_tools=True)
        return _run([str(PYTHON), "-m", "bench", *rest])
    print(__doc__.strip())
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as error:
        sys.exit(f"Setting up .venv failed ({error}); see the pip output above.")
    except KeyboardInterrupt:
        sys.exit(130)
