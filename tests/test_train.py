"""Two-stage training: split, profiles, determinism, resume, the twin shortcut, Table 1.

Everything runs on a small synthetic FeatureSet-like object (defined here) so
the tests do not depend on the real corpus, transforms or features.
"""
from __future__ import annotations

import dataclasses
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from scipy.stats import spearmanr

import vts.perception
from vts.dsp import Normalizer
from vts.plan import train_all
from vts.profiles import PROFILES, TrainConfig, get_profile
from vts.space import SpaceError, TimbreSpace
from vts.train import (
    CHECKPOINT,
    STAGE1_CHECKPOINT,
    regulariser_groups,
    stratified_split,
    train_space,
)

RATED = ("clarinet", "saxophone", "trumpet", "cello", "french-horn", "oboe", "flute",
         "english-horn", "bassoon", "trombone", "piano", "violin")


@dataclass
class FakeFeatures:
    transform: str
    frames: np.ndarray
    catalog: pd.DataFrame
    normalizer: object
    frequencies: np.ndarray
    key: str


def make_features(n_per=24, n_bins=20, seed=0, transform="nsgt-erb"):
    """12 rated instruments + 1 unrated; each a spectral template whose shape
    follows a hidden 2-D point (also used to build the perceptual target)."""
    rng = np.random.default_rng(seed)
    names = list(RATED) + ["banjo"]
    hidden = {n: rng.uniform(0, 1, 2) for n in names}
    bins = np.linspace(0, 1, n_bins)
    rows, frames = [], []
    for n in names:
        slope, formant = hidden[n]
        template = -3 * slope * bins + 1.5 * np.exp(-((bins - formant) / 0.15) ** 2)
        for j in range(n_per):
            frames.append(template + 0.2 * rng.normal(size=n_bins) + 0.3 * rng.normal())
            rows.append({"note_id": f"{n}_{j:03d}", "path": f"/nowhere/{n}_{j}.wav", "instrument": n,
                             "perceptual_label": n if n in RATED else "", "pitch": 60 + j % 12,
                             "dynamics": "ff" if j % 2 else "pp"})
    coords = np.array([hidden[n] for n in RATED])
    target = pd.DataFrame(coords - coords.mean(0), index=list(RATED), columns=["dim1", "dim2"])
    d = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1))
    dissimilarity = pd.DataFrame(d / d.max(), index=list(RATED), columns=list(RATED))
    features = FakeFeatures(transform, np.asarray(frames, np.float32), pd.DataFrame(rows),
                            Normalizer(ref=1e-3, offset=0.0, scale=1.0), np.linspace(64, 8000, n_bins), f"fake-{seed}")
    return features, target, dissimilarity


@pytest.fixture(scope="module")
def data():
    return make_features()


def pair_table(dissimilarity: pd.DataFrame) -> pd.DataFrame:
    """A rating summary (as vts.perception.pair_summary) whose pair means are ``dissimilarity``."""
    names = list(dissimilarity.index)
    return pd.DataFrame([{"instrument_a": a, "instrument_b": b,
                          "mean": float(dissimilarity.loc[a, b]), "std": 0.1, "count": 3}
                         for i, a in enumerate(names) for b in names[i + 1:]])


def smoke(**overrides) -> TrainConfig:
    return get_profile("smoke", **overrides)


def weights(directory) -> dict[str, torch.Tensor]:
    return load_file(str(Path(directory) / "model.safetensors"))


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def curves_wo_time(space: TimbreSpace) -> pd.DataFrame:
    return space.curves.drop(columns=["time_s"])


# -- split and profiles ----------------------------------------------------------------
def test_stratified_split_per_instrument_and_order_free():
    counts = {"a": 100, "b": 15, "c": 11, "d": 1, "e": 2}
    catalog = pd.DataFrame([{"note_id": f"{k}{i:03d}", "instrument": k}
                            for k, n in counts.items() for i in range(n)])
    split = stratified_split(catalog, 0.1, seed=0)
    n_test = pd.Series(split == "test").groupby(catalog["instrument"]).sum().to_dict()
    assert n_test == {"a": 10, "b": 2, "c": 1, "d": 0, "e": 1}
    shuffled = catalog.sample(frac=1.0, random_state=3).reset_index(drop=True)
    split2 = stratified_split(shuffled, 0.1, seed=0)
    assert dict(zip(catalog["note_id"], split)) == dict(zip(shuffled["note_id"], split2))
    assert not np.array_equal(split, stratified_split(catalog, 0.1, seed=1))


