"""Tests of vts.listener_space: recipes, the directions table, the listener space."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from vts import agreement as ag
from vts import learned_metric as lm
from vts import listener_space as ls
from vts import listeners as ev
from vts import stimuli as st
from vts.space import TimbreSpace


@pytest.fixture(scope="module")
def toy_studies(synthetic_root):
    return st.load_studies([synthetic_root / "timbre" / "studies" / s
                            for s in ("Toy2024", "Toy2025")])


def test_leaderboard_puts_ours_beside_the_published():
    pooled = pd.DataFrame({"label": ["ours", "MFCC mean", "ours"],
                           "metric": ["cosine", "cosine", "euclidean"],
                           "per_anchor": [0.5, 0.2, 0.9], "per_anchor_lo": [0.4, 0.1, 0.8],
                           "per_anchor_hi": [0.6, 0.3, 1.0], "n_studies": [9, 9, 9]})
    board = ls.leaderboard(pooled)
    assert board["representation"].tolist()[:2] == ["ours", "CLAP (LAION music)"] or \
        board.iloc[0]["representation"] == "ours"
    assert board["per_anchor"].is_monotonic_decreasing
    assert len(board) == 2 + len(ls.PUBLISHED)                # the euclidean row is left out
    ours = board[board["source"] == "this run (9 studies)"]
    assert set(ours["representation"]) == {"ours", "MFCC mean"}
    published = board[board["source"].str.contains("published")]
    assert published.set_index("representation")["per_anchor"].to_dict()["DAC"] == 0.316
    assert published["per_anchor_lo"].isna().all()


def test_directions_table_on_a_trained_space(space, toy_studies):
    training = space.decode(space.codes("train"))
    summary, per_study = ls.directions(space, toy_studies, training=training, n_boot=30)
    assert list(summary.columns) == ls.DIRECTION_COLUMNS
    # the smoke space's dimensions all stay near the prior: no active dimension, said so
    active = {d.name for d in ls.DIRECTIONS if d.dims == "active"}
    assert set(summary.attrs["skipped"]) == active
    assert all("nats" in why for why in summary.attrs["skipped"].values())
    kept = [d for d in ls.DIRECTIONS if d.dims != "active"]
    point = [d for d in kept if d.source != "posterior"]
    posterior = [d for d in kept if d.source == "posterior"]
    assert len(summary) == 2 * len(point) + len(posterior)
    assert set(summary["direction"]) == {d.name for d in kept}
    assert summary["per_anchor"].between(-1, 1).all()
    assert summary["wins_vs_mfcc"].between(0, 2).all()
    assert (summary["n_studies"] == 2).all() and (summary["n_stimuli"] == 9).all()
    # the MFCC row never beats itself
    mfcc = summary[summary["direction"] == "time-averaged MFCC"]
    assert (mfcc["wins_vs_mfcc"] == 0).all()
    learned = per_study[per_study["direction"].str.startswith("learned")]
    assert learned["ridge"].notna().all()
    assert set(per_study["study"]) == {"Toy2024", "Toy2025"}
    text = ls.directions_markdown(summary)
    assert text.count("\n") == len(summary) + 1 and "[" in text


# --------------------------------------------------------------------------- the listener space
def test_recipe_validation(space):
    assert ls.load_recipe(space) == ls.PLAIN
    assert ls.load_recipe(object()) == ls.PLAIN               # no directory at all
    for bad, match in (({"pooling": "median"}, "pooling"), ({"metric": "hamming"}, "metric"),
                       ({"weights": [1.0, -2.0]}, "weights"), ({"format": 99}, "format")):
        data = dict(ls.PLAIN.to_dict(), **bad)
        with pytest.raises(ValueError, match=match):
            ls.Recipe.from_dict(data)


@pytest.fixture(scope="module")
def listener_dir(space_dir, toy_studies, tmp_path_factory):
    out = tmp_path_factory.mktemp("listener") / "nsgt-erb-listener"
    return ls.build_listener_space(space_dir, out, toy_studies,
                                   direction="learned diagonal (ridge), code mean + spread",
                                   metric="euclidean")


def test_listener_space_loads_and_synthesises_like_vanilla(listener_dir, space_dir, space):
    from vts.space import SPACE_FILES, TimbreSpace

    listener = TimbreSpace.load(listener_dir)
    assert all((listener_dir / f).is_file() for f in SPACE_FILES)
    assert listener.config["kind"] == "listener"
    assert listener.config["listener_of"] == space_dir.name
    z = space.codes("train")[:3]
    np.testing.assert_array_equal(listener.decode(z), space.decode(z))
    recipe = ls.load_recipe(listener)
    assert recipe.pooling == "mean-std" and recipe.metric == "euclidean"
    assert len(recipe.weights) == 2 * space.latent_dim
    assert recipe.info["studies"] == ["Toy2024", "Toy2025"]
    assert recipe.info["ridge"] in lm.RIDGE_GRID
    assert {"per_anchor", "spearman", "fold_ridge"} <= set(recipe.info["loso"])


def test_listener_distances_use_the_learned_metric(listener_dir, space_dir, toy_studies):
    from vts.space import TimbreSpace

    listener = TimbreSpace.load(listener_dir)
    vanilla = TimbreSpace.load(space_dir)
    signals = toy_studies[0].signals
    d = ls.listener_distances(listener, signals)
    codes = st.encode_study(vanilla, toy_studies[0])
    w = np.asarray(ls.load_recipe(listener).weights)
    pooled = st.pool(codes, "mean-std")
    np.testing.assert_allclose(d, ag.distance_matrix(pooled * np.sqrt(w), "euclidean"),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ls.listener_points(listener, signals), pooled * np.sqrt(w),
                               rtol=1e-6, atol=1e-9)
    assert np.std(w) > 0                                    # the metric is not uniform ...
    plain = ag.distance_matrix(pooled, "euclidean")
    assert not np.allclose(d / d.max(), plain / plain.max(), atol=1e-3)   # ... and it shows
    # a plain space: its sustained codes, Euclidean
    np.testing.assert_allclose(ls.listener_distances(vanilla, signals),
                               ag.distance_matrix(vanilla.encode_audio(list(signals)),
                                                     "euclidean"), atol=1e-5)
    # the listener space evaluates with its own recipe
    table = ev.evaluate_models([listener_dir], [toy_studies[0]], progress=False,
                               n_permutations=19, n_boot=10, baselines=())
    row = table[table["metric"] == "euclidean"].iloc[0]
    iu = np.triu_indices(len(d), 1)
    assert row["spearman"] == pytest.approx(
        spearmanr(d[iu], toy_studies[0].dissimilarity[iu]).statistic)
    assert row["pooling"] == "mean-std"
    # ... and says that it was fitted on that study (in-sample), unlike the vanilla space
    both = ev.evaluate([listener_dir, space_dir], [toy_studies[0]], progress=False,
                       n_permutations=19, n_boot=10, baselines=("mfcc",))
    fitted = both.table.groupby("model")["fitted"].any()
    assert fitted[listener_dir.name] and not fitted[space_dir.name]
    assert not both.table.loc[both.table["kind"] == "baseline", "fitted"].any()
    board = ls.leaderboard(both.pooled)
    assert f"{listener_dir.name} (fitted on these studies: in-sample)" in \
        set(board["representation"])
    assert "in-sample" in ev.format_table(both.table)


def test_listener_space_is_rebuilt_only_when_stale(listener_dir, space_dir, toy_studies,
                                                  monkeypatch):
    before = (listener_dir / "listener.json").stat().st_mtime_ns
    kwargs = {"direction": "learned diagonal (ridge), code mean + spread", "metric": "euclidean"}
    ls.build_listener_space(space_dir, listener_dir, toy_studies, **kwargs)
    assert (listener_dir / "listener.json").stat().st_mtime_ns == before
    with monkeypatch.context() as m:       # a current space is found without decoding audio
        m.setattr(st, "load_study_audio", lambda *a: pytest.fail("study audio decoded"))
        ls.build_listener_space(space_dir, listener_dir, [s.folder for s in toy_studies],
                                **kwargs)
    assert (listener_dir / "listener.json").stat().st_mtime_ns == before
    ls.build_listener_space(space_dir, listener_dir, toy_studies[:1] + toy_studies[1:],
                            force=True, **kwargs)
    assert (listener_dir / "listener.json").stat().st_mtime_ns != before
    with pytest.raises(ValueError, match="replace"):
        ls.build_listener_space(space_dir, space_dir, toy_studies)
    with pytest.raises(ValueError, match="direction"):
        ls.build_listener_space(space_dir, listener_dir, toy_studies, direction="time travel")


def test_default_listener_space_recipe(space_dir, toy_studies, tmp_path):
    out = ls.build_listener_space(space_dir, tmp_path / "listener", toy_studies)
    recipe = ls.load_recipe(TimbreSpace.load(out))
    direction = ls._direction(ls.LISTENER_DIRECTION)
    assert recipe.pooling == direction.pooling and recipe.metric == ls.LISTENER_METRIC
    d = ls.listener_distances(out, toy_studies[1].signals)
    assert d.shape == (4, 4) and np.allclose(d, d.T) and (d[~np.eye(4, dtype=bool)] > 0).all()
