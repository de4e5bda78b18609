#!/usr/bin/env python3
"""One entry point for a fresh machine that has only Python (3.10 to 3.14).

    python3 dev.py app       set up .venv (first time only) and start the lab's CLI
    python3 dev.py app --framework 1.x
                             the same CLI on Agent Framework 1.x, from .venv-v1 (requirements-v1.txt)
    python3 dev.py test      set up .venv and .venv-v1 with the test tools, run ruff (lint and format) and
                             the tests, then tests/v1 in .venv-v1 (as root on Debian it also installs
                             redis-server for the TLS tests); test paths under tests/v1 run in .venv-v1 only
    python3 dev.py test --fast
                             set up .venv with the test tools, run ruff and the fast layer (pytest -m fast:
                             fakeredis and the offline model, no server, no terminal); no .venv-v1
    python3 dev.py bench     set up .venv with the test tools and .venv-v1 (for the 1.x save_messages
                             rows), run the benchmarks
    python3 dev.py pythons   on every other CPython 3.10-3.14 found here: a fresh environment,
                             requirements.txt and the test tools, the fast store tests, one app session

Each virtual environment lives inside the checkout. It is rebuilt only when its requirement
files or pyproject.toml change, so the second run starts at once.
"""

from __future__ import annotations  # this file must at least parse on an old python3, to say it is too old

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OLDEST, NEWEST = (3, 10), (3, 14)  # the README's promise; `dev.py pythons` runs each one found here
SUPPORTED = "Python 3.10 to 3.14"
WINDOWS = os.name == "nt"
APP = ROOT / "11-external-persistence" / "app.py"
# The fast store tests for `pythons`: fakeredis and a real server; the files that run Microsoft's
# store beside ours need agent-framework-redis, which only requirements-dev.txt installs.
STORE_TESTS = [
    "tests/store",
    "--ignore=tests/store/test_interop_with_microsoft_store.py",
    "--ignore=tests/store/test_closed_as_microsofts_tests_close_it.py",
]
APP_SESSION = "1\nMy name is Ana\n2\n0\n"
FAST = "--fast"  # `dev.py test --fast`: the fast layer only (fakeredis and the offline model)
MAX_WORKERS = 4  # pytest-xdist workers at most: each may start a six-node cluster of its own


class Environment:
    """One virtual environment of the project: where it lives and what it installs."""

    def __init__(self, name: str, requirements: str, dev_requirements: str, label: str, editable: bool) -> None:
        self.directory = ROOT / name
        self.requirements = requirements
        self.dev_requirements = dev_requirements
        self.label = label
        self.editable = editable  # `pip install -e .` (the lab11 command; the project metadata is the lab's)

    @property
    def python(self) -> Path:
        return self.directory / ("Scripts/python.exe" if WINDOWS else "bin/python")


LAB = Environment(".venv", "requirements.txt", "requirements-dev.txt", "the lab's Agent Framework 1.0.0b260130", True)
V1 = Environment(".venv-v1", "requirements-v1.txt", "requirements-v1-dev.txt", "Agent Framework 1.x", False)
FRAMEWORKS = {"lab": LAB, "1.0.0b260130": LAB, "1.x": V1, "1": V1}


# -- the interpreter ---------------------------------------------------------------------------


def _version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def interpreter_problem(version: tuple[int, ...], has_venv: bool, has_pip: bool) -> str | None:
    """What this python3 lacks to set up the project (None: nothing)."""
    if tuple(version[:2]) < OLDEST:
        return f"this python3 is {_version_text(version)}"
    if not has_venv or not has_pip:
        missing = "the venv module" if not has_venv else "pip (ensurepip)"
        return f"this python3 ({_version_text(version)}) has no {missing}; on Debian/Ubuntu: apt install python3-venv"
    return None