def test_profiles():
    assert set(PROFILES) >= {"smoke", "default", "paper"}
    paper = PROFILES["paper"].train
    assert (paper.hidden_units, paper.n_hidden_layers, paper.latent_dim) == (2000, 3, 64)
    assert (paper.stage1_epochs, paper.stage2_epochs) == (10_000, 10_000)
    assert (paper.lr, paper.beta, paper.warmup_epochs, paper.alpha) == (1e-4, 2.0, 100, 0.1)
    for p in (row.train for row in PROFILES.values()):
        assert p.alpha > 0 and p.stage1_epochs > 0 and p.stage2_epochs > 0
    assert get_profile("smoke", seed=5).seed == 5
    with pytest.raises(KeyError):
        get_profile("huge")
    with pytest.raises(ValueError):
        TrainConfig(stage1_epochs=0, stage2_epochs=0)
    cfg = TrainConfig.from_dict(PROFILES["default"].train.to_dict())
    assert cfg == PROFILES["default"].train


# -- training -----------------------------------------------------------------------------
def test_smoke_training_reduces_the_loss_and_writes_a_space(tmp_path, data):
    features, target, dissimilarity = data
    cfg = smoke(stage1_epochs=8, stage2_epochs=4)
    space = train_space(features, target, cfg, tmp_path / "s", regularized=True,
                        progress=False, dissimilarity=dissimilarity)
    curves = space.curves
    assert len(curves) == 12
    assert list(curves["stage"]) == [1] * 8 + [2] * 4
    assert (curves.loc[curves["stage"] == 1, "alpha"] == 0).all()
    assert (curves.loc[curves["stage"] == 2, "alpha"] == cfg.alpha).all()
    assert curves["recon"].iloc[-1] < curves["recon"].iloc[0]
    assert curves["test_mse"].iloc[-1] < 0.9 * curves["test_mse"].iloc[0]
    assert curves.loc[curves["stage"] == 1, "R"].isna().all()
    assert curves.loc[curves["stage"] == 2, "R"].notna().all()
    for name in ("config.json", "model.safetensors", "normalizer.json", "split.csv",
                 "latents.npz", "metrics.json", "curves.csv", "target.csv"):
        assert (tmp_path / "s" / name).is_file(), name
    assert not (tmp_path / "s" / CHECKPOINT).exists()
    split = pd.read_csv(tmp_path / "s" / "split.csv")
    assert set(split["split"]) == {"train", "test"}
    assert (split.groupby("instrument")["split"].apply(lambda s: (s == "test").sum()) >= 1).all()
    m = space.metrics
    for key in ("test_loglik", "test_mse", "kl_timbre", "spearman", "pearson", "probe_accuracy"):
        assert np.isfinite(m[key]), key
    assert m["n_test"] == int((split["split"] == "test").sum())
    assert m["kl_timbre"] >= m["kl_timbre_floor"] - 1e-9
    assert space.config["data_key"] == features.key
    assert space.config["regularized"] is True
    saved_target = pd.read_csv(tmp_path / "s" / "target.csv", index_col=0)
    np.testing.assert_allclose(saved_target.to_numpy(), target.to_numpy() * cfg.target_scale)


def test_minibatch_regulariser_as_in_the_paper(tmp_path, data):
    """reg_notes_per_class = 0 (paper profile): R on the classes of each random minibatch."""
    features, target, dissimilarity = data
    cfg = smoke(reg_notes_per_class=0, batch_size=128)
    space = train_space(features, target, cfg, tmp_path / "p", regularized=True,
                        progress=False, dissimilarity=dissimilarity)
    stage2 = space.curves[space.curves["stage"] == 2]
    assert np.isfinite(stage2["R"]).all() and (stage2["R"] > 0).all()
    assert PROFILES["paper"].train.reg_notes_per_class == 0


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, data):
    features, target, dissimilarity = data
    kw = {"progress": False, "dissimilarity": dissimilarity, "regularized": True}
    a = train_space(features, target, smoke(), tmp_path / "a", **kw)
    b = train_space(features, target, smoke(), tmp_path / "b", **kw)
    c = train_space(features, target, smoke(seed=1), tmp_path / "c", **kw)
    assert_same_weights(a.directory, b.directory)
    pd.testing.assert_frame_equal(curves_wo_time(a), curves_wo_time(b))
    wa, wc = weights(a.directory), weights(c.directory)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


