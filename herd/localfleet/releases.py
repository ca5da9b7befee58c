"""Real supervisord releases for the test fleet: which Python each needs, where that is, a shared install cache.

Real fleets run every supervisord from the seed deployment's 3.0a12 to 4.3,
each on the Python its hosts have (shared/reference/supervisor-releases.md).
A release host of the test fleet (``LocalFleet.start(releases={"web02": "3.1.4"})``)
runs that release for real, on that Python:

    3.0a12                 Python 2.7, the seed's way: the sdist built with ``python2.7 setup.py build``,
                           build/lib/supervisor copied into the project (herd.localfleet.fleet does the copy)
    3.1.4, 3.3.5           Python 2.7  (CentOS/RHEL 7 from EPEL; Ubuntu 18.04, Debian 9/10)
    4.0.4                  Python 3.7  (4.0 imports cgi.escape, gone in 3.8)
    4.1.0, 4.2.5, 4.3.0    Python 3.11

Other versions from 3.0 up are accepted too: before 4.0 on Python 2.7, 4.0.x
on 3.7, later ones on 3.11.  ``VERSION@X.Y`` runs a release on another
Python it supports (``4.1.0@3.6``: a host whose only Python is 3.6).

Interpreters, first found wins: ``$HERD_TEST_PYTHON27`` (``..37``, ``..311``:
the Python's version without its dot), pyenv's ``versions/X.Y.N/bin/python``
(newest N; pyenv's root is ``$PYENV_ROOT``, ``~/.pyenv`` or ``pyenv root``),
then ``pythonX.Y`` on PATH.  A missing one is a FleetError of one line naming
the release, the Python it needs and how to provide it.

The cache is shared by every test run, worktree and pytest-xdist worker of
the user: ``$HERD_TEST_CACHE`` or ``$XDG_CACHE_HOME/herd`` (``~/.cache/herd``),
then ``supervisor-releases/VERSION-pyX.Y/``.  Each release is installed with
``pythonX.Y -m pip install --target`` (``pip download`` of the sdist and a
build for 3.0a12) into a temporary directory beside it, then renamed into
place: a directory that exists is complete.  A file lock per release makes
parallel runs wait for one install instead of doing it twice.  Installs need
the package index (pip's own configuration applies); once cached, nothing
does.  ``python -m herd.localfleet releases install|list`` is the same code from
the shell (scripts/test installs every release up front).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from herd.localfleet.hosts import SEED_RELEASE, FleetError, host_name

# The releases the test fleet runs (issue 20's matrix), and the Python of each.
RELEASES: dict[str, str] = {
    "3.0a12": "2.7",
    "3.1.4": "2.7",
    "3.3.5": "2.7",
    "4.0.4": "3.7",
    "4.1.0": "3.11",
    "4.2.5": "3.11",
    "4.3.0": "3.11",
}
PYENV_SUGGESTION = {"2.7": "2.7.18", "3.6": "3.6.15", "3.7": "3.7.17", "3.11": "3.11.9"}
MARKER = "herd-release.json"  # written last, before the rename: what is installed, with which Python
PIP_TIMEOUT = 600.0
INSTALL_WORKERS = 3          # releases installed at once (2 cores, and pip is mostly waiting)

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?((?:a|b|rc)\d+)?$")


@dataclass(frozen=True)
class Release:
    """An installed supervisor release: its version, the interpreter it runs on, and where it is.

    ``path`` is what goes on PYTHONPATH (it holds ``supervisor/``); for the
    seed release it holds the built ``supervisor/`` that hosts copy into
    their project directory.
    """

    version: str
    python_version: str   # "2.7"
    python: str           # the interpreter's path, as found (not resolved)
    path: str

    @property
    def seed(self) -> bool:
        """True for 3.0a12: run the seed's way, from a copy in the project directory."""
        return self.version == SEED_RELEASE


def one_host_per_release() -> dict[str, str]:
    """``releases=`` for a fleet of len(RELEASES) hosts, one per release: {"web01": "3.0a12", ...}."""
    return {host_name(i): version for i, version in enumerate(RELEASES)}


def split(release: str) -> tuple[str, str | None]:
    """``"4.1.0@3.6"`` -> ("4.1.0", "3.6"); ``"4.1.0"`` -> ("4.1.0", None)."""
    version, _, python = release.partition("@")
    return version, python or None