def _probe(executable: str) -> tuple[int, int, int] | None:
    """The version of an interpreter that can make a venv with pip, or None (not one, or lacking them)."""
    probe = "import sys, venv, ensurepip; print('%d %d %d' % sys.version_info[:3])"
    try:
        result = subprocess.run(
            [executable, "-c", probe], capture_output=True, text=True, timeout=10, check=False, env=_no_pyenv_version()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    parts = result.stdout.split()
    if result.returncode != 0 or len(parts) != 3:
        return None
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def _no_pyenv_version() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "PYENV_VERSION"}


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def find_interpreters() -> dict[tuple[int, int], tuple[tuple[int, int, int], str]]:
    """The newest working CPython of each supported minor version on this machine: pyenv's, then PATH's."""
    candidates: list[str] = []
    versions = _pyenv_root() / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir(), reverse=True):
            if re.fullmatch(r"3\.\d+\.\d+", entry.name):
                candidates.append(str(entry / ("python.exe" if WINDOWS else "bin/python3")))
    for minor in range(NEWEST[1], OLDEST[1] - 1, -1):
        found = shutil.which(f"python3.{minor}")
        if found:
            candidates.append(found)
    found_python3 = shutil.which("python3")
    if found_python3:
        candidates.append(found_python3)
    best: dict[tuple[int, int], tuple[tuple[int, int, int], str]] = {}
    for candidate in candidates:
        if not Path(candidate).exists():
            continue
        version = _probe(candidate)
        if version is None or not OLDEST <= version[:2] <= NEWEST:
            continue
        minor = (version[0], version[1])
        if minor not in best or version > best[minor][0]:
            best[minor] = (version, candidate)
    return best


