"""Build the mypyc-compiled SIP parser in place (optional; pure Python works without it).

Usage (from anywhere; paths are relative to the repository)::

    .venv/bin/python scripts/build_speedups.py          # build unless the stamp is current
    .venv/bin/python scripts/build_speedups.py --force  # rebuild anyway
    .venv/bin/python scripts/build_speedups.py --clean  # remove what a build put in place
    .venv/bin/python scripts/build_speedups.py --check-compiler  # C compiler and Python.h?

The modules are the ones in ``trio_srf.sip._accel.COMPILED_MODULES``. mypyc compiles them as one
group, ``trio_srf.sip._speedups``: a shared library ``trio_srf/sip/_speedups__mypyc.<ext>`` plus
one small extension per module next to its ``.py``. Generated C, objects and the log go in
``build/mypyc/``. Built files are moved into ``trio_srf/sip/`` with an atomic rename (a process
that has the old ones loaded keeps working), then ``trio_srf/sip/_accel_stamp.json`` records the
SHA-256 of each compiled source (hashed before compiling), the mypy version and the Python build.
``trio_srf.sip`` only uses the compiled modules while that stamp matches the sources.

Quiet: one line on success; on failure the full build log, then a last line
``build_speedups: FAILED: <reason>`` and exit status 1 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from types import ModuleType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(ROOT, "trio_srf", "sip")
BUILD_DIR = os.path.join(ROOT, "build", "mypyc")
LOG_FILE = os.path.join(BUILD_DIR, "build.log")


class BuildError(Exception):
    """A build step failed; the message is the one-line reason."""


def load_accel() -> ModuleType:
    """Load trio_srf/sip/_accel.py by path.

    Importing ``trio_srf.sip`` would load the very extension modules this script replaces.
    """
    path = os.path.join(PACKAGE_DIR, "_accel.py")
    spec = importlib.util.spec_from_file_location("_trio_srf_accel_for_build", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mypy_version() -> str | None:
    """Return the installed mypy's version, or None when mypy is not importable."""
    try:
        from mypy.version import __version__
    except ImportError:
        return None
    return str(__version__)


def python_build() -> str:
    """Identify this interpreter build (a different one needs a rebuild)."""
    return f"{sys.implementation.cache_tag} {' '.join(sys.version.split())}"


def wanted_stamp(accel: ModuleType, digests: dict[str, str]) -> dict[str, object]:
    """The stamp a build from these sources, with this mypy and Python, writes."""
    return {
        "version": accel.STAMP_VERSION,
        "sources": digests,
        "mypy": mypy_version(),
        "python": python_build(),
        "ext_suffix": importlib.machinery.EXTENSION_SUFFIXES[0],
    }


def built_paths(accel: ModuleType) -> list[str]:
    """Paths in trio_srf/sip/ that a build of the current module list produces."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    names = [*accel.COMPILED_MODULES, accel.SHARED_LIB]
    return [os.path.join(PACKAGE_DIR, accel.leaf(name) + suffix) for name in names]


def up_to_date(accel: ModuleType, digests: dict[str, str]) -> bool:
    """True when every built file exists and the stamp matches sources, mypy and Python."""
    if not all(os.path.exists(p) for p in built_paths(accel)):
        return False
    return bool(accel.read_stamp() == wanted_stamp(accel, digests))


def check_toolchain() -> None:
    """Raise BuildError naming the first missing piece: mypyc, setuptools, compiler, headers."""
    if mypy_version() is None or importlib.util.find_spec("mypyc") is None:
        raise BuildError("mypyc is not installed (it ships with mypy: pip install -e '.[test]')")
    if importlib.util.find_spec("setuptools") is None:
        raise BuildError("setuptools is not installed in this Python (pip install setuptools)")
    check_compiler()


def check_compiler() -> None:
    """Raise BuildError unless the C compiler setuptools will use and Python.h are there."""
    cc = os.environ.get("CC") or str(sysconfig.get_config_var("CC") or "cc")
    compiler = cc.split()[0]
    if shutil.which(compiler) is None:
        raise BuildError(f"no C compiler ({compiler!r} not found; e.g. apt-get install gcc)")
    header = os.path.join(sysconfig.get_paths()["include"], "Python.h")
    if not os.path.exists(header):
        raise BuildError(f"no Python headers ({header} missing; e.g. apt-get install python3-dev)")


# The child process: mypyc generates C, setuptools compiles it into build/mypyc/lib.
# Run separately so that its chatter can be captured and shown only on failure.
CHILD = """
import sys
from setuptools import Distribution
from mypyc.build import mypycify

