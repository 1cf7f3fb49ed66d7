"""Tests of vts.learned_metric: the diagonal metric learned from ratings, leave-one-study-out."""
from __future__ import annotations

import numpy as np
import pytest

from vts import agreement as ag
from vts import learned_metric as lm
from vts import stimuli as st


def random_matrix(n, seed):
    """Symmetric zero-diagonal matrix of random upper-triangle values in (0, 1)."""
    m = np.zeros((n, n))
    m[np.triu_indices(n, 1)] = np.random.default_rng(seed).random(n * (n - 1) // 2)
    return m + m.T


# --------------------------------------------------------------------------- learned metric
def _one_dim_studies(seed=40, dim=2, d=6, sizes=(10, 12, 9, 11)):
    """Studies whose listeners hear only coordinate ``dim`` of the points."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, n in enumerate(sizes):
        x = rng.normal(size=(n, d))
        out[f"S{k}"] = (x, np.abs(x[:, dim, None] - x[None, :, dim]))
    return out


@pytest.mark.parametrize("loss", lm.METRIC_LOSSES)
def test_fit_diagonal_metric_singles_out_the_heard_dimension(loss):
    studies = _one_dim_studies()
    w = lm.fit_diagonal_metric(studies, ridge=1e-3, loss=loss)
    assert w.shape == (6,) and (w >= 0).all()
    assert np.argmax(w) == 2
    assert w[2] > 5 * np.delete(w, 2).max()
    # the fitted metric then ranks a new study like its listeners
    x, l_ = _one_dim_studies(seed=41, sizes=(14,))["S0"]
    assert np.nanmean(ag.per_anchor(lm.metric_distances(x, w, "euclidean"), l_)) > 0.85
    assert np.nanmean(ag.per_anchor(ag.distance_matrix(x, "euclidean"), l_)) < 0.7


def test_fit_diagonal_metric_ridge_shrinks_and_validates():
    studies = _one_dim_studies()
    weak = lm.fit_diagonal_metric(studies, ridge=1e-3)
    strong = lm.fit_diagonal_metric(studies, ridge=100.0)
    assert np.linalg.norm(strong) < np.linalg.norm(weak)
    with pytest.raises(ValueError, match="ridge"):
        lm.fit_diagonal_metric(studies, ridge=-1)
    with pytest.raises(ValueError, match="loss"):
        lm.fit_diagonal_metric(studies, loss="hinge")
    with pytest.raises(ValueError, match="no training study"):
        lm.fit_diagonal_metric({})
    bad = dict(studies, S9=(np.ones((4, 3)), random_matrix(4, 1)))
    with pytest.raises(ValueError, match="dimensions"):
        lm.fit_diagonal_metric(bad)
    with pytest.raises(ValueError, match="weights"):
        lm.weighted_points(np.ones((3, 2)), [1.0, -1.0])


def test_loso_never_shows_a_fit_the_held_out_fold():
    rng = np.random.default_rng(42)
    studies = {name: (rng.normal(size=(5, 2)), random_matrix(5, k))
               for k, name in enumerate(["Grey1977", "Grey1978", "McAdams1995", "Other2020"])}
    seen = []

    def fit(train):
        seen.append(sorted(train))
        return lambda x: ag.distance_matrix(x, "euclidean")

    out = lm.loso(studies, fit)
    assert sorted(out) == sorted(studies)
    assert seen == [["McAdams1995", "Other2020"],            # Grey held out together
                    ["Grey1977", "Grey1978", "Other2020"],
                    ["Grey1977", "Grey1978", "McAdams1995"]]
    with pytest.raises(ValueError, match="two folds"):
        lm.loso({"Grey1977": studies["Grey1977"], "Grey1978": studies["Grey1978"]}, fit)


def test_select_ridge_reads_only_the_studies_it_is_given():
    studies = _one_dim_studies(sizes=(10, 12, 9))
    ridge = lm.select_ridge(studies, grid=(1e-3, 1e3))
    assert ridge == 1e-3                      # weak ridge recovers the heard dimension
    # changing a study it is not given changes nothing; changing one it is given may
    assert lm.select_ridge({k: studies[k] for k in ("S0", "S1")}) == \
        lm.select_ridge({k: studies[k] for k in ("S0", "S1")})
    assert lm.select_ridge({"S0": studies["S0"]}, grid=(1.0, 2.0, 3.0)) == 2.0   # no fold


@pytest.fixture(scope="module")
def toy_studies(synthetic_root):
    return st.load_studies([synthetic_root / "timbre" / "studies" / s
                            for s in ("Toy2024", "Toy2025")])


def test_learned_metric_never_sees_the_held_out_ratings(space, toy_studies):
    codes = {s.name: st.encode_study(space, s) for s in toy_studies}
    points = {s: st.pool(c, "mean-std") for s, c in codes.items()}
    listeners = {s.name: s.dissimilarity for s in toy_studies}
    first, _ = lm.loso_metric_distances(points, listeners, "ridge", "euclidean")
    # scramble Toy2025's ratings: Toy2025's held-out prediction must not move,
    # Toy2024's (trained on Toy2025) may
    rng = np.random.default_rng(0)
    scrambled = dict(listeners)
    n = len(listeners["Toy2025"])
    noise = rng.uniform(0.1, 1, (n, n))
    scrambled["Toy2025"] = np.triu(noise, 1) + np.triu(noise, 1).T
    second, _ = lm.loso_metric_distances(points, scrambled, "ridge", "euclidean")
    np.testing.assert_allclose(second["Toy2025"], first["Toy2025"])
    assert not np.allclose(second["Toy2024"], first["Toy2024"])