def _shorter(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


def check_interpreter(command: str) -> None:
    """Before anything is installed: stop with one line if this python3 cannot serve, naming one that can."""
    problem = interpreter_problem(
        tuple(sys.version_info[:3]), find_spec("venv") is not None, find_spec("ensurepip") is not None
    )
    if problem is None:
        if tuple(sys.version_info[:2]) > NEWEST:
            print(f"Note: Python {_version_text(sys.version_info[:3])} is newer than {SUPPORTED}; trying anyway.")
        return
    found = find_interpreters()
    if found:
        version, executable = found[max(found)]
        on_path = shutil.which(Path(executable).name) == executable and Path(executable).name != "python3"
        name = Path(executable).name if on_path else _shorter(executable)
        advice = f"Use {_version_text(version)}, found here: {name} dev.py {command}"
    else:
        advice = "None was found here (PATH, pyenv): install one and run dev.py with it"
    sys.exit(f"dev.py needs {SUPPORTED} with venv and pip, and {problem}. {advice}")


# -- installing, with progress -------------------------------------------------------------------


def _requirement_files(name: str) -> list[str]:
    """``name`` and every file it includes with ``-r``."""
    files = [name]
    for line in (ROOT / name).read_text().splitlines():
        if line.startswith("-r "):
            files += _requirement_files(line[3:].strip())
    return files


def _fingerprint(requirements: str) -> str:
    digest = hashlib.sha256(requirements.encode())
    for name in [*_requirement_files(requirements), "pyproject.toml"]:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def _site_packages(directory: Path) -> Path | None:
    for candidate in [directory / "Lib" / "site-packages", *sorted(directory.glob("lib/python3*/site-packages"))]:
        if candidate.is_dir():
            return candidate
    return None


class InstallProgress:
    """What pip is doing, in a few words: collecting (how many so far), then installing N of M.

    On a terminal it is one line rewritten in place; elsewhere (CI) a line per step. pip's own
    output goes to a log file, shown in full only if pip fails.
    """

    COLLECTING = re.compile(r"^(?:Collecting|Processing) (\S+)")
    DOWNLOADING = re.compile(r"^\s+Downloading (\S+) \(([^)]+)\)")
    INSTALLING = re.compile(r"^Installing collected packages: (.*)")

    def __init__(self, site_packages: Path | None, interactive: bool) -> None:
        self.site_packages = site_packages
        self.interactive = interactive
        self.collected = 0
        self.to_install = 0
        self.baseline = 0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._last_width = 0

    def show(self, text: str, *, final: bool = False) -> None:
        if self.interactive:
            text = text[: shutil.get_terminal_size().columns - 4]  # a wrapped line cannot be rewritten
            padding = " " * max(0, self._last_width - len(text))
            print(f"\r  {text}{padding}", end="\n" if final else "", flush=True)
            self._last_width = 0 if final else len(text)
        else:
            print(f"  {text}", flush=True)

    def feed(self, line: str) -> None:
        collecting = self.COLLECTING.match(line)
        downloading = self.DOWNLOADING.match(line)
        installing = self.INSTALLING.match(line)
        if collecting:
            self.collected += 1
            requirement = collecting.group(1)
            if requirement.endswith((".whl", ".tar.gz", ".zip")):  # a local file: name-version-...
                requirement = Path(requirement).name.split("-")[0]
            name = re.split(r"[<>=!~\[;(]", requirement)[0]
            if self.interactive or self.collected % 20 == 1:
                self.show(f"collecting packages: {self.collected} so far ({name})")
        elif downloading and self.interactive:
            what = f"downloading {downloading.group(1)}, {downloading.group(2)}"
            self.show(f"collecting packages: {self.collected} so far ({what})")
        elif installing:
            self.to_install = len(installing.group(1).split(", "))
            self.baseline = self._installed_count()
            first = "0 of " if self.interactive else ""
            self.show(f"collected {self.collected} packages; installing {first}{self.to_install} ...")
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _installed_count(self) -> int:
        if self.site_packages is None:
            return 0
        return sum(1 for _ in self.site_packages.glob("*.dist-info"))

    def _tick(self) -> None:
        """Count the packages that have landed in site-packages while pip installs them silently."""
        step = 0
        while not self._stop.wait(0.5):
            done = min(self.to_install, max(0, self._installed_count() - self.baseline))
            step += 1
            if self.interactive:
                self.show(f"installing {done} of {self.to_install} packages ...")
            elif step % 20 == 0:  # every 10 s in a log
                self.show(f"installing: {done} of {self.to_install} packages so far")

    def finish(self, ok: bool) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        elapsed = time.monotonic() - self.started
        if ok:
            plural = "" if self.to_install == 1 else "s"
            what = f"installed {self.to_install} package{plural}" if self.to_install else "nothing new to install"
            self.show(f"{what} in {elapsed:.0f} s", final=True)
        elif self.interactive:
            self.show("pip failed; its output:", final=True)


def _run_logged(command: list[str], log_path: Path, mode: str, on_line: Callable[[str], None]) -> int:
    """Run ``command``, its output (standard error too) written to ``log_path`` (opened with ``mode``) line by line
    and each line handed to ``on_line``; its exit status."""
    with open(log_path, mode, encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace"
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            on_line(line)
        return process.wait()


def pip_install(python: Path, arguments: list[str], log_path: Path) -> None:
    """``pip install`` with a progress line; on failure, pip's own output and CalledProcessError."""
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", *arguments]
    progress = InstallProgress(_site_packages(python.parent.parent), sys.stdout.isatty())
    status = _run_logged(command, log_path, "w", progress.feed)
    progress.finish(status == 0)
    if status != 0:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        print("\n".join(line for line in lines if "WARNING: Location" not in line)[-6000:], file=sys.stderr)
        raise subprocess.CalledProcessError(status, command)


# uv, from PyPI like everything else, installs a pinned set in seconds where pip takes minutes (measured:
# requirements-dev.txt into a fresh venv, empty caches, 119 s with pip, 4 s to get uv and 5 s with it).
UV = "uv==0.13.9"
UV_SUMMARY = re.compile(r"^(Resolved|Prepared|Installed|Uninstalled|Audited) \d+ packages?")


def install(python: Path, arguments: list[str], log_path: Path) -> None:
    """Requirements into the environment of ``python``: with uv where it installs (pip fetches it from
    the same registry), else with pip; either way, pip's index settings are the ones used."""
    uv_log = log_path.with_name("uv-install.log")
    uv = _uv_for(python, uv_log)
    if uv is not None:
        if uv_install(uv, python, arguments, uv_log):
            return
        print(f"  uv could not install them (its output is in {_shorter(str(uv_log))}); pip instead", flush=True)
    pip_install(python, arguments, log_path)


def _uv_for(python: Path, log_path: Path) -> Path | None:
    """uv inside the environment (installed there by pip the first time), or None where pip cannot get it."""
    uv = python.parent / ("uv.exe" if WINDOWS else "uv")
    if not uv.exists():
        command = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", UV]
        with open(log_path, "w", encoding="utf-8") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    return uv if uv.exists() else None


def _pip_settings_for_uv(python: Path) -> list[str]:
    """pip's index and CA bundle here (PIP_INDEX_URL / PIP_CERT, pip.conf) as uv's options: uv reads neither,
    and a network that inspects TLS is trusted through that bundle."""
    settings = {"index-url": os.environ.get("PIP_INDEX_URL", ""), "cert": os.environ.get("PIP_CERT", "")}
    if not all(settings.values()):
        listed = subprocess.run([str(python), "-m", "pip", "config", "list"], capture_output=True, text=True)
        for line in listed.stdout.splitlines() if listed.returncode == 0 else []:
            name, _, value = line.partition("=")
            option = name.rsplit(".", 1)[-1]
            if option in settings and not settings[option]:
                settings[option] = value.strip().strip("'\"")
    return [part for option, value in settings.items() if value for part in (f"--{option}", value)]


def uv_install(uv: Path, python: Path, arguments: list[str], log_path: Path) -> bool:
    """``uv pip install`` with uv's summary lines as progress; whether it succeeded (its output is logged)."""
    started = time.monotonic()
    command = [str(uv), "pip", "install", "--python", str(python), "--compile-bytecode"]
    command += [*_pip_settings_for_uv(python), *arguments]

    def say_summary(line: str) -> None:
        if UV_SUMMARY.match(line):
            print(f"  {line.strip().lower()}", flush=True)

    if _run_logged(command, log_path, "a", say_summary) == 0:
        print(f"  installed with uv in {time.monotonic() - started:.0f} s", flush=True)
        return True
    return False


def ensure_environment(environment: Environment, with_dev_tools: bool, command: str) -> None:
    """Create or refresh the environment so that it matches its pinned requirements."""
    wanted = environment.dev_requirements if with_dev_tools else environment.requirements
    stamp = environment.directory / f".installed-{_fingerprint(wanted)}"
    dev_stamp = environment.directory / f".installed-{_fingerprint(environment.dev_requirements)}"
    if stamp.exists() or dev_stamp.exists():
        return
    check_interpreter(command)
    started = time.monotonic()
    name = environment.directory.name
    if environment.python.exists():
        print(f"Updating {name}/ to {wanted} (a requirement file or pyproject.toml changed) ...", flush=True)
    else:
        print(f"Creating {name}/ with Python {_version_text(sys.version_info[:3])} ...", flush=True)
        import venv

        venv.EnvBuilder(with_pip=True).create(environment.directory)
        print(f"Installing {wanted} into {name}/ for {environment.label} (first run only; under a minute) ...")
    install(environment.python, ["-r", str(ROOT / wanted)], environment.directory / "pip-install.log")
    if environment.editable:
        print("  installing this checkout (editable: the lab11 command)", flush=True)
        editable = ["-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "-e", str(ROOT)]
        subprocess.run([str(environment.python), *editable], check=True)
    for old in environment.directory.glob(".installed-*"):
        old.unlink()
    stamp.write_text(wanted + "\n")
    print(f"{name}/ is ready ({time.monotonic() - started:.0f} s).", flush=True)


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


# -- running -----------------------------------------------------------------------------------


def _run(argv: list[str], **kwargs: object) -> int:
    """Run a child and return its exit status.

    Ctrl-C goes to every process in the terminal's foreground group, this one too. The
    child decides what Ctrl-C means (the app goes back to its menu), so this process
    lets it pass: if it exited, the shell would take the terminal back from a running app.
    A Python-level handler, unlike SIG_IGN, is not inherited by the child.
    """
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        status = subprocess.call(argv, cwd=ROOT, **kwargs)  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - status if status < 0 else status  # killed by signal N: 128 + N, as a shell reports it


def header(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def _ensure_v1_for_bench() -> None:
    """The save_messages rows run Microsoft's 1.x provider and ours in .venv-v1; without it they say 'not run'."""
    try:
        ensure_environment(V1, with_dev_tools=True, command="bench")
    except subprocess.CalledProcessError:
        print("Setting up .venv-v1/ failed (pip's output is above); the 1.x save_messages rows will say 'not run'.")


def _split_framework(arguments: list[str]) -> tuple[Environment, list[str]]:
    """``--framework 1.x`` (or ``--framework=1.x``) picks the environment; the rest goes to the program."""
    rest: list[str] = []
    chosen = "lab"
    items = iter(arguments)
    for argument in items:
        if argument == "--framework":
            chosen = next(items, "")
        elif argument.startswith("--framework="):
            chosen = argument.split("=", 1)[1]
        else:
            rest.append(argument)
    if chosen not in FRAMEWORKS:
        sys.exit(f"Unknown --framework {chosen!r}: use 1.x (Agent Framework 1.x) or lab (the lab's 1.0.0b260130).")
    return FRAMEWORKS[chosen], rest


def _test_path(argument: str) -> Path | None:
    """The file or directory a pytest argument names (``path::test`` too), or None for an option."""
    if argument.startswith("-"):
        return None
    path = (ROOT / argument.split("::", 1)[0]).resolve()
    return path if path.exists() else None


def _is_v1_path(path: Path) -> bool:
    v1 = ROOT / "tests" / "v1"
    return path == v1 or v1 in path.parents


class TestRun:
    """What ``dev.py test ARGUMENTS`` runs: pytest's options, and the paths for each environment."""

    def __init__(self, arguments: list[str]) -> None:
        self.fast = FAST in arguments  # the fast layer only: `pytest -m fast` in .venv
        arguments = [argument for argument in arguments if argument != FAST]
        paths = [argument for argument in arguments if _test_path(argument) is not None]
        self.options = [argument for argument in arguments if argument not in paths]
        self.v1_paths = [argument for argument in paths if _is_v1_path(_test_path(argument) or ROOT)]
        self.lab_paths = [argument for argument in paths if argument not in self.v1_paths]
        self.run_lab = not paths or bool(self.lab_paths)
        self.run_v1 = not self.fast and (not paths or bool(self.v1_paths))
        if self.fast and self.v1_paths:
            sys.exit("--fast runs the fast layer in .venv; tests/v1 runs in .venv-v1: leave out --fast for it.")

    def parallel(self, cores: int | None) -> list[str]:
        """pytest-xdist's options for this run: one worker more than the cores (much of a test's time is spent
        waiting on a server, a pseudo-terminal or a failover), at most four, each taking a test file at a time
        (``loadfile``: a module's shared server or deployment starts once). One core runs one process; so does
        the fast layer, which is quicker that way; a run that says ``-n`` or ``-p no:xdist`` keeps its choice.
        Measured on 2 cores: the main suite took 322 s on two workers and 229 s on three."""
        workers = min((cores or 1) + 1, MAX_WORKERS) if (cores or 1) > 1 else 1
        chosen = any(option == "-n" or option.startswith(("-n", "--numprocesses")) for option in self.options)
        if self.fast or workers < 2 or chosen or "no:xdist" in self.options:
            return []
        return ["-n", str(workers), "--dist", "loadfile"]

    def environments(self, v1_exists: bool) -> list[Environment]:
        """Every environment the run uses, all with the test tools. The main suite uses .venv-v1 too when
        it exists (the benchmark's smoke test runs Microsoft's 1.x provider there), so it is completed first."""
        wanted = [LAB] if self.run_lab else []
        if self.run_v1 or (self.run_lab and not self.fast and v1_exists):
            wanted.append(V1)
        return wanted


def environments_for(command: str, arguments: list[str], v1_exists: bool) -> list[tuple[Environment, bool]]:
    """The environments a command uses, each with whether it needs the test tools: all are made complete
    before the command starts, so none is used half-built, whatever command built it before."""
    if command == "app":
        return [(_split_framework(arguments)[0], False)]
    if command == "test":
        return [(environment, True) for environment in TestRun(arguments).environments(v1_exists)]
    if command == "bench":
        return [(LAB, True), (V1, True)]
    return []


def run_tests(arguments: list[str]) -> int:
    """ruff, the main suite in .venv, tests/v1 in .venv-v1 (with --fast: ruff and the fast layer); the
    first failing status, or 0."""
    run = TestRun(arguments)
    for environment, with_dev_tools in environments_for("test", arguments, V1.python.exists()):
        ensure_environment(environment, with_dev_tools=with_dev_tools, command="test")
    statuses: list[tuple[str, int]] = []
    if run.run_lab:
        if not run.fast:
            _ensure_tls_test_server()
        header("ruff: lint and format check")
        ruff = [str(LAB.python), "-m", "ruff"]
        statuses.append(("ruff", _run([*ruff, "check", "."]) or _run([*ruff, "format", "--check", "."])))
        layer = ["-m", "fast"] if run.fast else []
        which = "the fast layer" if run.fast else "tests"
        header(f"{which} in .venv/ ({LAB.label}, Python {_version_text(sys.version_info[:3])})")
        pytest = [str(LAB.python), "-m", "pytest", *layer, *run.parallel(os.cpu_count()), *run.options]
        statuses.append((f"{which} in .venv", _run([*pytest, *run.lab_paths])))
    if run.run_v1:
        header(f"tests/v1 in .venv-v1/ ({V1.label})")
        v1_tests = [str(V1.python), "-m", "pytest", *run.parallel(os.cpu_count()), *run.options]
        v1_tests += run.v1_paths or ["tests/v1"]
        statuses.append(("tests/v1 in .venv-v1", _run(v1_tests)))
    return _combine(statuses)


def _combine(statuses: list[tuple[str, int]]) -> int:
    """Say how each part ended; pytest's 5 (nothing selected) fails only when no part ran a test."""
    parts = [f"{name}: " + ("ok" if status == 0 else f"exit {status}") for name, status in statuses]
    header("summary: " + "; ".join(parts))
    failed = [status for _, status in statuses if status not in (0, 5)]
    if failed:
        return failed[0]
    tests = [status for name, status in statuses if name != "ruff"]  # ruff runs no test
    return 5 if tests and all(status == 5 for status in tests) else 0


# -- every Python the README names (CI) ------------------------------------------------------------


def _app_session(python: Path, scratch: Path) -> tuple[bool, list[str]]:
    """The README's first steps, piped: tell it a name, peek at the history, exit. (ok, lines to show)"""
    home = scratch / "home"
    home.mkdir()
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "LAB11_DATA_DIR": str(scratch / "data"),
        "LAB11_ENV_FILE": "none",
        "PYTHONUNBUFFERED": "1",
    }
    try:
        result = subprocess.run(
            [str(python), str(APP)],
            input=APP_SESSION,
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
            cwd=home,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, ["the app did not finish within 120 s"]
    finally:
        _stop_leftover_server(scratch / "data")
    output = result.stdout + result.stderr
    shown = [line for line in result.stdout.splitlines() if line.startswith(("Using ", "1. user:", "2. assistant:"))]
    ok = (
        result.returncode == 0
        and "1. user: My name is Ana" in result.stdout
        and "2. assistant: " in result.stdout
        and "Traceback" not in output
    )
    return ok, [f"exit status {result.returncode}", *shown] if ok else [
        f"exit status {result.returncode}",
        *output.splitlines()[-30:],
    ]


def _stop_leftover_server(data_dir: Path) -> None:
    """The app stops its server on exit; whatever a failed run left behind is killed here."""
    import json

    try:
        state = json.loads((data_dir / "server.json").read_text())
    except (OSError, ValueError):
        return
    for pid in state.values() if isinstance(state, dict) else []:
        if isinstance(pid, int) and pid > 0:
            with contextlib.suppress(OSError):
                os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))  # Windows has no SIGKILL


def _check_one_python(version: tuple[int, int, int], executable: str) -> bool:
    """A fresh environment on this interpreter: install, the store tests, one app session."""
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f"lab11-python{_version_text(version)}-"))
    try:
        environment = scratch / "venv"
        created = subprocess.run([executable, "-m", "venv", str(environment)], env=_no_pyenv_version(), check=False)
        if created.returncode != 0:
            print(f"  could not create a virtual environment with {executable}")
            return False
        python = environment / ("Scripts/python.exe" if WINDOWS else "bin/python")
        print("  installing requirements.txt + requirements-test.txt into a fresh environment", flush=True)
        try:
            install(
                python,
                ["-r", str(ROOT / "requirements.txt"), "-r", str(ROOT / "requirements-test.txt")],
                scratch / "pip.log",
            )
        except subprocess.CalledProcessError:
            print("  pip failed (its output is above)")
            return False
        print(f"  {' '.join(STORE_TESTS)}", flush=True)
        parallel = TestRun([]).parallel(os.cpu_count())
        tests = _run([str(python), "-m", "pytest", *STORE_TESTS, *parallel, "-q", "-p", "no:cacheprovider"])
        session_ok, lines = _app_session(python, scratch)
        print("  scripted app session (1, My name is Ana, 2, 0): " + ("ok" if session_ok else "FAILED"))
        for line in lines:
            print(f"    {line[:160]}")
        ok = tests == 0 and session_ok
        verdict = "passed" if ok else "FAILED"
        print(f"  Python {_version_text(version)}: {verdict} in {time.monotonic() - started:.0f} s", flush=True)
        return ok
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_every_python(arguments: list[str]) -> int:
    """Each CPython 3.10-3.14 on this machine (other than this one, unless --all): install and run."""
    header(
        "every CPython the README names: a fresh environment with requirements.txt + requirements-test.txt, "
        "the store tests and one scripted app session"
    )
    started = time.monotonic()
    found = find_interpreters()
    this = (sys.version_info[0], sys.version_info[1])
    outcomes: list[str] = []
    failed = False
    for minor in range(OLDEST[1], NEWEST[1] + 1):
        key = (3, minor)
        if key not in found:
            where = f"python3.{minor} on PATH, {_shorter(str(_pyenv_root() / 'versions'))}/3.{minor}.*"
            header(f"Python 3.{minor}: NOT RUN: no such interpreter on this machine (looked for {where})")
            outcomes.append(f"3.{minor} not found")
            continue
        version, executable = found[key]
        name = _version_text(version)
        if key == this and "--all" not in arguments:
            header(f"Python {name}: the interpreter of dev.py; `python3 dev.py test` runs the whole suite on it")
            outcomes.append(f"{name} (whole suite, dev.py test)")
            continue
        header(f"Python {name} ({_shorter(executable)})")
        ok = _check_one_python(version, executable)
        failed = failed or not ok
        outcomes.append(f"{name} {'passed' if ok else 'FAILED'}")
    header(f"Pythons: {', '.join(outcomes)} ({time.monotonic() - started:.0f} s)")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "app":
        environment, rest = _split_framework(rest)
        ensure_environment(environment, with_dev_tools=False, command="app")
        return _run([str(environment.python), str(APP), *rest])
    if command == "test":
        return run_tests(rest)
    if command == "bench":
        ensure_environment(LAB, with_dev_tools=True, command="bench")
        _ensure_v1_for_bench()
        return _run([str(LAB.python), "-m", "bench", *rest])
    if command == "pythons":
        return run_every_python(rest)
    print(__doc__.strip())
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as error:
        sys.exit(f"Setting up failed (exit status {error.returncode}); pip's output is above.")
    except KeyboardInterrupt:
        sys.exit(130)
