"""Saved timbre spaces: round trip, clear errors, analysis / synthesis API, metrics, Table 1."""
from __future__ import annotations

import json
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

import vts.space
from vts import __version__
from vts.model import VAE, ModelConfig
from vts.space import (
    FORMAT_VERSION,
    PAPER_RESULTS,
    SPACE_FILES,
    SpaceError,
    TimbreSpace,
    banded_centroid_correlations,
    centroid_correlations,
    class_regularizer,
    evaluate_space,
    linear_probe_accuracy,
    write_table1,
)

N_BINS, LATENT = 12, 4
INSTRUMENTS = ("clarinet", "oboe", "flute", "cello", "banjo")
RATED = INSTRUMENTS[:4]


class FakeNormalizer:
    def __init__(self, offset=1e-3):
        self.offset = offset

    def transform(self, mag):
        return np.log(np.asarray(mag) + self.offset)

    def inverse(self, x):
        return np.maximum(np.exp(np.asarray(x)) - self.offset, 0)

    def to_dict(self):
        return {"offset": self.offset}

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


class FakeTransform:
    """Magnitude = |rfft| of 2 * N_BINS - 2 samples per frame (no overlap)."""

    name = "fake"
    hop = 2 * N_BINS - 2
    hop_seconds = hop / 22050
    n_bins = N_BINS

    def n_frames(self, length):
        return length // self.hop


def fake_transforms_module(calls):
    tr = FakeTransform()

    def sustained_frame(audio, transform):
        calls.append(("sustained_frame", len(audio)))
        return np.abs(np.fft.rfft(np.asarray(audio)[:tr.hop]))

    def render_frame(mag, transform, seconds, n_iter=100):
        calls.append(("render_frame", np.asarray(mag), seconds))
        return np.zeros(int(seconds * 22050), np.float32)

    def griffin_lim(mag, transform, n_iter=100, length=None):
        calls.append(("griffin_lim", np.asarray(mag), length))
        return np.zeros(length, np.float32)

    return types.SimpleNamespace(get_transform=lambda name: tr, sustained_frame=sustained_frame,
                                 render_frame=render_frame, griffin_lim=griffin_lim,
                                 Normalizer=FakeNormalizer)


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    calls = []
    module = fake_transforms_module(calls)
    monkeypatch.setattr(vts.space, "_transforms_module", lambda: module)
    monkeypatch.setattr(vts.space, "_normalizer_from_dict", FakeNormalizer.from_dict)
    return calls


def make_space(directory, seed=0, n_per=10) -> TimbreSpace:
    torch.manual_seed(seed)
    model = VAE(ModelConfig(N_BINS, hidden_units=16, n_hidden_layers=2, latent_dim=LATENT))
    rng = np.random.default_rng(seed)
    rows = [{"note_id": f"{n}_{j}", "instrument": n, "perceptual_label": n if n in RATED else "",
                 "pitch": float(60 + j), "dynamics": "ff", "split": "test" if j < 2 else "train"}
            for n in INSTRUMENTS for j in range(n_per)]
    meta = pd.DataFrame(rows)
    z = rng.normal(size=(len(meta), LATENT)).astype(np.float32)
    latents = pd.concat([meta, pd.DataFrame(z, columns=[f"z{i}" for i in range(LATENT)])], axis=1)
    split = meta[["note_id", "instrument", "split"]]
    target = pd.DataFrame(rng.normal(size=(4, 3)), index=list(RATED),
                          columns=["dim1", "dim2", "dim3"])
    config = {"transform": "nsgt-erb", "regularized": True, "data_key": "k1",
              "training": {"seed": seed}}
    curves = pd.DataFrame({"epoch": [1, 2], "total": [3.0, 2.0]})
    return TimbreSpace(directory, config, model, FakeNormalizer(), latents, split, target,
                       {"test_mse": 0.5}, curves)


@pytest.fixture
def saved(tmp_path) -> tuple[TimbreSpace, Path]:
    space = make_space(tmp_path / "space")
    return space, space.save()


# -- round trip and errors --------------------------------------------------------------
def test_save_load_round_trip(saved):
    space, directory = saved
    loaded = TimbreSpace.load(directory)
    z = np.random.default_rng(1).normal(size=(5, LATENT)).astype(np.float32)
    np.testing.assert_array_equal(loaded.decode(z), space.decode(z))
    x = np.random.default_rng(2).normal(size=(3, N_BINS)).astype(np.float32)
    np.testing.assert_array_equal(loaded.encode_frames(x), space.encode_frames(x))
    pd.testing.assert_frame_equal(loaded.latents, space.latents, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.target, space.target, check_names=False)
    assert loaded.config["format_version"] == FORMAT_VERSION
    assert loaded.config["vts_version"] == __version__
    assert loaded.config["data_key"] == "k1"
    assert loaded.metrics == {"test_mse": 0.5}
    assert loaded.latent_dim == LATENT and loaded.n_bins == N_BINS
    assert set(SPACE_FILES) <= {p.name for p in directory.iterdir()}
    # weights are safetensors, not a pickle
    assert (directory / "model.safetensors").read_bytes()[8:9] == b"{"


@pytest.mark.parametrize("name", SPACE_FILES)
def test_missing_file_names_directory_and_file(saved, name):
    _, directory = saved
    (directory / name).unlink()
    with pytest.raises(SpaceError) as info:
        TimbreSpace.load(directory)
    assert name in str(info.value) and str(directory) in str(info.value)


@pytest.mark.parametrize("name", ["model.safetensors", "latents.npz", "config.json",
                                  "normalizer.json", "split.csv"])
def test_corrupted_file_names_it(saved, name):
    _, directory = saved
    path = directory / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3] + b"\x00garbage")
    with pytest.raises(SpaceError) as info:
        TimbreSpace.load(directory)
    assert name in str(info.value) and str(directory) in str(info.value)