def python_version_for(version: str) -> str:
    """The Python (``"2.7"``) that supervisor ``version`` runs on; FleetError for a version it cannot be.

    ``VERSION@X.Y`` names the Python itself."""
    version, python = split(version)
    if python is not None:
        if not re.fullmatch(r"[23]\.\d+", python):
            raise FleetError(f"supervisor {version}@{python}: {python!r} is not a Python version (e.g. 3.6)")
        python_version_for(version)     # the version itself must be one the fleet runs
        return python
    if version in RELEASES:
        return RELEASES[version]
    match = _VERSION.match(version)
    if not match:
        raise FleetError(f"supervisor release {version!r} is not a version number (e.g. 3.1.4; "
                         f"the fleet's releases: {', '.join(RELEASES)})")
    major, minor = int(match.group(1)), int(match.group(2))
    if (major, minor) < (3, 0) or (match.group(4) and (major, minor) == (3, 0)):
        raise FleetError(f"supervisor {version} is not one the test fleet runs: it runs 3.0 and later, "
                         f"and {SEED_RELEASE} the seed's way")
    if major == 3:
        return "2.7"
    return "3.7" if (major, minor) == (4, 0) else "3.11"


def here_is_the_including_file(version: str) -> bool:
    """Does supervisord ``version`` expand %(here)s in an [include]d file to that file's directory?
    From 4.0 on; 3.x expands it to the main config's directory."""
    match = _VERSION.match(split(version)[0])
    return match is not None and int(match.group(1)) >= 4


def env_override(python_version: str) -> str:
    """The environment variable naming the interpreter for ``python_version``: HERD_TEST_PYTHON27."""
    return "HERD_TEST_PYTHON" + python_version.replace(".", "")


def pyenv_root() -> str | None:
    """pyenv's root: $PYENV_ROOT, ~/.pyenv when it exists, else what ``pyenv root`` says; or None."""
    root = os.environ.get("PYENV_ROOT")
    if root:
        return root
    home = os.path.expanduser("~/.pyenv")
    if os.path.isdir(home):
        return home
    if shutil.which("pyenv"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=10,
                                 stdin=subprocess.DEVNULL).stdout.strip()
            return out or None
    return None


def _pyenv_python(python_version: str) -> str | None:
    """pyenv's newest X.Y.N interpreter, or None."""
    root = pyenv_root()
    if not root:
        return None
    found = []
    for path in glob.glob(os.path.join(root, "versions", f"{python_version}.*", "bin", "python")):
        patch = os.path.basename(os.path.dirname(os.path.dirname(path)))[len(python_version) + 1:]
        if patch.isdigit() and os.access(path, os.X_OK):
            found.append((int(patch), path))
    return max(found)[1] if found else None


