"""Shared fixtures: a synthetic data root and an isolated project layout."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synthetic  # noqa: E402


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A small corpus in the Philharmonia and tonejs layouts, ratings and two studies."""
    return synthetic.make_corpus(tmp_path_factory.mktemp("data-root"))


@pytest.fixture
def project(tmp_path, monkeypatch, synthetic_root) -> Path:
    """Point every project folder (data, features, models, figures, build) at tmp_path
    and the data root at the synthetic corpus."""
    monkeypatch.setenv("VTS_DATA", str(synthetic_root))
    for name in ("DATA", "FEATURES", "MODELS", "FIGURES", "BUILD"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(f"VTS_{name}_DIR", str(folder))
    return tmp_path


@pytest.fixture
def scratch_root(tmp_path, monkeypatch) -> Path:
    """An empty data root the test fills itself (the data root env var points at it)."""
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("VTS_DATA", str(root))
    monkeypatch.setenv("VTS_DATA_DIR", str(tmp_path / "data"))
    return root


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="session")
def space_dir(tmp_path_factory, synthetic_root) -> Path:
    """A real space trained once per session with the ``smoke`` profile on the
    synthetic corpus (nsgt-erb, regularised)."""
    from vts.data import load_catalog
    from vts.features import load_features
    from vts.profiles import get_profile
    from vts.train import train_space

    base = tmp_path_factory.getbasetemp() / "smoke-space"
    out = base / "models" / "nsgt-erb-regularized"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VTS_DATA", str(synthetic_root))
        for name in ("DATA", "FEATURES", "MODELS", "FIGURES", "BUILD"):
            (base / name.lower()).mkdir(parents=True, exist_ok=True)
            mp.setenv(f"VTS_{name}_DIR", str(base / name.lower()))
        features = load_features("nsgt-erb", load_catalog(progress=False), progress=False)
        train_space(features, None, get_profile("smoke"), out, regularized=True, progress=False)
    return out


@pytest.fixture(scope="session")
def space(space_dir):
    """The :class:`vts.space.TimbreSpace` of :func:`space_dir`."""
    from vts.space import TimbreSpace

    return TimbreSpace.load(space_dir)