@pytest.mark.parametrize("stop", [2, 4])      # inside stage 1, inside stage 2 (smoke: 3 + 3)
def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, data, stop):
    features, target, dissimilarity = data
    kw = {"progress": False, "dissimilarity": dissimilarity, "regularized": True}
    cfg = smoke(checkpoint_every=100)            # only the stop writes a checkpoint
    whole = train_space(features, target, cfg, tmp_path / "whole", **kw)
    out = train_space(features, target, cfg, tmp_path / "cut", stop_after=stop, **kw)
    assert out is None
    assert (tmp_path / "cut" / CHECKPOINT).is_file()
    assert not (tmp_path / "cut" / "config.json").exists()
    with pytest.raises(SpaceError, match="config.json"):
        TimbreSpace.load(tmp_path / "cut")
    resumed = train_space(features, target, cfg, tmp_path / "cut", **kw)
    assert_same_weights(whole.directory, resumed.directory)
    pd.testing.assert_frame_equal(curves_wo_time(whole), curves_wo_time(resumed))


def test_checkpoint_from_other_settings_is_not_resumed(tmp_path, data):
    features, target, dissimilarity = data
    kw = {"progress": False, "dissimilarity": dissimilarity, "regularized": False}
    train_space(features, target, smoke(lr=3e-3), tmp_path / "x", stop_after=2, **kw)
    with pytest.warns(UserWarning, match="other settings"):
        x = train_space(features, target, smoke(), tmp_path / "x", **kw)
    clean = train_space(features, target, smoke(), tmp_path / "clean", **kw)
    assert_same_weights(x.directory, clean.directory)


def test_complete_space_is_reused_unless_settings_change(tmp_path, data):
    features, target, dissimilarity = data
    kw = {"progress": False, "dissimilarity": dissimilarity, "regularized": False}
    train_space(features, target, smoke(), tmp_path / "s", **kw)
    stamp = (tmp_path / "s" / "model.safetensors").stat().st_mtime_ns
    again = train_space(features, target, smoke(), tmp_path / "s", **kw)
    assert (tmp_path / "s" / "model.safetensors").stat().st_mtime_ns == stamp
    assert isinstance(again, TimbreSpace)
    train_space(features, target, smoke(seed=3), tmp_path / "s", **kw)
    assert (tmp_path / "s" / "model.safetensors").stat().st_mtime_ns != stamp


def test_regularisation_moves_class_centroids_towards_the_target(tmp_path, data):
    features, target, dissimilarity = data
    cfg = smoke(hidden_units=64, latent_dim=8, stage1_epochs=15, stage2_epochs=25, alpha=2.0,
                lr=2e-3, reg_notes_per_class=6)
    kw = {"progress": False, "dissimilarity": dissimilarity}
    van = train_space(features, target, cfg, tmp_path / "v", regularized=False, **kw)
    reg = train_space(features, target, cfg, tmp_path / "r", regularized=True, **kw)
    floor = reg.metrics["kl_timbre_floor"]
    assert reg.metrics["kl_timbre_train"] - floor < 0.5 * (van.metrics["kl_timbre_train"] - floor)
    assert reg.metrics["spearman"] > van.metrics["spearman"]
    # the regulariser must not wreck the reconstruction (this tiny, short run is far
    # from converged: the real-data MSE check is in the training report, not here)
    assert reg.metrics["test_mse"] < 2.0 * van.metrics["test_mse"]