def interpreter_version(python: str) -> str | None:
    """``"X.Y"`` as ``python`` reports it, or None when it does not run (a pyenv shim of no version)."""
    try:
        done = subprocess.run([python, "-c", "import sys; sys.stdout.write('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def find_python(python_version: str) -> str | None:
    """The interpreter for ``python_version`` (see the module's docstring), or None.

    A set override must work: FleetError when it is not Python ``python_version``."""
    name = env_override(python_version)
    override = os.environ.get(name)
    if override:
        got = interpreter_version(override)
        if got != python_version:
            what = f"is Python {got}" if got else "does not run"
            raise FleetError(f"{name}={override} {what}: it must name a Python {python_version} interpreter")
        return override
    found = _pyenv_python(python_version)
    if found:
        return found
    on_path = shutil.which(f"python{python_version}")
    if on_path and interpreter_version(on_path) == python_version:
        return on_path
    return None


def missing_python(version: str, python_version: str) -> str:
    """The one line for a release whose Python is nowhere to be found."""
    return (f"supervisor {version} needs Python {python_version}: none found "
            f"(pyenv install {PYENV_SUGGESTION.get(python_version, python_version)}, "
            f"or set {env_override(python_version)})")


def interpreter_for(version: str) -> tuple[str, str]:
    """(X.Y, interpreter path) for supervisor ``version``; FleetError (one line) when there is none."""
    python_version = python_version_for(version)
    python = find_python(python_version)
    if python is None:
        raise FleetError(missing_python(version, python_version))
    return python_version, python


# -- the cache ------------------------------------------------------------------------


def cache_root() -> Path:
    """Where installed releases live: $HERD_TEST_CACHE, else $XDG_CACHE_HOME/herd (~/.cache/herd);
    then supervisor-releases/."""
    base = os.environ.get("HERD_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "herd")
    return Path(base) / "supervisor-releases"


def _key(version: str, python_version: str) -> str:
    return f"{version}-py{python_version}"


def installed(version: str) -> Release | None:
    """The cached release ``version``, or None (its interpreter must still be found)."""
    python_version, python = interpreter_for(version)
    version = split(version)[0]
    path = cache_root() / _key(version, python_version)
    if not (path / MARKER).is_file():
        return None
    return Release(version, python_version, python, str(path))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def install(version: str, say: Callable[[str], None] = lambda line: None) -> Release:
    """Release ``version``, installed into the cache unless it is there already (then this is cheap).

    ``say`` gets one line when an install begins.  FleetError, one line, for
    a missing interpreter, a bad version or a failed install (pip's whole
    output is then in the cache, named by the message)."""
    python_version, python = interpreter_for(version)
    version = split(version)[0]
    root = cache_root()
    key = _key(version, python_version)
    final = root / key
    if (final / MARKER).is_file():
        return Release(version, python_version, python, str(final))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FleetError(f"supervisor {version}: cannot create the release cache {root}: {exc.strerror}") from exc
    with _locked(root / f".{key}.lock"):
        if (final / MARKER).is_file():   # another run installed it while we waited
            return Release(version, python_version, python, str(final))
        for stale in root.glob(f".{key}.tmp-*"):   # left by an interrupted install (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        say(f"installing supervisor {version} for Python {python_version} ({python}) into {final} ...")
        began = time.monotonic()
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}.tmp-"))
        tmp.chmod(0o755)   # readable by every user, as an installed package is (a distro host's login user)
        log = root / f"{key}.log"
        log.write_text("")
        try:
            if version == SEED_RELEASE:
                _build_seed(python, version, tmp, log)
            else:
                _pip_install(python, version, tmp, log)
            (tmp / MARKER).write_text(json.dumps({
                "version": version, "python_version": python_version, "python": python,
                "seconds": round(time.monotonic() - began, 1)}) + "\n")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return Release(version, python_version, python, str(final))


def _run(python: str, version: str, what: str, args: list[str], log: Path, cwd: Path | None = None) -> None:
    """``python ARGS`` (``what`` names it: "pip install"), its output to ``log``; a FleetError
    naming pip's last error line when it fails."""
    argv = [python, *args]
    with open(log, "a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  cwd=cwd, timeout=PIP_TIMEOUT, env=_pip_env())
        except subprocess.TimeoutExpired as exc:
            raise FleetError(f"supervisor {version}: {what} took over {PIP_TIMEOUT:.0f}s "
                             f"(output in {log})") from exc
    if done.returncode != 0:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines
        raise FleetError(f"supervisor {version}: {what} failed: "
                         f"{errors[-1][:300]} (output in {log})")


def _pip_env() -> dict[str, str]:
    """Our environment, quiet about pip versions, without PYTHONPATH/PYTHONHOME of this Python."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_WARN_SCRIPT_LOCATION"] = "1"
    env.pop("PIP_REQUIRE_VIRTUALENV", None)
    return env


def _pip_install(python: str, version: str, target: Path, log: Path) -> None:
    """``pip install --target`` (meld3 comes with 3.x); 3.x also gets the supervisor/__init__.py
    that its namespace-package .pth would stand in for inside site-packages."""
    _run(python, version, "pip install", ["-m", "pip", "install", "-q", "--no-input", "--target", str(target),
                               f"supervisor=={version}"], log)
    init = target / "supervisor" / "__init__.py"
    if not init.exists():
        init.write_text("")


def _build_seed(python: str, version: str, target: Path, log: Path) -> None:
    """As the seed did: the sdist, ``python setup.py build``, keep build/lib/supervisor."""
    src = target / "sdist"
    _run(python, version, "pip download", ["-m", "pip", "download", "-q", "--no-input", "--no-deps", "--no-binary", ":all:",
                               "-d", str(src), f"supervisor=={version}"], log)
    archives = sorted(src.glob("supervisor-*.tar.gz"))
    if not archives:
        raise FleetError(f"supervisor {version}: pip download left no sdist in {src} (output in {log})")
    with tarfile.open(archives[0]) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(src, filter="data")
        else:   # pragma: no cover - Python before 3.11.4
            archive.extractall(src)  # noqa: S202 - pypi's own sdist
    tree = src / f"supervisor-{version}"
    _run(python, version, "setup.py build", ["setup.py", "build"], log, cwd=tree)
    shutil.move(str(tree / "build" / "lib" / "supervisor"), str(target / "supervisor"))
    shutil.rmtree(src)


def install_all(versions: list[str], say: Callable[[str], None] = lambda line: None) -> list[Release]:
    """Install ``versions`` (every fleet release when empty); every interpreter is looked for first,
    so a missing one fails the call before anything is downloaded."""
    versions = list(dict.fromkeys(versions or RELEASES))
    for version in versions:
        interpreter_for(version)
    with ThreadPoolExecutor(max_workers=INSTALL_WORKERS) as pool:   # pip waits on the index mostly
        futures = [pool.submit(install, version, say) for version in versions]
    return [future.result() for future in futures]


def describe(version: str) -> str:
    """One line about ``version``: its Python, the interpreter found and whether it is cached."""
    try:
        python_version, python = interpreter_for(version)
    except FleetError as exc:
        return f"{version:8} {exc}"
    path = cache_root() / _key(version, python_version)
    where = f"installed in {path}" if (path / MARKER).is_file() else "not installed"
    return f"{version:8} Python {python_version:5} {python}  {where}"
