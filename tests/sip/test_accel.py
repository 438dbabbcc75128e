"""The choice between the mypyc-compiled parser and its pure-Python source (trio_srf.sip._accel).

Two kinds of tests:

* ``decide()`` on a scratch directory with real files in it (sources, stand-in extension files, a
  stamp): every rule of the module docstring, whether or not a build exists;
* fresh interpreters importing ``trio_srf.sip`` for real, from this checkout or from a copy of
  its ``trio_srf`` tree (so a source can be edited without touching the real one). Those that need
  the compiled build skip without one, except on CI (``CI=true``), where setup.sh must have built
  it.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from trio_srf.sip import _accel

ROOT = pathlib.Path(__file__).resolve().parents[2]
SIP_DIR = ROOT / "trio_srf" / "sip"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
ON_CI = os.environ.get("CI") == "true"

# ---------------------------------------------------------------------------------------------
# decide() on a scratch package directory

MODS = ("trio_srf.sip._one", "trio_srf.sip._two")


def make_tree(tmp_path: pathlib.Path, *, stamp: bool = True) -> pathlib.Path:
    """Sources _one.py/_two.py, their extension files, the shared library, a matching stamp."""
    for name in ("_one", "_two"):
        (tmp_path / f"{name}.py").write_text(f"X = {name!r}\n")
        (tmp_path / f"{name}{SUFFIX}").write_bytes(b"")
    (tmp_path / f"_speedups__mypyc{SUFFIX}").write_bytes(b"")
    if stamp:
        write_stamp(tmp_path, _accel.source_digests(MODS, str(tmp_path)))
    return tmp_path


def write_stamp(directory: pathlib.Path, sources: dict[str, str], **extra: Any) -> None:
    data = {"version": 1, "ext_suffix": SUFFIX, "sources": sources, **extra}
    (directory / "_accel_stamp.json").write_text(json.dumps(data))


def decide(directory: pathlib.Path, **environ: str) -> _accel.Decision:
    return _accel.decide(environ, str(directory), MODS)


SHADOWED = ("trio_srf.sip._one", "trio_srf.sip._two")


def test_matching_build_is_compiled(tmp_path: pathlib.Path) -> None:
    assert decide(make_tree(tmp_path)) == _accel.Decision(True, "compiled", False, SHADOWED)


def test_no_extension_files_is_pure_and_silent(tmp_path: pathlib.Path) -> None:
    (tmp_path / "_one.py").write_text("X = 1\n")
    (tmp_path / "_two.py").write_text("X = 2\n")
    assert decide(tmp_path) == _accel.Decision(False, "no compiled build", False, ())


def test_pure_env_wins_over_a_matching_build(tmp_path: pathlib.Path) -> None:
    tree = make_tree(tmp_path)
    expected = _accel.Decision(False, "TRIO_SRF_PURE=1", False, SHADOWED)
    assert decide(tree, TRIO_SRF_PURE="1") == expected
    assert decide(tree, TRIO_SRF_PURE="0").compiled is True
    assert decide(tree, TRIO_SRF_PURE="").compiled is True


def test_edited_source_is_stale(tmp_path: pathlib.Path) -> None:
    tree = make_tree(tmp_path)
    with open(tree / "_two.py", "a") as f:
        f.write("# edited after the build\n")
    expected = _accel.Decision(False, "changed since the build: _two.py", True, SHADOWED)
    assert decide(tree) == expected


def test_module_added_to_the_list_is_stale(tmp_path: pathlib.Path) -> None:
    tree = make_tree(tmp_path)
    (tree / "_three.py").write_text("X = 3\n")
    (tree / f"_three{SUFFIX}").write_bytes(b"")
    got = _accel.decide({}, str(tree), (*MODS, "trio_srf.sip._three"))
    shadowed = ("trio_srf.sip._one", "trio_srf.sip._three", "trio_srf.sip._two")
    assert got == _accel.Decision(False, "changed since the build: _three.py", True, shadowed)


def test_missing_stamp_or_extension_is_stale(tmp_path: pathlib.Path) -> None:
    tree = make_tree(tmp_path, stamp=False)
    assert decide(tree) == _accel.Decision(False, "no readable _accel_stamp.json", True, SHADOWED)
    (tree / "_accel_stamp.json").write_text("{not json")
    assert decide(tree).reason == "no readable _accel_stamp.json"
    write_stamp(tree, _accel.source_digests(MODS, str(tree)))
    (tree / f"_two{SUFFIX}").unlink()
    expected = _accel.Decision(False, "missing _two", True, ("trio_srf.sip._one",))
    assert decide(tree) == expected
    (tree / f"_speedups__mypyc{SUFFIX}").unlink()
    assert decide(tree).reason == "missing _two, _speedups__mypyc"


def test_leftover_extension_is_stale(tmp_path: pathlib.Path) -> None:
    tree = make_tree(tmp_path)
    (tree / "_old.py").write_text("X = 0\n")
    (tree / f"_old{SUFFIX}").write_bytes(b"")
    got = decide(tree)
    assert got == _accel.Decision(
        False, "left from an older build: _old", True, ("trio_srf.sip._old", *SHADOWED)
    )


def test_stamp_for_another_python_or_format_is_stale(tmp_path: pathlib.Path) -> None:
    tree = make_tree(tmp_path)
    digests = _accel.source_digests(MODS, str(tree))
    write_stamp(tree, digests, ext_suffix=".cpython-399-x86_64-linux-gnu.so")
    assert decide(tree) == _accel.Decision(False, "built for another Python", True, SHADOWED)
    write_stamp(tree, digests, version=2)
    assert decide(tree) == _accel.Decision(False, "stamp of another version", True, SHADOWED)


def test_leaf_refuses_modules_outside_the_package() -> None:
    assert _accel.leaf("trio_srf.sip._parser") == "_parser"
    with pytest.raises(ValueError, match=r"is not a module of trio_srf\.sip$"):
        _accel.leaf("trio_srf.core._txn")
    with pytest.raises(ValueError, match=r"is not a module of trio_srf\.sip$"):
        _accel.leaf("trio_srf.sip.sub._x")


def test_compiled_modules_are_sources_of_this_package() -> None:
    for name in _accel.COMPILED_MODULES:
        assert (SIP_DIR / f"{_accel.leaf(name)}.py").is_file()
    assert "trio_srf.sip._accel" not in _accel.COMPILED_MODULES


# ---------------------------------------------------------------------------------------------
# Real imports in fresh interpreters

PROBE = """
import json, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import trio_srf.sip as sip
    from trio_srf.sip import _accel