def test_train_all_twins_share_stage_one_and_write_table1(tmp_path, data, monkeypatch):
    features, target, dissimilarity = data
    calls = []

    def load_features(transform, catalog=None, progress=True):
        calls.append(transform)
        return dataclasses.replace(features, transform=transform)

    monkeypatch.setattr(sys.modules["vts.plan"], "training_features",
                        lambda transform, progress=True: load_features(transform))
    monkeypatch.setattr(sys.modules["vts.plan"], "novel_features",
                        lambda transform, progress=True: None)
    monkeypatch.setattr(vts.perception, "timbre_space", lambda n_components=3, seed=0: target)
    monkeypatch.setattr(vts.perception, "combined_dissimilarity", lambda: dissimilarity)
    monkeypatch.setattr(vts.perception, "pair_summary", lambda: pair_table(dissimilarity))
    monkeypatch.setattr(vts.perception, "list_studies", lambda: [])
    models, figures = tmp_path / "models", tmp_path / "figures"
    monkeypatch.setenv("VTS_FIGURES_DIR", str(figures))
    table = train_all("smoke", transforms=("nsgt-erb",), out_root=models, progress=False, jobs=1)
    assert calls == ["nsgt-erb"]
    kinds = ["vanilla", *PROFILES["smoke"].kinds]
    assert sorted(p.name for p in models.iterdir() if p.is_dir()) == sorted(f"nsgt-erb-{k}" for k in kinds)
    assert (models / ".lock").is_file()          # one writer per models folder
    assert not (models / "nsgt-erb-vanilla" / STAGE1_CHECKPOINT).exists()
    # every regularised space started from the vanilla stage-1 checkpoint; each must
    # equal the same model trained from scratch
    for kind in ("class", "banded", "l2", "prior"):
        scratch = train_space(features, target, PROFILES["smoke"].config(kind),
                              tmp_path / f"scratch-{kind}", regularized=True, progress=False,
                              dissimilarity=dissimilarity, pairs=pair_table(dissimilarity))
        assert_same_weights(models / f"nsgt-erb-{kind}", scratch.directory)
    banded = TimbreSpace.load(models / "nsgt-erb-banded")
    assert banded.config["training"]["reg_band_semitones"] == 12
    assert banded.config["kind"] == "banded"
    assert TimbreSpace.load(models / "nsgt-erb-l2").config["kind"] == "l2"
    van = TimbreSpace.load(models / "nsgt-erb-vanilla")
    reg = TimbreSpace.load(models / "nsgt-erb-class")
    pd.testing.assert_frame_equal(curves_wo_time(van).iloc[:3], curves_wo_time(reg).iloc[:3])
    assert (reg.curves["alpha"].iloc[3:] > 0).all() and (van.curves["alpha"] == 0).all()

    csv = pd.read_csv(figures / "table1.csv")
    for col in ("model", "transform", "regularized", "test_loglik", "test_mse", "kl_timbre",
                "spearman", "pearson", "probe_accuracy"):
        assert col in csv.columns, col
    assert list(csv["model"]) == [f"nsgt-erb-{k}" for k in kinds]   # vanilla first, then kinds
    for col in ("silhouette", "silhouette_pca", "centroid_accuracy", "kind", "profile"):
        assert col in csv.columns, col
    assert len(table) == len(kinds)
    assert (figures / "table1.md").is_file()

    stamp = (models / "nsgt-erb-vanilla" / "model.safetensors").stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_all("smoke", transforms=("nsgt-erb",), out_root=models, progress=False, jobs=1)
    assert (models / "nsgt-erb-vanilla" / "model.safetensors").stat().st_mtime_ns == stamp

    # with rated studies, the listener space is built from the vanilla space; a study
    # that cannot be read is reported and loses nothing already trained
    monkeypatch.setattr(vts.perception, "list_studies", lambda: ["study-a", "study-b"])
    built = []

    def unreadable(vanilla, out, studies, progress=False):
        raise ValueError("study-b/ratings.csv: no rating")

    monkeypatch.setattr(sys.modules["vts.plan"], "build_listener_space", unreadable)
    with pytest.warns(UserWarning, match="nsgt-erb-listener: listener space not built "
                                         r"\(study-b/ratings.csv: no rating\)"):
        train_all("smoke", transforms=("nsgt-erb",), out_root=models, progress=False, jobs=1)
    assert (models / "nsgt-erb-vanilla" / "model.safetensors").stat().st_mtime_ns == stamp
    monkeypatch.setattr(sys.modules["vts.plan"], "build_listener_space",
                        lambda vanilla, out, studies, progress=False:
                        built.append((vanilla, out, list(studies))))
    train_all("smoke", transforms=("nsgt-erb",), out_root=models, progress=False, jobs=1)
    assert built == [(models / "nsgt-erb-vanilla", models / "nsgt-erb-listener",
                      ["study-a", "study-b"])]


