"""vts.agreement: hand-computed or independent-reference expectations."""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import pearsonr, spearmanr

from vts import agreement as ag

NINE = ["Grey1977", "Grey1978", "Iverson1993_Onset", "Iverson1993_Remainder",
        "Iverson1993_Whole", "Lakatos2000_Comb", "Lakatos2000_Harm", "Lakatos2000_Perc",
        "McAdams1995"]


def from_pairs(n, values):
    """Symmetric zero-diagonal matrix from upper-triangle values in (0,1),(0,2),..,(1,2),.. order."""
    m = np.zeros((n, n))
    m[np.triu_indices(n, 1)] = values
    return m + m.T


def random_matrix(n, seed):
    rng = np.random.default_rng(seed)
    return from_pairs(n, rng.random(n * (n - 1) // 2))


# Listener pairs 01..23 = 1..6: rows (without diagonal) are
# row0 (1,2,3), row1 (1,4,5), row2 (2,4,6), row3 (3,5,6).
LISTENER4 = from_pairs(4, [1, 2, 3, 4, 5, 6])


# --------------------------------------------------------------------------- per anchor
def test_per_anchor_hand_computed_reversed_row():
    # model pairs 01,02,03,12,13,23 = 1,2,6,3,5,4: rows 0..2 increase like the listeners',
    # row 3 is (6,5,4) against (3,5,6): rho = -1.
    model = from_pairs(4, [1, 2, 6, 3, 5, 4])
    np.testing.assert_allclose(ag.per_anchor(model, LISTENER4), [1, 1, 1, -1])


def test_per_anchor_hand_computed_one_swap():
    # row 3 of the model (3,6,5) has ranks (1,3,2) against (1,2,3): d^2 = 2,
    # rho = 1 - 6*2 / (3*(9-1)) = 0.5; the other rows are monotone.
    model = from_pairs(4, [1, 2, 3, 4, 6, 5])
    np.testing.assert_allclose(ag.per_anchor(model, LISTENER4), [1, 1, 1, 0.5])


def test_per_anchor_constant_row_is_nan_and_others_match_scipy():
    model = from_pairs(4, [1, 1, 1, 2, 4, 3])          # row 0 = (1, 1, 1)
    scores = ag.per_anchor(model, LISTENER4)
    assert np.isnan(scores[0])
    for i in (1, 2, 3):
        others = [j for j in range(4) if j != i]
        expected = spearmanr(model[i, others], LISTENER4[i, others]).statistic
        assert scores[i] == pytest.approx(expected)


def test_per_anchor_invariances():
    model, listener = random_matrix(9, 1), random_matrix(9, 2)
    base = ag.per_anchor(model, listener)
    assert np.isfinite(base).all()
    np.testing.assert_allclose(
        ag.per_anchor(ag.minmax_normalise(model), ag.minmax_normalise(listener)), base)
    monotone = 5 * model ** 3 + 2
    np.fill_diagonal(monotone, 0)
    np.testing.assert_allclose(ag.per_anchor(monotone, listener), base)
    # but not invariant to an unrelated matrix
    assert not np.allclose(ag.per_anchor(random_matrix(9, 3), listener), base)


def test_per_anchor_constant_matrix_raises():
    with pytest.raises(ValueError, match="constant"):
        ag.per_anchor(from_pairs(4, np.ones(6)), LISTENER4)


# --------------------------------------------------------------------------- whole matrix
def test_whole_matrix_matches_scipy():
    model, listener = random_matrix(12, 4), random_matrix(12, 5) + 0.3 * random_matrix(12, 4)
    iu = np.triu_indices(12, 1)
    result = ag.whole_matrix(model, listener)
    assert result["spearman"] == pytest.approx(spearmanr(model[iu], listener[iu]).statistic)
    assert result["pearson"] == pytest.approx(pearsonr(model[iu], listener[iu]).statistic)


def test_whole_matrix_with_ties_matches_scipy():
    model = from_pairs(5, [1, 1, 2, 2, 3, 1, 4, 2, 2, 5])
    listener = random_matrix(5, 6)
    iu = np.triu_indices(5, 1)
    assert ag.whole_matrix(model, listener)["spearman"] == pytest.approx(
        spearmanr(model[iu], listener[iu]).statistic)


# --------------------------------------------------------------------------- triplets
def test_triplet_identical_and_reversed():
    listener = random_matrix(10, 7)
    assert ag.triplet_agreement(listener, listener) == 1.0
    reversed_ = from_pairs(10, 2.0 - listener[np.triu_indices(10, 1)])
    assert ag.triplet_agreement(reversed_, listener) == 0.0


def test_triplet_hand_counted_tie():
    # listener pairs 01,02,12 = 0, .5, 1; model = 1, 1, 2.
    # (01,02): model tie -> 0.5; (01,12): agree -> 1; (02,12): agree -> 1. Mean 2.5/3.
    listener = from_pairs(3, [0, 0.5, 1])
    model = from_pairs(3, [1, 1, 2])
    assert ag.triplet_agreement(model, listener) == pytest.approx(2.5 / 3)


def test_triplet_margin_excludes_close_pairs():
    # listener 01,02,12 = 0, .05, 1: (01,02) differs by .05 < .1 and is excluded;
    # the model gets that one wrong but both others right.
    listener = from_pairs(3, [0, 0.05, 1])
    model = from_pairs(3, [2, 1, 3])
    assert ag.triplet_agreement(model, listener, margin=0.1) == 1.0
    assert ag.triplet_agreement(model, listener, margin=0.0) == pytest.approx(2 / 3)
    assert np.isnan(ag.triplet_agreement(model, listener, margin=1.5))
    with pytest.raises(ValueError, match="margin"):
        ag.triplet_agreement(model, listener, margin=-1)


# --------------------------------------------------------------------------- Mantel
def test_mantel_identical_is_at_the_bound():
    listener = random_matrix(8, 8)
    result = ag.mantel_test(listener, listener, n_permutations=999, seed=1)
    assert result.statistic == pytest.approx(1.0)
    assert result.n_permutations == 999
    # 1/(1+999) unless the identity (probability 1/8! per draw) was drawn
    assert 1 / 1000 <= result.p_value <= 3 / 1000


def test_mantel_reversed_is_one_and_unrelated_not_small():
    listener = random_matrix(8, 9)
    reversed_ = from_pairs(8, 2.0 - listener[np.triu_indices(8, 1)])
    assert ag.mantel_test(reversed_, listener, n_permutations=200).p_value == 1.0
    ps = [ag.mantel_test(random_matrix(8, 100 + k), listener, n_permutations=199, seed=k).p_value
          for k in range(20)]
    assert np.median(ps) > 0.2
    assert sum(p < 0.05 for p in ps) <= 4


def test_mantel_p_formula_bounds():
    x, y = random_matrix(6, 10), random_matrix(6, 11)
    for n_perm in (1, 7, 2500):                       # 2500 spans two chunks
        result = ag.mantel_test(x, y, n_permutations=n_perm, method="pearson")
        assert 1 / (1 + n_perm) <= result.p_value <= 1.0
        count = result.p_value * (1 + n_perm) - 1
        assert count == pytest.approx(round(count)) and 0 <= round(count) <= n_perm
    assert ag.mantel_test(x, y, 50, seed=3) == ag.mantel_test(x, y, 50, seed=3)


def test_mantel_matches_exhaustive_permutation_distribution():
    # independent reference: every one of the 5! relabellings, scipy's spearmanr
    x, y = random_matrix(5, 12), random_matrix(5, 12) + 0.6 * random_matrix(5, 13)
    iu = np.triu_indices(5, 1)
    observed = spearmanr(x[iu], y[iu]).statistic
    stats = [spearmanr(x[iu], y[np.ix_(p, p)][iu]).statistic
             for p in itertools.permutations(range(5))]
    exact = np.mean(np.asarray(stats) >= observed - 1e-10)
    result = ag.mantel_test(x, y, n_permutations=9999, seed=0)
    assert result.statistic == pytest.approx(observed)
    assert result.p_value == pytest.approx(exact, abs=0.02)


def test_mantel_fast_and_validated():
    x, y = random_matrix(20, 14), random_matrix(20, 15)
    start = time.perf_counter()
    ag.mantel_test(x, y, n_permutations=9999)
    assert time.perf_counter() - start < 5.0
    with pytest.raises(ValueError, match="method"):
        ag.mantel_test(x, y, method="kendall")
    with pytest.raises(ValueError, match="n_permutations"):
        ag.mantel_test(x, y, n_permutations=0)


# --------------------------------------------------------------------------- matrices
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_distance_matrix_matches_cdist(metric):
    points = np.random.default_rng(16).normal(size=(7, 4))
    d = ag.distance_matrix(points, metric)
    np.testing.assert_allclose(d, cdist(points, points, metric), atol=1e-12)
    assert np.all(np.diag(d) == 0) and np.array_equal(d, d.T)


def test_distance_matrix_errors():
    points = np.ones((4, 3))
    points[2] = 0
    with pytest.raises(ValueError, match="zero vector"):
        ag.distance_matrix(points, "cosine")
    assert ag.distance_matrix(points, "euclidean")[2, 0] == pytest.approx(np.sqrt(3))
    with pytest.raises(ValueError, match="metric"):
        ag.distance_matrix(np.eye(3), "manhattan")
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        ag.distance_matrix(np.ones(5))


def test_minmax_normalise():
    m = from_pairs(3, [2, 4, 6])
    np.testing.assert_allclose(ag.minmax_normalise(m), from_pairs(3, [0, 0.5, 1]))
    with pytest.raises(ValueError, match="constant.*carries no ranking"):
        ag.minmax_normalise(from_pairs(3, [2, 2, 2]))


def test_validation_messages():
    good = random_matrix(4, 17)
    with pytest.raises(ValueError, match="square"):
        ag.whole_matrix(np.ones((4, 3)), good)
    nan = good.copy()
    nan[0, 1] = nan[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ag.per_anchor(good, nan)
    with pytest.raises(ValueError, match="size mismatch"):
        ag.triplet_agreement(random_matrix(5, 18), good)
    with pytest.raises(ValueError, match="at least 3"):
        ag.mantel_test(random_matrix(2, 19), random_matrix(2, 19))
    asym = good.copy()
    asym[0, 1] += 1
    with pytest.raises(ValueError, match="symmetric"):
        ag.whole_matrix(asym, good)
    with pytest.raises(ValueError, match="diagonal"):
        ag.whole_matrix(good + np.eye(4), good)
    with pytest.raises(ValueError, match="size mismatch"):
        ag.score_study(np.ones((5, 2)), good)


# --------------------------------------------------------------------------- pooling / CI
def test_pooled_per_anchor_weighs_by_anchor():
    scores = {"small": np.array([1.0, 1.0]), "large": np.array([0.0, 0.0, 0.0, 0.0])}
    assert ag.pooled_per_anchor(scores) == pytest.approx(2 / 6)   # not (1 + 0) / 2
    scores["large"] = np.array([0.0, np.nan, 0.0, 0.0])
    assert ag.pooled_per_anchor(scores) == pytest.approx(2 / 5)
    with pytest.raises(ValueError):
        ag.pooled_per_anchor({})


def test_bootstrap_ci():
    rng = np.random.default_rng(20)
    small, large = rng.normal(0.5, 0.2, 20), rng.normal(0.5, 0.2, 500)
    lo, hi = ag.bootstrap_ci(small)
    assert lo < small.mean() < hi
    lo2, hi2 = ag.bootstrap_ci(large)
    assert lo2 < large.mean() < hi2
    assert hi2 - lo2 < (hi - lo) / 2
    assert ag.bootstrap_ci(small, seed=3) == ag.bootstrap_ci(small, seed=3)
    assert ag.bootstrap_ci(small, seed=3) != ag.bootstrap_ci(small, seed=4)
    with_nan = np.append(small, [np.nan, np.nan])
    assert ag.bootstrap_ci(with_nan, seed=5) == ag.bootstrap_ci(small, seed=5)
    assert ag.bootstrap_ci(small, level=0.5)[1] - ag.bootstrap_ci(small, level=0.5)[0] < hi - lo
    with pytest.raises(ValueError, match="level"):
        ag.bootstrap_ci(small, level=1.5)


def test_bootstrap_whole_matrix():
    listener = random_matrix(12, 21)
    assert ag.bootstrap_whole_matrix(listener, listener, n_boot=100) == pytest.approx((1.0, 1.0))
    model = listener + 0.5 * random_matrix(12, 22)
    iu = np.triu_indices(12, 1)
    rho = spearmanr(model[iu], listener[iu]).statistic
    lo, hi = ag.bootstrap_whole_matrix(model, listener, n_boot=300, seed=1)
    assert -1 <= lo < rho < hi <= 1
    assert ag.bootstrap_whole_matrix(model, listener, 50, seed=2) == \
        ag.bootstrap_whole_matrix(model, listener, 50, seed=2)


def test_bootstrap_whole_matrix_keeps_distinct_stimuli_only():
    # n = 3: the only usable draw holds all three stimuli once, so every replicate is the
    # full-matrix Spearman of (1, 3, 2) vs (1, 2, 3) = 1 - 6*2 / (3*8) = 0.5.
    model, listener = from_pairs(3, [1, 3, 2]), from_pairs(3, [1, 2, 3])
    assert ag.bootstrap_whole_matrix(model, listener, n_boot=200) == pytest.approx((0.5, 0.5))


# --------------------------------------------------------------------------- folds
def test_study_folds_nine_studies():
    folds = ag.study_folds(list(reversed(NINE)))
    assert folds == [
        ("Grey", ["Grey1977", "Grey1978"]),
        ("Iverson1993", ["Iverson1993_Onset", "Iverson1993_Remainder", "Iverson1993_Whole"]),
        ("Lakatos2000", ["Lakatos2000_Comb", "Lakatos2000_Harm", "Lakatos2000_Perc"]),
        ("McAdams1995", ["McAdams1995"]),
    ]
    held_out = [s for _, names in folds for s in names]
    assert sorted(held_out) == sorted(NINE)


def test_study_folds_unknown_and_partial():
    assert ag.study_folds(["Zwicker2020", "Grey1978"]) == [("Grey", ["Grey1978"]),
                                                          ("Zwicker2020", ["Zwicker2020"])]


# --------------------------------------------------------------------------- score_study
def test_score_study_perfect_euclidean():
    points = np.random.default_rng(23).normal(size=(8, 3))
    listener = cdist(points, points)
    scores = ag.score_study(points, listener, n_permutations=199)
    assert set(scores) == {"cosine", "euclidean"}
    e = scores["euclidean"]
    np.testing.assert_allclose(e["per_anchor"], np.ones(8))
    assert e["per_anchor_mean"] == pytest.approx(1.0)
    assert e["spearman"] == pytest.approx(1.0) and e["pearson"] == pytest.approx(1.0)
    assert e["triplet"] == 1.0 and e["mantel_p"] <= 2 / 200
    c = scores["cosine"]
    assert c["per_anchor"].shape == (8,) and c["spearman"] < 1.0


# --------------------------------------------------------------------------- ranks and batched bootstrap
def test_fast_rank_matches_rankdata_with_ties():
    from scipy.stats import rankdata

    rng = np.random.default_rng(30)
    for _ in range(100):
        x = rng.integers(0, 6, size=rng.integers(1, 40)).astype(float)
        np.testing.assert_allclose(ag._rank(x), rankdata(x))


def test_bootstrap_draws_match_direct_statistics():
    m, l_ = random_matrix(9, 31), random_matrix(9, 32)
    rng = np.random.default_rng(33)
    draws = [np.unique(rng.integers(0, 9, size=9)) for _ in range(40)]
    spear, trip = ag._bootstrap_draws(m, l_, draws, True, True, 0.1)
    for d, s, t in zip(draws, spear, trip):
        if d.size < 3:
            assert np.isnan(s) and np.isnan(t)
            continue
        sub_m, sub_l = m[np.ix_(d, d)], l_[np.ix_(d, d)]
        iu = np.triu_indices(d.size, 1)
        assert s == pytest.approx(spearmanr(sub_m[iu], sub_l[iu]).statistic)
        assert t == pytest.approx(ag.triplet_agreement(sub_m, sub_l, 0.1), nan_ok=True)


# --------------------------------------------------------------------------- distances between posteriors
def test_gaussian_distances_hand_computed():
    means = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    variances = np.array([[1.0, 1.0], [1.0, 1.0], [4.0, 1.0]])
    b = ag.gaussian_distance_matrix(means, variances, "bhattacharyya")
    assert b[0, 1] == pytest.approx(4 / 8)                   # (m1-m2)^2 / (8 v)
    assert b[0, 2] == pytest.approx(0.5 * np.log(2.5 / 2))   # ln(vbar / sqrt(v1 v2)) / 2
    k = ag.gaussian_distance_matrix(means, variances, "symmetric-kl")
    assert k[0, 1] == pytest.approx(0.25 * 4 * 2)
    assert k[0, 2] == pytest.approx(0.25 * (4 + 0.25 - 2))
    assert np.allclose(np.diag(b), 0) and np.allclose(b, b.T)
    # a dimension at the prior for every stimulus adds nothing
    extra_m = np.hstack([means, np.zeros((3, 1))])
    extra_v = np.hstack([variances, np.ones((3, 1))])
    np.testing.assert_allclose(ag.gaussian_distance_matrix(extra_m, extra_v), b)
    with pytest.raises(ValueError, match="variances"):
        ag.gaussian_distance_matrix(means, -variances)
    with pytest.raises(ValueError, match="kind"):
        ag.gaussian_distance_matrix(means, variances, "hellinger")


# --------------------------------------------------------------------------- pooled scores
def test_study_scores_pool_over_anchors_and_intervals():
    listeners = {f"S{k}": random_matrix(n, 50 + k) for k, n in enumerate((6, 10, 8))}
    models = {s: l_ + 0.3 * random_matrix(len(l_), 60 + k)
              for k, (s, l_) in enumerate(listeners.items())}
    out = ag.study_scores(models, listeners, n_boot=300, seed=1)
    anchors = {s: ag.per_anchor(models[s], listeners[s]) for s in models}
    assert out["per_anchor"] == pytest.approx(ag.pooled_per_anchor(anchors))
    assert out["spearman"] == pytest.approx(
        np.mean([ag.whole_matrix(models[s], listeners[s])["spearman"] for s in models]))
    assert out["triplet"] == pytest.approx(
        np.mean([ag.triplet_agreement(models[s], listeners[s]) for s in models]))
    for key in ("per_anchor", "spearman", "triplet"):
        assert out[f"{key}_lo"] < out[key] < out[f"{key}_hi"]
    assert out["n_studies"] == 3 and out["n_stimuli"] == 24
    perfect = ag.study_scores(listeners, listeners, n_boot=50)
    assert perfect["per_anchor"] == pytest.approx(1.0)
    assert perfect["spearman_lo"] == pytest.approx(1.0)
    only = ag.study_scores(models, listeners, n_boot=20, protocol="per-anchor")
    assert np.isnan(only["spearman"]) and np.isfinite(only["per_anchor"])
    with pytest.raises(ValueError, match="same"):
        ag.study_scores(models, {"S0": listeners["S0"]})