msg = sip.parse(
    b"OPTIONS sip:carol@chicago.example.com SIP/2.0\\r\\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\\r\\n"
    b"To: <sip:carol@chicago.example.com>\\r\\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\\r\\n"
    b"Call-ID: a84b4c76e66710\\r\\n"
    b"CSeq: 63104 OPTIONS\\r\\n"
    b"Content-Length: 0\\r\\n\\r\\n"
)
print(json.dumps({
    "compiled": _accel.compiled(),
    "reason": _accel.reason(),
    "files": [sys.modules[m].__file__ for m in _accel.COMPILED_MODULES],
    "origins": [sys.modules[m].__spec__.origin for m in _accel.COMPILED_MODULES],
    "shared_lib_loaded": _accel.SHARED_LIB in sys.modules,
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    "call_id": msg.call_id,
    "from_tag": msg.from_.tag,
}))
"""


def probe(cwd: pathlib.Path, **env: str) -> dict[str, Any]:
    """Import trio_srf.sip in a fresh interpreter whose first sys.path entry is ``cwd``."""
    environ = {k: v for k, v in os.environ.items() if k not in ("TRIO_SRF_PURE", "PYTHONPATH")}
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    assert result["call_id"] == "a84b4c76e66710"
    assert result["from_tag"] == "1928301774"
    return result


def sources_in(sip_dir: pathlib.Path) -> list[str]:
    return [str(sip_dir / f"{_accel.leaf(m)}.py") for m in _accel.COMPILED_MODULES]


def assert_extensions_in(sip_dir: pathlib.Path, paths: list[str]) -> None:
    """Each path is the module's extension module, somewhere under sip_dir.

    Only the start and the file name are checked: a module first imported by another compiled
    module is set up by mypyc itself, which derives its __file__ and __spec__.origin as if the
    shared library sat at the top of the tree (``.../sip/trio_srf/sip/_uri.<ext>``).
    """
    assert len(paths) == len(_accel.COMPILED_MODULES)
    for module, path in zip(_accel.COMPILED_MODULES, paths, strict=True):
        assert path.startswith(f"{sip_dir}{os.sep}")
        assert os.path.basename(path) == f"{_accel.leaf(module)}{SUFFIX}"


def require_build() -> None:
    """Skip (CI: fail) unless this checkout holds a compiled build matching its sources."""
    decision = _accel.decide({})
    if decision.compiled:
        return
    if ON_CI:
        pytest.fail(f"CI=true but the compiled parser is not usable: {decision.reason}")
    pytest.skip(f"no usable compiled build ({decision.reason}); run scripts/build_speedups.py")


def copy_tree(tmp_path: pathlib.Path, *, with_build: bool) -> pathlib.Path:
    """Copy trio_srf/ (and the build script) to tmp_path; leave the built files out if asked."""
    built = {*_accel.extension_files().values(), _accel.STAMP_FILE}

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__"}
        if not with_build and pathlib.Path(directory) == SIP_DIR:
            skipped |= built & set(names)
        return skipped

    shutil.copytree(ROOT / "trio_srf", tmp_path / "trio_srf", ignore=ignore)
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "build_speedups.py", tmp_path / "scripts")
    return tmp_path


def stale_message(reason: str) -> str:
    return (
        f"trio_srf.sip's compiled parser is stale ({reason}); using pure Python. "
        "Rebuild it with `bash scripts/setup.sh` (or `python scripts/build_speedups.py`), "
        "or set TRIO_SRF_PURE=1 to silence this."
    )


def test_pure_env_loads_the_sources() -> None:
    # With a build present this proves the finder beats real extension modules.
    got = probe(ROOT, TRIO_SRF_PURE="1")
    assert got["compiled"] is False
    assert got["reason"] == "TRIO_SRF_PURE=1"
    assert got["files"] == sources_in(SIP_DIR)
    assert got["origins"] == sources_in(SIP_DIR)
    assert got["shared_lib_loaded"] is False
    assert got["warnings"] == []


def test_default_loads_the_compiled_modules() -> None:
    require_build()
    got = probe(ROOT)
    assert got["compiled"] is True
    assert got["reason"] == "compiled"
    assert_extensions_in(SIP_DIR, got["origins"])
    assert_extensions_in(SIP_DIR, got["files"])
    assert got["shared_lib_loaded"] is True
    assert got["warnings"] == []


def test_copy_of_a_build_stays_compiled(tmp_path: pathlib.Path) -> None:
    require_build()
    tree = copy_tree(tmp_path, with_build=True)
    got = probe(tree)
    assert got["compiled"] is True
    assert_extensions_in(tree / "trio_srf" / "sip", got["origins"])
    assert_extensions_in(tree / "trio_srf" / "sip", got["files"])
    assert got["warnings"] == []


def test_edited_source_falls_back_to_pure_with_a_warning(tmp_path: pathlib.Path) -> None:
    require_build()
    tree = copy_tree(tmp_path, with_build=True)
    sip_dir = tree / "trio_srf" / "sip"
    with open(sip_dir / "_parser.py", "a") as f:
        f.write("\n# edited after the build\n")
    got = probe(tree)
    assert got["compiled"] is False
    assert got["reason"] == "changed since the build: _parser.py"
    assert got["files"] == sources_in(sip_dir)
    assert got["shared_lib_loaded"] is False
    message = stale_message("changed since the build: _parser.py")
    assert got["warnings"] == [["StaleBuildWarning", message]]


def test_without_a_build_pure_is_silent_even_with_warnings_as_errors(
    tmp_path: pathlib.Path,
) -> None:
    tree = copy_tree(tmp_path, with_build=False)
    got = probe(tree, PYTHONWARNINGS="error")
    assert got["compiled"] is False
    assert got["reason"] == "no compiled build"
    assert got["files"] == sources_in(tree / "trio_srf" / "sip")
    assert got["warnings"] == []


# ---------------------------------------------------------------------------------------------
# scripts/build_speedups.py on a copy (no compiling here: that takes most of a minute)


def run_script(tree: pathlib.Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TRIO_SRF_PURE"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, str(tree / "scripts" / "build_speedups.py"), *args],
        cwd=tree,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_script_skips_an_up_to_date_build_and_cleans(tmp_path: pathlib.Path) -> None:
    require_build()
    tree = copy_tree(tmp_path, with_build=True)
    sip_dir = tree / "trio_srf" / "sip"
    proc = run_script(tree)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        "build_speedups: compiled parser is up to date\n",
        "",
    )
    built = sorted(_accel.extension_files(str(sip_dir)).values())
    assert built == sorted(
        f"{_accel.leaf(m)}{SUFFIX}" for m in (*_accel.COMPILED_MODULES, _accel.SHARED_LIB)
    )
    proc = run_script(tree, "--clean")
    assert proc.returncode == 0
    removed = ", ".join([*built, "_accel_stamp.json"])
    assert proc.stdout == f"build_speedups: removed {removed}\n"
    assert _accel.extension_files(str(sip_dir)) == {}
    assert not (sip_dir / "_accel_stamp.json").exists()
    proc = run_script(tree, "--clean")
    assert (proc.returncode, proc.stdout) == (0, "build_speedups: removed nothing\n")


def test_script_without_a_compiler_fails_with_one_line(tmp_path: pathlib.Path) -> None:
    tree = copy_tree(tmp_path, with_build=False)
    proc = run_script(tree, CC="/nonexistent/cc")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        "build_speedups: FAILED: no C compiler ('/nonexistent/cc' not found; "
        "e.g. apt-get install gcc)\n"
    )
    assert _accel.extension_files(str(tree / "trio_srf" / "sip")) == {}


def test_modules_know_their_own_mode() -> None:
    """_uri.COMPILED (which picks the view constructors) agrees with what actually loaded."""
    from trio_srf.sip import _accel, _parsed, _uri

    assert _uri.COMPILED is _accel.compiled()
    suffix = "compiled" if _uri.COMPILED else "interpreted"
    assert _parsed._via_from_match.__name__ == f"_via_{suffix}"
    assert _uri.make_sip_uri.__name__ == f"_make_sip_uri_{suffix}"
