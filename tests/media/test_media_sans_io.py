"""The media building blocks other than the endpoint import neither trio nor socket."""

from __future__ import annotations

import ast
import pathlib

import pytest

import trio_srf.media as media

SANS_IO = ["_g711", "_rtp", "_dtmf", "_wav", "_tones", "_offer_answer"]


@pytest.mark.parametrize("name", SANS_IO)
def test_module_is_sans_io(name: str) -> None:
    path = pathlib.Path(media.__file__).parent / f"{name}.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"trio", "socket", "anyio", "audioop"}, imported


def test_public_names_resolve() -> None:
    for name in media.__all__:
        assert getattr(media, name) is not None
