"""Installing plugin distributions for real, and using them from a fresh interpreter.

A plugin is only proven when pip has built and installed it and a new process discovers it
through its entry point. These fixtures do that offline, without touching the environment
the suite runs in:

* ``install_distributions(*sources) -> Path`` builds and installs source directories (each
  with a ``pyproject.toml``) into a temporary target directory, with one ``pip`` call, and
  returns it. The same sources are installed once per session.
* ``run_python(code, target, env=...)`` runs ``python -c code`` in a fresh process that sees
  the distributions installed in ``target`` (``PYTHONPATH``); ``target=None`` runs it in the
  plain environment. ``run_python_module`` does the same for ``python -m``.
* ``write_distribution(name, files, entry_points=...) -> Path`` writes a small source
  distribution from strings, for broken, non-protocol or conflicting plugins.

Example::

    def test_broken_plugin_is_listed(install_distributions, run_python, write_distribution):
        source = write_distribution(
            "aichats-broken",
            {"aichats_broken.py": "raise ImportError('no luck')"},
            entry_points={"broken": "aichats_broken:Broken"},
        )
        target = install_distributions(source)
        result = run_python("import aichats_core; print(aichats_core.list_providers())", target)
        assert result.returncode == 0, result.stderr
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGINS = REPO_ROOT / "plugins"
ENTRY_POINT_GROUP = "aichats.providers"
TIMEOUT = 60.0
"""Seconds any one subprocess may take."""
INSTALL_TIMEOUT = 180.0

# What a build leaves in a source directory: never copied from it, never left in it.
_BUILD_LEFTOVERS = shutil.ignore_patterns(
    "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"
)
# Variables of the running pytest that must not leak into a nested interpreter or pytest run.
_NOT_INHERITED = ("PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT")

Env = Mapping[str, "str | None"]
"""Extra environment for a subprocess; ``None`` removes a variable."""


class InstallDistributions(Protocol):
    def __call__(self, *sources: Path | str) -> Path: ...


class RunPython(Protocol):
    def __call__(
        self,
        code: str,
        target: Path | None = None,
        *,
        env: Env | None = None,
        args: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


class RunPythonModule(Protocol):
    def __call__(
        self,
        module: str,
        *args: str,
        target: Path | None = None,
        env: Env | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


class WriteDistribution(Protocol):
    def __call__(
        self,
        name: str,
        files: Mapping[str, str],
        *,
        entry_points: Mapping[str, str] | None = None,
        group: str = ENTRY_POINT_GROUP,
        version: str = "0.1.0",
    ) -> Path: ...


# -- the helpers ------------------------------------------------------------------------------


def python_env(target: Path | None, env: Env | None = None) -> dict[str, str]:
    """The environment of a fresh interpreter that sees ``target``'s distributions first."""
    result = {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}
    # Bytecode caches would land next to the sources (plugins/*/tests) of the checkout.
    result["PYTHONDONTWRITEBYTECODE"] = "1"
    if target is not None:
        inherited = result.get("PYTHONPATH")
        result["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), inherited]))
    for key, value in (env or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def run_python(
    code: str,
    target: Path | None = None,
    *,
    env: Env | None = None,
    args: Sequence[str] = (),
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in a fresh process; ``target`` comes first on its ``sys.path``.

    ``code`` is dedented, so a triple-quoted block can be indented like the test around it.
    The result is returned whatever the exit status: assert on ``returncode``/``stderr``.
    """
    return _run(["-c", textwrap.dedent(code), *args], target, env, cwd)


def run_python_module(
    module: str,
    *args: str,
    target: Path | None = None,
    env: Env | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module *args`` in a fresh process, as ``run_python`` does."""
    return _run(["-m", module, *args], target, env, cwd)


def _run(
    argv: list[str], target: Path | None, env: Env | None, cwd: Path | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=cwd or REPO_ROOT,
        env=python_env(target, env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def pip_install(sources: Iterable[Path], target: Path) -> None:
    """Build and install ``sources`` into ``target`` with one offline pip call, or fail the test.

    ``--no-build-isolation --no-index``: nothing is downloaded; the build uses the setuptools
    of the running environment, so a plugin's ``build-system.requires`` must be met by it.
    ``--no-deps``: the dependencies (aichats itself) are those of the running environment.
    """
    _require_build_backend()
    command = [
        sys.executable, "-m", "pip", "install",
        "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
        "--target", str(target),
        *map(str, sources),
    ]  # fmt: skip
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
        env=python_env(None, {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}),
    )
    if result.returncode != 0:
        pytest.fail(
            f"pip could not install {[str(s) for s in sources]} (exit {result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


def _require_build_backend() -> None:
    """Fail with the fix, rather than with pip's ``invalid command 'bdist_wheel'``."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(
            "building plugin distributions offline needs setuptools in this environment:"
            " pip install 'setuptools>=77'",
            pytrace=False,
        )
    major, minor = (int(part) for part in version.split(".")[:2])
    if (major, minor) < (77, 0):
        pytest.fail(
            f"setuptools {version} is too old to build the plugin distributions offline"
            " (they use the SPDX 'license' field; before 70.1 it also needs the 'wheel'"
            " package): pip install 'setuptools>=77'",
            pytrace=False,
        )


def copy_sources(sources: Sequence[Path], into: Path) -> list[Path]:
    """Copy each source directory under ``into``; pip builds in place, leaving build/ behind."""
    copies = []
    for index, source in enumerate(sources):
        if not (source / "pyproject.toml").is_file():
            raise ValueError(f"{source} is not a distribution: it has no pyproject.toml")
        copy = into / f"{index}-{source.name}"
        shutil.copytree(source, copy, ignore=_BUILD_LEFTOVERS)
        copies.append(copy)
    return copies


def distribution_source(
    root: Path,
    name: str,
    files: Mapping[str, str],
    *,
    entry_points: Mapping[str, str] | None = None,
    group: str = ENTRY_POINT_GROUP,
    version: str = "0.1.0",
) -> Path:
    """Write a setuptools distribution ``name`` under ``root`` and return its directory.

    ``files`` maps paths (``"pkg/__init__.py"`` or a single module ``"mod.py"``) to their
    dedented text; top-level packages and modules are found from them. ``entry_points``
    maps provider names to ``module:attribute`` in ``group``.
    """
    source = root / name
    source.mkdir(parents=True)
    packages = sorted({path.split("/")[0] for path in files if "/" in path})
    modules = sorted(path.removesuffix(".py") for path in files if "/" not in path)
    lines = [
        "[build-system]",
        'requires = ["setuptools>=77"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f'name = "{name}"',
        f'version = "{version}"',
        'requires-python = ">=3.11"',
        "",
        "[tool.setuptools]",
        f"packages = {packages!r}".replace("'", '"'),
        f"py-modules = {modules!r}".replace("'", '"'),
    ]
    if entry_points:
        lines += ["", f'[project.entry-points."{group}"]']
        lines += [f'"{ep_name}" = "{value}"' for ep_name, value in entry_points.items()]
    (source / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for path, text in files.items():
        destination = source / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(textwrap.dedent(text), encoding="utf-8")
    return source


# -- the fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def install_distributions(tmp_path_factory: pytest.TempPathFactory) -> InstallDistributions:
    """``install_distributions(*sources) -> target``: pip-install source directories, once.

    Every source is copied to a temporary directory first (building writes ``build/`` and
    ``*.egg-info`` into it), then all are installed by one pip call into a fresh target that
    no other set of sources shares. Asking again for the same sources returns the same target.
    Two sources may register the same provider name (a conflict); they may not share a
    distribution name or a top-level package, which pip cannot put in one target.
    """
    installed: dict[tuple[Path, ...], Path] = {}

    def install(*sources: Path | str) -> Path:
        if not sources:
            raise ValueError("install_distributions needs at least one source directory")
        key = tuple(Path(source).resolve() for source in sources)
        if key not in installed:
            root = tmp_path_factory.mktemp("distributions")
            copies = copy_sources(key, root / "sources")
            target = root / "site-packages"
            pip_install(copies, target)
            installed[key] = target
        return installed[key]

    return install


@pytest.fixture(scope="session")
def echo_site(install_distributions: InstallDistributions) -> Path:
    """A target directory where the example plugin ``aichats-echo`` is installed."""
    return install_distributions(PLUGINS / "aichats-echo")


@pytest.fixture(scope="session")
def openai_site(install_distributions: InstallDistributions) -> Path:
    """A target directory where the plugin ``aichats-openai`` is installed."""
    return install_distributions(PLUGINS / "aichats-openai")


@pytest.fixture(scope="session")
def write_distribution(tmp_path_factory: pytest.TempPathFactory) -> WriteDistribution:
    """``write_distribution(name, files, entry_points=...) -> source``: ``distribution_source``."""

    def write(
        name: str,
        files: Mapping[str, str],
        *,
        entry_points: Mapping[str, str] | None = None,
        group: str = ENTRY_POINT_GROUP,
        version: str = "0.1.0",
    ) -> Path:
        root = tmp_path_factory.mktemp("written")
        return distribution_source(
            root, name, files, entry_points=entry_points, group=group, version=version
        )

    return write


@pytest.fixture(scope="session", name="run_python")
def run_python_fixture() -> RunPython:
    """``run_python(code, target=None, env=...)``: ``python -c`` in a fresh process."""
    return run_python


@pytest.fixture(scope="session", name="run_python_module")
def run_python_module_fixture() -> RunPythonModule:
    """``run_python_module(module, *args, target=None, env=...)``: ``python -m`` likewise."""
    return run_python_module