# -- the pitch-banded regulariser (beyond the paper) -------------------------------------
def test_regulariser_groups_split_classes_by_pitch_band():
    labels = np.array(["a", "a", "b", "b", "c", "c", "a", "b", "", "c"])
    pitches = np.array([60, 72, 61, 73, 62, 50, 71, 70, 65, np.nan])
    (keep, members), = regulariser_groups(labels, pitches, ["a", "b", "c"])
    assert keep.tolist() == [0, 1, 2]
    assert [m.tolist() for m in members] == [[0, 1, 6], [2, 3, 7], [4, 5, 9]]
    groups = regulariser_groups(labels, pitches, ["a", "b", "c"], band_semitones=12,
                                min_classes=2)
    # the all-pitch group, then band 5 (60-71: a, b, c) and band 6 (72-83: a, b);
    # band 4 (pitch 50) has one class only, the NaN-pitch note no band
    assert [g[0].tolist() for g in groups] == [[0, 1, 2], [0, 1, 2], [0, 1]]
    assert [m.tolist() for m in groups[1][1]] == [[0, 6], [2, 7], [4]]
    assert [m.tolist() for m in groups[2][1]] == [[1], [3]]
    strict = regulariser_groups(labels, pitches, ["a", "b", "c"], 12, min_classes=3)
    assert [g[0].tolist() for g in strict] == [[0, 1, 2], [0, 1, 2]]


def test_banded_regulariser_orders_classes_within_each_octave(tmp_path):
    """Two octaves whose class layouts differ (a hidden shift per octave): the banded
    regulariser must order the centroids of each octave better than the paper's R."""
    features, target, dissimilarity = make_features(n_per=24, seed=4)
    catalog = features.catalog.copy()
    j = np.array([int(n.rsplit("_", 1)[1]) for n in catalog["note_id"]])
    catalog["pitch"] = np.where(j % 2, 72, 48) + j % 5
    frames = features.frames.copy()
    # the upper octave's spectra come from another class's template: octave-wise, the
    # raw layout no longer follows the hidden points the target was built from
    rated = list(RATED)
    for i, name in enumerate(rated):
        src = np.flatnonzero(catalog["instrument"] == rated[(i + 5) % len(rated)])
        dst = np.flatnonzero(catalog["instrument"] == name)
        upper = catalog["pitch"].to_numpy()[dst] >= 72
        frames[dst[upper]] = features.frames[src[upper]]
    features = dataclasses.replace(features, catalog=catalog, frames=frames, key="fake-octaves")
    cfg = smoke(hidden_units=64, latent_dim=8, stage1_epochs=15, stage2_epochs=30, alpha=2.0,
                lr=2e-3, reg_notes_per_class=8)
    kw = {"progress": False, "dissimilarity": dissimilarity, "regularized": True}
    plain = train_space(features, target, cfg, tmp_path / "r", **kw)
    banded = train_space(features, target, dataclasses.replace(
        cfg, reg_band_semitones=12, reg_notes_per_class=4), tmp_path / "b", **kw)
    assert banded.metrics["n_octaves"] == 2
    assert banded.metrics["spearman_octave"] > plain.metrics["spearman_octave"] + 0.1


