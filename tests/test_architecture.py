"""docs/architecture.md matches the code, and the package keeps its shape."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vts
from vts import config
from vts.profiles import PROFILES

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
SRC = Path(vts.__file__).parent


def documented_modules() -> list[tuple[str, list[str]]]:
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[2].startswith("`"):
            rows.append((cells[0].strip("`"), re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[2])))
    return rows


def test_the_document_lists_modules():
    assert len(documented_modules()) >= 20


@pytest.mark.parametrize("module, names", documented_modules(), ids=lambda v: str(v)[:30])
def test_every_documented_name_exists(module, names):
    mod = importlib.import_module(f"vts.{module}")
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"vts.{module} lacks {missing} (docs/architecture.md)"


def test_every_module_is_documented():
    documented = {m for m, _ in documented_modules()}
    modules = {".".join(p.relative_to(SRC).with_suffix("").parts) for p in SRC.rglob("*.py")
               if p.name != "__init__.py"}
    assert modules - documented == set()


def test_public_api():
    from vts import TimbreSpace, get_transform, render  # noqa: F401

    for name in vts.__all__:
        assert getattr(vts, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vts.nope  # noqa: B018


def test_the_document_lists_the_public_api():
    text = " ".join(DOC.read_text().split())
    listed = re.search(r"`vts` itself exports (.*?) \(`vts.__all__`\)", text).group(1)
    assert set(re.findall(r"`([A-Za-z_]+)`", listed)) == set(vts.__all__)


def test_import_vts_is_light():
    code = "import sys, vts; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_one_profile_table():
    assert tuple(PROFILES) == config.PROFILE_NAMES