def test_wrong_weights_shape_is_a_space_error(saved, tmp_path):
    _, directory = saved
    other = make_space(tmp_path / "other")
    other.model = VAE(ModelConfig(N_BINS, hidden_units=8, n_hidden_layers=2, latent_dim=LATENT))
    other.save()
    (directory / "model.safetensors").write_bytes((other.directory / "model.safetensors").read_bytes())
    with pytest.raises(SpaceError, match="model.safetensors"):
        TimbreSpace.load(directory)


def test_other_format_version_is_refused(saved):
    _, directory = saved
    cfg = json.loads((directory / "config.json").read_text())
    cfg["format_version"] = FORMAT_VERSION + 1
    (directory / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpaceError, match="format version"):
        TimbreSpace.load(directory)


def test_not_a_directory(tmp_path):
    with pytest.raises(SpaceError, match="no such"):
        TimbreSpace.load(tmp_path / "nothing")


# -- the API ------------------------------------------------------------------------------
def test_centroids_instruments_and_codes(saved):
    space = TimbreSpace.load(saved[1])
    assert space.instruments == sorted(INSTRUMENTS)
    train = space.latents[space.latents["split"] == "train"]
    for name in INSTRUMENTS:
        expected = train.loc[train["instrument"] == name, space.z_columns].to_numpy().mean(0)
        np.testing.assert_allclose(space.centroids.loc[name].to_numpy(), expected, rtol=1e-6)
    assert space.codes("train").shape == (len(INSTRUMENTS) * 8, LATENT)
    assert space.codes(None).shape == (len(INSTRUMENTS) * 10, LATENT)


def test_pca_helpers(saved):
    space = TimbreSpace.load(saved[1])
    z = space.codes("train")
    p = space.to_pca(z)
    assert p.shape == (len(z), 3)
    np.testing.assert_allclose(p.mean(0), 0.0, atol=1e-5)        # fitted on these codes
    var = p.var(0)
    assert var[0] >= var[1] >= var[2]
    back = space.from_pca(p[:5])
    assert back.shape == (5, LATENT)
    np.testing.assert_allclose(space.to_pca(back), p[:5], atol=1e-5)   # on the PCA plane
    assert space.to_pca(z[0]).shape == (3,)
    assert space.from_pca(p[0]).shape == (LATENT,)


def test_encode_decode_shapes_and_normaliser(saved):
    space = TimbreSpace.load(saved[1])
    rng = np.random.default_rng(0)
    mag = rng.uniform(0, 2, size=(N_BINS, 6))
    codes = space.encode_magnitude(mag)
    assert codes.shape == (6, LATENT)
    np.testing.assert_allclose(codes, space.encode_frames(np.log(mag.T + 1e-3)), rtol=1e-5,
                               atol=1e-6)
    assert space.encode_magnitude(mag[:, 0]).shape == (LATENT,)
    assert space.decode(codes[0]).shape == (N_BINS,)
    np.testing.assert_allclose(space.decode_magnitude(codes),
                               np.maximum(np.exp(space.decode(codes)) - 1e-3, 0), rtol=1e-5)
    with pytest.raises(ValueError, match="bins"):
        space.encode_frames(np.zeros((2, N_BINS + 1)))
    with pytest.raises(ValueError, match="dims"):
        space.decode(np.zeros(LATENT + 1))


def test_encode_audio_array_list_and_file(saved, fakes, tmp_path):
    space = TimbreSpace.load(saved[1])
    rng = np.random.default_rng(0)
    a = rng.normal(size=2000).astype(np.float32)
    b = rng.normal(size=3000).astype(np.float32)
    expected = space.encode_magnitude(np.abs(np.fft.rfft(a[:FakeTransform.hop])))
    np.testing.assert_allclose(space.encode_audio(a), expected, rtol=1e-6)
    both = space.encode_audio([a, b])
    assert both.shape == (2, LATENT)
    np.testing.assert_allclose(both[0], expected, rtol=1e-6)
    fakes.clear()
    space.encode_audio(a, sample_rate=44100)               # resampled to 22,050 Hz first
    assert fakes[0][0] == "sustained_frame" and abs(fakes[0][1] - 1000) <= 2
    path = tmp_path / "note.wav"
    sf.write(path, a, 22050, subtype="FLOAT")
    np.testing.assert_allclose(space.encode_audio(path), expected, rtol=1e-5, atol=1e-6)
    assert space.encode_audio([path, path]).shape == (2, LATENT)


def test_synthesize_decodes_then_renders(saved, fakes):
    space = TimbreSpace.load(saved[1])
    z = space.codes("train")[:3]
    fakes.clear()
    audio = space.synthesize(z[0], seconds=0.5)
    assert audio.dtype == np.float32 and len(audio) == int(0.5 * 22050)
    kind, mag, seconds = fakes[-1]
    assert kind == "render_frame" and seconds == 0.5
    np.testing.assert_allclose(mag, space.decode_magnitude(z[0]), rtol=1e-6)
    audio = space.synthesize(z, seconds=0.2)                 # a latent path
    kind, mags, length = fakes[-1]
    assert kind == "griffin_lim" and length == round(0.2 * 22050) == len(audio)
    assert mags.shape == (N_BINS, FakeTransform().n_frames(length))
    np.testing.assert_allclose(mags[:, 0], space.decode_magnitude(z[0]), rtol=1e-6)
    np.testing.assert_allclose(mags[:, -1], space.decode_magnitude(z[-1]), rtol=1e-6)


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
    features = _Features("nsgt-erb", frames, catalog, FakeNormalizer(), np.arange(N_BINS), "k1")
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