@pytest.mark.parametrize("kind, dims", [("gaussian", "lowest"), ("prior", "first")])
def test_note_level_kinds_resume_bit_identically(tmp_path, data, kind, dims):
    """A note-level space cut in stage 2 resumes to the same weights (the dims chosen
    at the end of stage 1 travel in the checkpoint, the gaussian draws in the generator)."""
    features, target, dissimilarity = data
    pairs = pair_table(dissimilarity)
    kw = {"progress": False, "dissimilarity": dissimilarity, "regularized": True, "pairs": pairs}
    cfg = smoke(checkpoint_every=100, reg_kind=kind, reg_dims=dims, reg_n_dims=2,
                target_components=2, reg_notes_per_class=0 if kind == "prior" else 4)
    whole = train_space(features, target, cfg, tmp_path / "whole", **kw)
    assert train_space(features, target, cfg, tmp_path / "cut", stop_after=4, **kw) is None
    resumed = train_space(features, target, cfg, tmp_path / "cut", **kw)
    assert_same_weights(whole.directory, resumed.directory)


def test_note_level_l2_gathers_the_instruments(tmp_path, data):
    """On the synthetic corpus the l2 regulariser on a few dimensions must group the
    notes of each instrument (silhouette, nearest-centroid accuracy) better than the
    vanilla twin, at a small reconstruction cost."""
    features, target, dissimilarity = data
    kw = {"progress": False, "dissimilarity": dissimilarity, "pairs": pair_table(dissimilarity)}
    cfg = smoke(hidden_units=64, latent_dim=8, stage1_epochs=10, stage2_epochs=20, lr=2e-3,
                reg_kind="l2", alpha=1.0, reg_dims="first", reg_n_dims=3, reg_notes_per_class=0)
    van = train_space(features, target, cfg, tmp_path / "v", regularized=False, **kw)
    l2 = train_space(features, target, cfg, tmp_path / "l2", regularized=True, **kw)
    assert l2.metrics["silhouette"] > van.metrics["silhouette"] + 0.1
    assert l2.metrics["centroid_accuracy"] >= van.metrics["centroid_accuracy"]
    assert l2.metrics["test_mse"] < 1.5 * van.metrics["test_mse"]


def test_balanced_draw_fits_the_pairs_of_a_rare_instrument(tmp_path):
    """Two instruments keep 3 notes of 60 (as trumpet and violin are rare in the corpus):
    a minibatch of 64 holds one of them in a fraction of the steps, so l2 hardly fits
    their pairs; on a class-balanced draw every step holds all 12 instruments and the
    centroid distances follow the target better, those of the rare ones included."""
    features, target, dissimilarity = make_features(n_per=60)
    catalog = features.catalog
    rare = catalog["instrument"].isin(["trumpet", "violin"])
    keep = ~rare | (catalog.groupby("instrument").cumcount() < 3)
    features = dataclasses.replace(features, catalog=catalog[keep].reset_index(drop=True),
                                   frames=features.frames[keep.to_numpy()], key="fake-rare")
    kw = {"progress": False, "dissimilarity": dissimilarity, "pairs": pair_table(dissimilarity),
          "regularized": True}
    cfg = smoke(hidden_units=64, latent_dim=8, stage1_epochs=6, stage2_epochs=10, lr=2e-3,
                reg_kind="l2", alpha=1.0, reg_dims="first", reg_n_dims=3,
                reg_notes_per_class=0, test_fraction=0.2)

    def rare_fit(space):
        """Spearman, over the pairs with a rare instrument, of the training centroid
        distances with the listeners' dissimilarities."""
        cents = space.centroids
        pairs = [(a, b) for a in ("trumpet", "violin") for b in RATED if b != a]
        latent = [np.linalg.norm(cents.loc[a] - cents.loc[b]) for a, b in pairs]
        return spearmanr(latent, [dissimilarity.loc[a, b] for a, b in pairs]).statistic

    batch = train_space(features, target, cfg, tmp_path / "batch", **kw)
    balanced = train_space(features, target, dataclasses.replace(cfg, reg_notes_per_class=8),
                           tmp_path / "balanced", **kw)
    assert rare_fit(balanced) > rare_fit(batch)
    assert balanced.metrics["spearman"] > batch.metrics["spearman"] + 0.02


def test_prior_has_no_regulariser_batch():
    with pytest.raises(ValueError, match="reg_notes_per_class = 0"):
        smoke(reg_kind="prior", reg_dims="first", reg_n_dims=3, reg_notes_per_class=4)
