"""Metrics of a trained space and Table 1."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from test_space import LATENT, N_BINS, NORMALIZER, RATED, make_space

from vts.metrics import (
    PAPER_RESULTS,
    banded_centroid_correlations,
    centroid_correlations,
    class_regularizer,
    evaluate_space,
    linear_probe_accuracy,
    mse_vs_vanilla,
    write_table1,
)
from vts.space import TimbreSpace


# -- metrics ------------------------------------------------------------------------------
def _embed(d: np.ndarray) -> np.ndarray:
    """Points whose Euclidean distances are exactly ``d`` (classical MDS)."""
    m = len(d)
    j = np.eye(m) - 1.0 / m
    w, v = np.linalg.eigh(-0.5 * j @ (d ** 2) @ j)
    return v * np.sqrt(np.clip(w, 0, None))


def test_centroid_correlations_hand_made():
    rng = np.random.default_rng(0)
    names = ["a", "b", "c", "d", "e"]
    pts = rng.normal(size=(5, 3))
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    dis = pd.DataFrame(d, index=names, columns=names)
    centres = _embed(d)
    # three notes per class, symmetric around the centre -> centroid = centre
    offsets = np.array([[0.3] + [0] * 4, [-0.3] + [0] * 4, [0] * 5])
    codes = np.concatenate([centres[i] + offsets for i in range(5)] + [np.full((2, 5), 9.0)])
    labels = [n for n in names for _ in range(3)] + ["", "zzz"]
    out = centroid_correlations(codes, labels, dis)
    assert out["n_pairs"] == 10
    assert out["spearman"] == pytest.approx(1.0) and out["pearson"] == pytest.approx(1.0)
    inverted = centroid_correlations(codes, labels, dis.rdiv(1.0).replace(np.inf, 0.0))
    assert inverted["spearman"] == pytest.approx(-1.0)


def test_banded_centroid_correlations_score_each_octave_apart():
    names = ["a", "b", "c", "d", "e"]
    x = np.array([0.0, 1.0, 3.0, 7.0, 15.0])            # perceptual positions (1-D)
    dis = pd.DataFrame(np.abs(x[:, None] - x[None]), index=names, columns=names)
    codes, labels, pitches = [], [], []
    # octave of C4 (60..71): the codes follow the perceptual layout exactly
    # octave of C5 (72..83): the same positions given to the classes in reverse
    # order of spacing, so every close pair is now a far one
    for band, pos in ((60, x), (72, x[::-1])):
        for name, p in zip(names, pos):
            for k in range(3):
                codes.append([p, 0.0])
                labels.append(name)
                pitches.append(band + k)
    # too few classes in C6 (dropped), an unrated and an unpitched note (ignored)
    codes += [[50.0, 0], [50.0, 0], [50.0, 0], [9.0, 9], [9.0, 9]]
    labels += ["a", "a", "a", "", "b"]
    pitches += [84, 85, 86, 60, np.nan]
    table = banded_centroid_correlations(np.array(codes), labels, pitches, dis)
    assert table["band"].tolist() == [60, 72]
    assert table["n_classes"].tolist() == [5, 5]
    assert table["spearman"].iloc[0] == pytest.approx(1.0)
    # C5: the layout x[::-1] -- e.g. a and b at 15 and 7 (distance 8, perceptually 1)
    reversed_codes = dict(zip(names, x[::-1]))
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    latent = [abs(reversed_codes[names[i]] - reversed_codes[names[j]]) for i, j in pairs]
    percept = [abs(x[i] - x[j]) for i, j in pairs]
    from scipy.stats import spearmanr
    assert table["spearman"].iloc[1] == pytest.approx(spearmanr(latent, percept).statistic)
    assert table["spearman"].iloc[1] < 0.5


def test_class_regulariser_and_probe():
    target = pd.DataFrame([[0.0], [1.0], [3.0]], index=["a", "b", "c"])
    codes = np.array([[0.0], [0.0], [1.0], [5.0]])
    r, floor = class_regularizer(codes, ["a", "a", "b", "c"], target)
    assert r >= floor > 0
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(3, 0.1, (20, 2))])
    y = ["p"] * 20 + ["q"] * 20
    assert linear_probe_accuracy(x[::2], y[::2], x[1::2], y[1::2]) == 1.0
    assert linear_probe_accuracy(x[::2], y[::2], x[1::2], list(reversed(y[1::2]))) == 0.0


@dataclass
class _Features:
    transform: str
    frames: np.ndarray
    catalog: pd.DataFrame
    normalizer: object
    frequencies: np.ndarray
    key: str


def test_evaluate_space(saved):
    space = TimbreSpace.load(saved[1])
    rng = np.random.default_rng(3)
    catalog = space.latents[["note_id", "instrument", "perceptual_label"]].copy()
    frames = rng.normal(size=(len(catalog), N_BINS)).astype(np.float32)
    features = _Features("nsgt-erb", frames, catalog, NORMALIZER, np.arange(N_BINS), "k1")
    names = list(RATED)
    d = rng.uniform(0.2, 1.0, size=(4, 4))
    dis = pd.DataFrame((d + d.T) * (1 - np.eye(4)) / 2, index=names, columns=names)
    m = evaluate_space(space, features, dissimilarity=dis, iwae_samples=20)
    test = (space.split["split"] == "test").to_numpy()
    assert m["n_test"] == test.sum() and m["n_train"] == (~test).sum()
    recon = space.decode(space.encode_frames(frames[test]))
    assert m["test_mse"] == pytest.approx(float(((recon - frames[test]) ** 2).mean()), rel=1e-5)
    assert m["test_loglik"] > m["test_elbo"] - 1.0            # IWAE(20) >= ELBO, up to noise
    assert m["test_loglik_per_bin"] == pytest.approx(m["test_loglik"] / N_BINS)
    assert m["kl_timbre"] >= m["kl_timbre_floor"]
    assert m["n_pairs"] == 6
    assert 0.0 <= m["probe_accuracy"] <= 1.0


# -- Table 1 -------------------------------------------------------------------------------
def test_write_table1(tmp_path):
    models = tmp_path / "models"
    for transform in ("stft", "nsgt-erb"):
        for reg in (True, False):
            d = models / f"{transform}-{'regularized' if reg else 'vanilla'}"
            d.mkdir(parents=True)
            (d / "config.json").write_text(json.dumps({"transform": transform,
                                                       "regularized": reg}))
            (d / "metrics.json").write_text(json.dumps({
                "test_loglik": -1.5, "test_mse": 0.2, "kl_timbre": 31.0 if reg else 40.0,
                "kl_timbre_floor": 29.8, "spearman": 0.9, "pearson": 0.8,
                "probe_accuracy": 0.7}))
    (models / "junk").mkdir()                                 # incomplete: ignored
    table = write_table1(models, tmp_path / "fig")
    csv = pd.read_csv(tmp_path / "fig" / "table1.csv")
    for col in ("model", "transform", "regularized", "test_loglik", "test_mse", "kl_timbre",
                "spearman", "pearson", "probe_accuracy"):
        assert col in csv.columns
    assert list(csv["model"]) == ["nsgt-erb-vanilla", "nsgt-erb-regularized", "stft-vanilla",
                                  "stft-regularized"]
    assert len(table) == 4
    md = (tmp_path / "fig" / "table1.md").read_text()
    erb = PAPER_RESULTS.loc["nsgt-erb"]
    assert erb["paper_loglik"] == -2.9212 and erb["paper_mse"] == 0.1511
    for value in ("-2.9212", "0.1511", "834.15", "423.45", "517.42", "2.811", "-1.9237"):
        assert value in md, value


@pytest.fixture
def saved(tmp_path):
    space = make_space(tmp_path / "space")
    return space, space.save()


def test_table1_refuses_spaces_of_two_profiles(tmp_path):
    models = tmp_path / "models"
    for name, profile in (("nsgt-erb-vanilla", "default"), ("nsgt-erb-l2", "smoke")):
        d = models / name
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"transform": "nsgt-erb", "regularized": True,
                                                   "training": {"profile": profile}}))
        (d / "metrics.json").write_text(json.dumps({"test_mse": 0.2}))
    with pytest.raises(ValueError, match="several profiles \\(default, smoke\\)"):
        write_table1(models, tmp_path / "fig")


def test_collect_metrics_names_each_regulariser_choice(tmp_path):
    from vts.metrics import collect_metrics

    models = tmp_path / "models"
    spaces = {"nsgt-erb-vanilla": (False, {}),
              "nsgt-erb-class": (True, {"reg_kind": "class", "alpha": 25.0,
                                        "reg_notes_per_class": 128}),
              "nsgt-erb-l2": (True, {"reg_kind": "l2", "alpha": 1.0, "reg_dims": "all",
                                     "reg_notes_per_class": 11}),
              "nsgt-erb-l2-free": (True, {"reg_kind": "l2", "alpha": 3.0, "reg_dims": "first",
                                          "reg_n_dims": 8, "reg_within": "free",
                                          "reg_notes_per_class": 0})}
    for name, (reg, training) in spaces.items():
        d = models / name
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"transform": "nsgt-erb", "regularized": reg,
                                                   "training": training}))
        (d / "metrics.json").write_text(json.dumps({"test_mse": 0.2}))
    table = collect_metrics(models).set_index("model")
    assert table.loc["nsgt-erb-l2", ["kind", "dims", "within", "per_class"]].tolist() == \
        ["l2", "all", "zero", 11]
    assert table.loc["nsgt-erb-l2-free", ["alpha", "dims", "within", "per_class"]].tolist() == \
        [3.0, "first 8", "free", 0]
    # the class kind's balanced centroids are not a note-level draw: no choices listed
    assert table.loc["nsgt-erb-class", ["dims", "within", "per_class"]].tolist() == ["", "", 0]
    assert table.loc["nsgt-erb-vanilla", ["alpha", "per_class"]].tolist() == [0.0, 0]


def test_clustering_metrics_by_hand():
    from vts.metrics import nearest_centroid_accuracy

    train = np.array([[0.0, 0], [0, 1], [10, 0], [10, 1]])
    labels = np.array(["a", "a", "b", "b"])
    test = np.array([[1.0, 0], [9, 0], [4, 0]])             # a, b, and an "a" nearer to a
    assert nearest_centroid_accuracy(train, labels, test, ["a", "b", "a"]) == 1.0
    assert nearest_centroid_accuracy(train, labels, test, ["b", "b", "b"]) == pytest.approx(1 / 3)
    assert np.isnan(nearest_centroid_accuracy(train, labels, test, ["c", "c", "c"]))


def test_silhouettes_separate_groups_from_one_cloud(saved):
    from vts.metrics import silhouettes

    space = TimbreSpace.load(saved[1])
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 30)
    grouped = rng.normal(size=(90, LATENT)) * 0.05 + np.repeat(np.eye(3, LATENT) * 5, 30, axis=0)
    cloud = rng.normal(size=(90, LATENT))
    assert silhouettes(space, grouped, labels)["silhouette"] > 0.8
    assert abs(silhouettes(space, cloud, labels)["silhouette"]) < 0.1


def test_mse_vs_vanilla_per_group_by_hand():
    table = pd.DataFrame({"seed": [0, 0, 1, 1], "kind": ["l2", "vanilla", "vanilla", "l2"],
                          "test_mse": [0.11, 0.10, 0.20, 0.30]})
    assert mse_vs_vanilla(table, by="seed").tolist() == pytest.approx([0.1, 0.0, 0.0, 0.5])
    one = table[table["seed"] == 1]
    assert mse_vs_vanilla(one).tolist() == pytest.approx([0.0, 0.5])
    with pytest.raises(ValueError, match=r"none for \[1\]"):
        mse_vs_vanilla(table.drop(index=2), by="seed")
    with pytest.raises(ValueError, match="several"):
        mse_vs_vanilla(table)