paths, group, build_dir = sys.argv[1:-2], sys.argv[-2], sys.argv[-1]
extensions = mypycify(paths, group_name=group, target_dir=build_dir, opt_level="3")
dist = Distribution({"name": "trio_srf_speedups", "ext_modules": extensions,
                     "packages": [], "py_modules": []})
dist.script_name = "build_speedups"
dist.script_args = ["build_ext", "--build-lib", build_dir + "/lib",
                    "--build-temp", build_dir + "/temp"]
dist.parse_command_line()
dist.run_commands()
"""


def first_error(log: str) -> str:
    """Pick the most telling line of a failed build's log."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for marker in (": error:", "error:", "Error"):
        for line in lines:
            if marker in line:
                return line[:200]
    return lines[-1][:200] if lines else "no output"


def build(accel: ModuleType) -> float:
    """Compile, move the results into trio_srf/sip/ and write the stamp; return seconds taken."""
    start = time.monotonic()
    digests = accel.source_digests()  # before compiling: a later edit makes the stamp stale
    lib_dir = os.path.join(BUILD_DIR, "lib")
    shutil.rmtree(lib_dir, ignore_errors=True)
    os.makedirs(BUILD_DIR, exist_ok=True)
    sources = [os.path.relpath(accel.source_path(m), ROOT) for m in accel.COMPILED_MODULES]
    build_dir = os.path.relpath(BUILD_DIR, ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *sources, accel.GROUP_NAME, build_dir],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    with open(LOG_FILE, "w", encoding="utf-8") as f:
        f.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        raise BuildError(
            f"mypyc build failed (exit {proc.returncode}): {first_error(proc.stdout)}; "
            f"log in {os.path.relpath(LOG_FILE)}"
        )
    moves = []
    for target in built_paths(accel):
        built = os.path.join(lib_dir, "trio_srf", "sip", os.path.basename(target))
        if not os.path.exists(built):
            raise BuildError(f"the build did not produce {os.path.relpath(built, ROOT)}")
        moves.append((built, target))
    # The old stamp goes first: until the new one is written the package sees a stale build.
    remove(os.path.join(PACKAGE_DIR, accel.STAMP_FILE))
    for built, target in moves:
        os.replace(built, target)
    # An extension left from an older build (a module since dropped from the list) would
    # otherwise shadow its source and fail to find its code in the new shared library.
    kept = {os.path.basename(t) for _, t in moves}
    for name in sorted(set(accel.extension_files().values()) - kept):
        remove(os.path.join(PACKAGE_DIR, name))
    write_stamp(accel, digests)
    return time.monotonic() - start


def write_stamp(accel: ModuleType, digests: dict[str, str]) -> None:
    """Write the stamp atomically."""
    path = os.path.join(PACKAGE_DIR, accel.STAMP_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(wanted_stamp(accel, digests), f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def remove(path: str) -> bool:
    """Remove a file if it exists; say whether it did."""
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    return True


def clean(accel: ModuleType) -> list[str]:
    """Remove the stamp, every extension module in trio_srf/sip/ and build/mypyc/."""
    removed = []
    for name in sorted(accel.extension_files().values()):
        if remove(os.path.join(PACKAGE_DIR, name)):
            removed.append(name)
    if remove(os.path.join(PACKAGE_DIR, accel.STAMP_FILE)):
        removed.append(accel.STAMP_FILE)
    if os.path.isdir(BUILD_DIR):
        shutil.rmtree(BUILD_DIR)
        removed.append(os.path.relpath(BUILD_DIR, ROOT) + "/")
    return removed


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--clean", action="store_true", help="remove the built files and stamp")
    group.add_argument("--force", action="store_true", help="rebuild even if up to date")
    group.add_argument(
        "--check-compiler",
        action="store_true",
        help="only check for the C compiler and Python headers (exit 1 with the reason)",
    )
    args = parser.parse_args(argv)
    accel = load_accel()
    if args.clean:
        removed = clean(accel)
        print("build_speedups: removed " + (", ".join(removed) if removed else "nothing"))
        return 0
    try:
        if args.check_compiler:
            check_compiler()
            return 0
        digests = accel.source_digests()
        if not args.force and up_to_date(accel, digests):
            print("build_speedups: compiled parser is up to date")
            return 0
        check_toolchain()
        seconds = build(accel)
    except BuildError as exc:
        print(f"build_speedups: FAILED: {exc}", file=sys.stderr)
        return 1
    names = ", ".join(accel.leaf(m) for m in accel.COMPILED_MODULES)
    print(f"build_speedups: compiled {names} with mypyc in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
