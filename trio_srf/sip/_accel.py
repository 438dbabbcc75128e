"""Chooses, at import time, between the mypyc-compiled SIP parser and its pure-Python source.

``scripts/build_speedups.py`` may compile the modules named in :data:`COMPILED_MODULES` with mypyc
(from the very same ``.py`` files) into extension modules that sit next to their sources in
``trio_srf/sip/``, plus one shared library (:data:`SHARED_LIB`) and a stamp file
(:data:`STAMP_FILE`) recording the SHA-256 of every source it compiled. Python's own import system
prefers an extension module to a ``.py`` of the same name, so :func:`install`, called by
``trio_srf/sip/__init__.py`` before it imports any submodule, decides which one is used:

1. ``TRIO_SRF_PURE=1`` in the environment (any value but empty or ``0``): pure Python.
2. No compiled file at all next to the sources (a wheel, an sdist, a checkout never built): pure
   Python, silently.
3. Some compiled files but not all of them, or the stamp is missing, unreadable, or does not match
   the current sources (a ``.py`` edited after the build, a module added to
   :data:`COMPILED_MODULES`): pure Python, with a :class:`StaleBuildWarning` saying how to rebuild.
   A compiled module never runs code older than its source.
4. Otherwise: the compiled modules.

In the pure cases a finder placed first on :data:`sys.meta_path` hands out the ``.py`` source for
each module of this package that has an extension module beside it (so a leftover extension
module from an older build is never picked up either); nothing else is touched. In the compiled
case nothing is installed at all. The decision costs one directory listing and, only when compiled
files exist, a small JSON read and hashing about 90 kB of source: under 0.1 ms without a build,
about 1 ms with one (plus about 2 ms to import :mod:`json`, which only this needs).

This module is pure Python on purpose (it is never compiled), and imports nothing from trio_srf.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import NamedTuple

#: The modules mypyc compiles, by full name; all live in this package. The only list of them:
#: ``scripts/build_speedups.py`` reads it from here.
COMPILED_MODULES: tuple[str, ...] = (
    "trio_srf.sip._headers",
    "trio_srf.sip._uri",
    "trio_srf.sip._parsed",
    "trio_srf.sip._parser",
    "trio_srf.sip._message",
)

#: mypyc's group name for the build; its runtime and all module bodies go in one shared library,
#: :data:`SHARED_LIB`, and each module of :data:`COMPILED_MODULES` gets a small shim extension.
GROUP_NAME = "trio_srf.sip._speedups"

#: Full module name of the shared library mypyc builds for :data:`GROUP_NAME`.
SHARED_LIB = GROUP_NAME + "__mypyc"

#: File name (in this package's directory) of the stamp a successful build writes.
STAMP_FILE = "_accel_stamp.json"

#: Environment variable that forces pure Python when set to anything but empty or ``0``.
PURE_ENV = "TRIO_SRF_PURE"

#: Version of the stamp's JSON layout; a stamp of another version counts as stale.
STAMP_VERSION = 1

PACKAGE = "trio_srf.sip"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class StaleBuildWarning(UserWarning):
    """The compiled parser exists but does not match the sources; pure Python is used instead."""


class Decision(NamedTuple):
    """What :func:`decide` chose.

    Attributes:
        compiled: True to let the extension modules load, False for the ``.py`` sources.
        reason: One short phrase saying why (for messages and benchmarks).
        stale: True when compiled files exist but cannot be trusted (a warning is due).
        shadowed: Full names of this package's modules that have an extension module beside
            their source; in pure mode these must be loaded from source explicitly.
    """

    compiled: bool
    reason: str
    stale: bool
    shadowed: tuple[str, ...]


def leaf(module: str) -> str:
    """Return the last component of a module name in this package.

    Raises:
        ValueError: The module is not directly inside ``trio_srf.sip``.
    """
    parent, _, name = module.rpartition(".")
    if parent != PACKAGE or not name:
        raise ValueError(f"{module!r} is not a module of {PACKAGE}")
    return name


def source_path(module: str, package_dir: str = PACKAGE_DIR) -> str:
    """Return the ``.py`` path of ``module`` (a module of this package)."""
    return os.path.join(package_dir, leaf(module) + ".py")


def source_digests(
    modules: Iterable[str] = COMPILED_MODULES, package_dir: str = PACKAGE_DIR
) -> dict[str, str]:
    """Return ``{module: sha256 hex digest of its .py source}``.

    Raises:
        OSError: A source file cannot be read.
    """
    import hashlib  # here: only needed once compiled files exist (see read_stamp)

    digests = {}
    for module in modules:
        with open(source_path(module, package_dir), "rb") as f:
            digests[module] = hashlib.sha256(f.read()).hexdigest()
    return digests


def extension_files(package_dir: str = PACKAGE_DIR) -> dict[str, str]:
    """Return ``{full module name: file name}`` for every extension module in the directory.

    The shared library :data:`SHARED_LIB` is included when present.
    """
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    found: dict[str, str] = {}
    try:
        names = os.listdir(package_dir)
    except OSError:
        return found
    for name in names:
        for suffix in suffixes:
            if name.endswith(suffix):
                found.setdefault(f"{PACKAGE}.{name[: -len(suffix)]}", name)
                break
    return found


def read_stamp(package_dir: str = PACKAGE_DIR) -> dict[str, object] | None:
    """Return the build stamp as a dict, or None when it is missing or not a JSON object."""
    # Imported here, not at the top: json costs about 2 ms to import and nothing else in
    # trio_srf.sip needs it, so a checkout without a build does not pay for it.
    import json

    try:
        with open(os.path.join(package_dir, STAMP_FILE), "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def decide(
    environ: Mapping[str, str] = os.environ,
    package_dir: str = PACKAGE_DIR,
    modules: Sequence[str] = COMPILED_MODULES,
) -> Decision:
    """Decide between compiled and pure Python (the rules are in the module docstring).

    Args:
        environ: The environment to read :data:`PURE_ENV` from.
        package_dir: The directory holding the sources, extension modules and stamp.
        modules: The modules a build is expected to have compiled.

    Returns:
        The decision; nothing is changed by calling this.
    """
    present = extension_files(package_dir)
    shadowed = tuple(
        sorted(name for name in present if name != SHARED_LIB and not name.endswith("__mypyc"))
    )
    if environ.get(PURE_ENV, "") not in ("", "0"):
        return Decision(False, f"{PURE_ENV}={environ[PURE_ENV]}", False, shadowed)
    if not present:
        return Decision(False, "no compiled build", False, shadowed)
    missing = [m for m in (*modules, SHARED_LIB) if m not in present]
    if missing:
        detail = "missing " + ", ".join(m.rpartition(".")[2] for m in missing)
        return Decision(False, detail, True, shadowed)
    extra = [m for m in shadowed if m not in modules]
    if extra:
        detail = "left from an older build: " + ", ".join(leaf(m) for m in extra)
        return Decision(False, detail, True, shadowed)
    stamp = read_stamp(package_dir)
    if stamp is None:
        return Decision(False, f"no readable {STAMP_FILE}", True, shadowed)
    try:
        current = source_digests(modules, package_dir)
    except OSError as exc:
        return Decision(False, f"cannot read a source ({exc.strerror})", True, shadowed)
    if stamp.get("version") != STAMP_VERSION:
        return Decision(False, "stamp of another version", True, shadowed)
    if stamp.get("ext_suffix") != importlib.machinery.EXTENSION_SUFFIXES[0]:
        return Decision(False, "built for another Python", True, shadowed)
    built = stamp.get("sources")
    if built != current:
        if not isinstance(built, dict):
            return Decision(False, "stamp lists no sources", True, shadowed)
        changed = sorted(m for m in set(current) | set(built) if built.get(m) != current.get(m))
        detail = ", ".join(leaf(m) + ".py" for m in changed if m.startswith(PACKAGE + "."))
        return Decision(False, f"changed since the build: {detail}", True, shadowed)
    return Decision(True, "compiled", False, shadowed)


class SourceFinder:
    """A :data:`sys.meta_path` finder that loads the listed modules from their ``.py`` source.

    Placed ahead of the path finder, it wins over an extension module of the same name.
    """

    def __init__(self, sources: Mapping[str, str]) -> None:
        """Serve ``sources``, a ``{full module name: .py path}`` map."""
        self.sources = dict(sources)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Return a source spec for one of our modules, None (ask the next finder) otherwise."""
        source = self.sources.get(fullname)
        if source is None:
            return None
        loader = importlib.machinery.SourceFileLoader(fullname, source)
        return importlib.util.spec_from_file_location(fullname, source, loader=loader)


_decision: Decision | None = None


def install(environ: Mapping[str, str] = os.environ) -> None:
    """Choose compiled or pure Python for :data:`COMPILED_MODULES`; call before importing them.

    In pure mode this puts a :class:`SourceFinder` first on :data:`sys.meta_path`; when the
    compiled build is stale it also warns (:class:`StaleBuildWarning`), once the finder is in
    place, so the choice stands even where warnings are turned into errors. Calling it again
    replaces the earlier choice.

    Args:
        environ: The environment to read :data:`PURE_ENV` from.
    """
    global _decision
    decision = decide(environ)
    _decision = decision
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, SourceFinder)]
    if decision.compiled:
        return
    names = set(COMPILED_MODULES) | set(decision.shadowed)
    sys.meta_path.insert(0, SourceFinder({name: source_path(name) for name in names}))
    if decision.stale:
        warnings.warn(
            f"trio_srf.sip's compiled parser is stale ({decision.reason}); using pure Python. "
            "Rebuild it with `bash scripts/setup.sh` (or `python scripts/build_speedups.py`), "
            f"or set {PURE_ENV}=1 to silence this.",
            StaleBuildWarning,
            stacklevel=2,
        )


def compiled() -> bool:
    """Say whether the SIP parser runs compiled.

    Checked on the loaded modules themselves: True only when every module of
    :data:`COMPILED_MODULES` was loaded from an extension module.
    """
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for name in COMPILED_MODULES:
        module = sys.modules.get(name) or importlib.import_module(name)
        if not str(getattr(module, "__file__", "") or "").endswith(suffixes):
            return False
    return True


def reason() -> str:
    """Say why :func:`install` chose the mode in use (``"compiled"``, ``"no compiled build"``...).

    Returns ``"install() not called"`` before the package has been imported.
    """
    return _decision.reason if _decision is not None else "install() not called"
