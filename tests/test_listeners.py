"""Tests of vts.listeners: Mantel test, baselines, study alignment, tables and figure.

Ground truth: a synthetic "brightness" study whose tones differ only in the
decay of their partials; the listeners' dissimilarity is defined as the
difference of the tones' *analytic* spectral centroids (computed from the
partial amplitudes, not from audio), so representations that track brightness
must agree with it.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.stats import spearmanr

import synthetic
from vts import listeners as ev

F0_HZ = 150.0
FORMANT = 0.5
BRIGHTNESS = (0.0, 0.12, 0.3, 0.41, 0.55, 0.7, 0.83, 1.0)
#: Per stimulus: duration (s), sample rate (Hz), channels, format.
FORMATS = ((0.09, 44100, 2, "WAV"), (0.3, 16000, 1, "AIFF"), (0.6, 22050, 2, "FLAC"),
           (1.2, 44100, 1, "WAV"), (2.5, 16000, 2, "AIFF"), (0.4, 44100, 2, "FLAC"),
           (0.8, 22050, 1, "WAV"), (1.5, 16000, 2, "AIFF"))
SUFFIX = {"WAV": ".wav", "AIFF": ".aiff", "FLAC": ".flac"}


def analytic_centroid_hz(brightness: float, f0_hz: float = F0_HZ, formant: float = FORMANT,
                         sample_rate: int = 16000) -> float:
    """Amplitude-weighted mean frequency of the partials of ``synthetic.tone``."""
    decay = 0.35 + 2.5 * (1 - brightness)
    formant_hz = 400 + 3000 * formant
    freqs, amps = [], []
    for k in range(1, 40):
        f = k * f0_hz
        if f > 0.45 * sample_rate:
            break
        freqs.append(f)
        amps.append(k ** -decay * (1 + 2 * np.exp(-((f - formant_hz) / 400) ** 2)))
    freqs, amps = np.array(freqs), np.array(amps)
    return float(np.sum(freqs * amps) / np.sum(amps))


def ground_truth() -> np.ndarray:
    c = np.array([analytic_centroid_hz(b) for b in BRIGHTNESS])
    d = np.abs(c[:, None] - c[None, :])
    return d / d.max()


def write_brightness_study(folder: Path, names=None, order=None, uniform: bool = False) -> Path:
    """A study of brightness-only tones in assorted formats (or all 22,050 Hz mono WAV).

    ``order`` permutes the stimuli (and the matrix accordingly); ``names`` are
    the file stems, sorted order = matrix order.
    """
    n = len(BRIGHTNESS)
    order = list(range(n)) if order is None else list(order)
    names = [f"{k + 1:02d}_tone" for k in range(n)] if names is None else names
    assert sorted(names) == list(names)
    (folder / "stimuli").mkdir(parents=True)
    matrix = ground_truth()[np.ix_(order, order)]
    np.savetxt(folder / "dissimilarity_matrix.txt", np.triu(matrix, 1), fmt="%.6f",
               delimiter="\t")
    for slot, k in enumerate(order):
        seconds, sr, channels, fmt = FORMATS[k]
        if uniform:
            sr, channels, fmt = 22050, 1, "WAV"
        mono = synthetic.tone(F0_HZ, seconds, BRIGHTNESS[k], FORMANT, sample_rate=sr, seed=k)
        data = np.stack([1.2 * mono, 0.8 * mono], axis=1) if channels == 2 else mono
        sf.write(folder / "stimuli" / f"{names[slot]}{SUFFIX[fmt]}", data, sr, format=fmt)
    return folder


@pytest.fixture(scope="module")
def brightness_study(tmp_path_factory) -> Path:
    return write_brightness_study(tmp_path_factory.mktemp("studies") / "Bright2024")


class CentroidSpace:
    """A fake space: the 'latent' point of a frame is its spectral centroid (kHz), plus a 0."""

    name = "fake-centroid"
    transform_name = "stft"
    regularized = False

    def __init__(self):
        from vts.dsp import get_transform

        self.transform = get_transform("stft")

    def normalize(self, magnitude):
        mag = np.asarray(magnitude, dtype=np.float64)
        return np.log1p(mag) if mag.ndim == 1 else np.log1p(mag).T

    def encode_frames(self, frames):
        mag = np.expm1(np.atleast_2d(np.asarray(frames, dtype=np.float64)))
        centroid_khz = mag @ self.transform.frequencies / mag.sum(axis=1) / 1000.0
        return np.stack([centroid_khz, np.zeros_like(centroid_khz)], axis=1)


class RandomSpace(CentroidSpace):
    """A fake space deaf to the sound: every frame gets a fresh random point."""

    name = "fake-random"
    regularized = True

    def __init__(self, seed: int = 0):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def encode_frames(self, frames):
        return self.rng.normal(size=(len(np.atleast_2d(frames)), 2))


def three_point(values) -> np.ndarray:
    """Distance matrix of 3 objects with pair values (d01, d02, d12)."""
    d01, d02, d12 = values
    return np.array([[0, d01, d02], [d01, 0, d12], [d02, d12, 0]], dtype=float)


# --------------------------------------------------------------------------- Mantel test
def test_condensed_is_row_major_upper_triangle():
    np.testing.assert_array_equal(ev.condensed(three_point((1, 2, 3))), [1, 2, 3])


def test_correlations_hand_computed():
    x = three_point((1, 2, 3))
    y = three_point((2, 4, 7))          # Pearson of (1,2,3) and (2,4,7): 5 / sqrt(2 * 12.667)
    spearman, pearson = ev.correlations(x, y)
    assert spearman == pytest.approx(1.0)
    assert pearson == pytest.approx(5 / math.sqrt(2 * 38 / 3))
    assert all(math.isnan(v) for v in ev.correlations(x, three_point((1, 1, 1))))


def test_mantel_identical_matrices_p_small():
    rng = np.random.default_rng(1)
    d = ev.pairwise_distances(rng.normal(size=(10, 3)))
    result = ev.mantel_test(d, d, n_permutations=999, seed=3)
    assert result.statistic == pytest.approx(1.0)
    assert result.p_value == (result.count + 1) / 1000
    assert result.p_value <= 0.005          # 10! relabellings; ~none match by chance


def test_mantel_three_points_exact_null_fraction():
    # The 6 relabellings of 3 objects permute the 3 pair values in all 6 ways:
    # only the identity gives rho = 1 (transpositions 0.5, 3-cycles -0.5).
    x = three_point((1, 2, 3))
    n_perm = 6000
    result = ev.mantel_test(x, x, n_permutations=n_perm, seed=5)
    assert result.p_value == (result.count + 1) / (n_perm + 1)
    sd = math.sqrt(n_perm * (1 / 6) * (5 / 6))
    assert abs(result.count - n_perm / 6) < 5 * sd
    # reversed order: rho = -1; one-sided, every relabelling is >= -1 -> p = 1
    reverse = ev.mantel_test(x, three_point((3, 2, 1)), n_permutations=500, seed=5)
    assert reverse.statistic == pytest.approx(-1.0)
    assert reverse.count == 500 and reverse.p_value == 1.0
    # two-sided: |rho| = 1 for the identity and the swap of objects 0 and 2 -> 1/3
    both = ev.mantel_test(x, three_point((3, 2, 1)), n_permutations=n_perm,
                          alternative="two-sided", seed=5)
    sd = math.sqrt(n_perm * (1 / 3) * (2 / 3))
    assert abs(both.count - n_perm / 3) < 5 * sd


def test_mantel_independent_matrices_p_uniform():
    rng = np.random.default_rng(11)
    pvalues = []
    for trial in range(40):
        a = ev.pairwise_distances(rng.normal(size=(8, 2)))
        b = ev.pairwise_distances(rng.normal(size=(8, 2)))
        pvalues.append(ev.mantel_test(a, b, n_permutations=199, seed=trial).p_value)
    pvalues = np.array(pvalues)
    assert 0.35 < pvalues.mean() < 0.65            # Uniform(0, 1) under the null
    assert np.mean(pvalues < 0.05) <= 0.15


def test_mantel_pearson_and_validation():
    rng = np.random.default_rng(2)
    d = ev.pairwise_distances(rng.normal(size=(7, 2)))
    result = ev.mantel_test(d, d ** 2, n_permutations=299, method="pearson")
    assert 0.9 < result.statistic < 1.0
    assert result.p_value < 0.05
    with pytest.raises(ValueError, match="shape"):
        ev.mantel_test(d, d[:5, :5])
    with pytest.raises(ValueError, match="at least 3"):
        ev.mantel_test(d[:2, :2], d[:2, :2])
    with pytest.raises(ValueError, match="method"):
        ev.mantel_test(d, d, method="kendall")
    constant = ev.mantel_test(d, np.ones_like(d) - np.eye(7), n_permutations=10)
    assert math.isnan(constant.statistic) and math.isnan(constant.p_value)


# --------------------------------------------------------------------------- baselines
def test_spectral_centroid_of_sinusoid():
    t = np.arange(22050) / 22050
    sine = (np.sin(2 * np.pi * 1000 * t) * np.minimum(1, np.minimum(t, 1 - t) / 0.02)).astype(
        np.float32)                                         # 20 ms fade-in and fade-out
    assert ev.spectral_centroid_hz(sine) == pytest.approx(1000, rel=0.03)
    # silence around the sound (silent frames) does not pull the mean
    padded = np.concatenate([np.zeros(11025, np.float32), sine, np.zeros(22050, np.float32)])
    assert ev.spectral_centroid_hz(padded) == pytest.approx(1000, rel=0.03)


def test_mfcc_mean_ignores_silence_and_format(tmp_path):
    tone = synthetic.tone(F0_HZ, 0.5, 0.5, FORMANT, sample_rate=22050)
    padded = np.concatenate([tone, np.zeros(22050, np.float32)])      # 1 s of trailing silence
    other = synthetic.tone(F0_HZ, 0.5, 1.0, FORMANT, sample_rate=22050)
    a, b, c = ev.mfcc_mean(tone), ev.mfcc_mean(padded), ev.mfcc_mean(other)
    assert a.shape == (ev.N_MFCC,)
    assert np.linalg.norm(a - b) < 0.1 * np.linalg.norm(a - c)


def test_study_baselines_track_brightness(brightness_study):
    table = ev.study_alignment(CentroidSpace(), brightness_study, n_permutations=999)
    rows = table.set_index("representation")
    # the centroid difference IS the ground truth, up to analysis: ~perfect
    assert rows.loc["centroid", "spearman"] > 0.98
    assert rows.loc["centroid", "pearson"] > 0.98
    assert rows.loc["centroid", "mantel_p"] <= 0.005


# --------------------------------------------------------------------------- study alignment
def test_study_alignment_with_fake_space(brightness_study):
    table = ev.study_alignment(CentroidSpace(), brightness_study, n_permutations=999)
    assert list(table.columns) == ev.ALIGNMENT_COLUMNS
    assert list(table["representation"]) == ["latent", "mfcc", "centroid", "spectral"]
    assert (table["n_stimuli"] == 8).all() and (table["n_pairs"] == 28).all()
    assert (table["study"] == "Bright2024").all()
    latent = table.set_index("representation").loc["latent"]
    assert latent["spearman"] > 0.95 and latent["pearson"] > 0.95
    assert latent["mantel_p"] <= 0.005
    assert ((table["mantel_p"] > 0) & (table["mantel_p"] <= 1)).all()


def test_study_alignment_mean_pooling(brightness_study):
    table = ev.study_alignment(CentroidSpace(), brightness_study, pooling="mean",
                               baselines=(), n_permutations=199)
    assert list(table["representation"]) == ["latent"]
    assert table.loc[0, "spearman"] > 0.95 and table.loc[0, "pooling"] == "mean"
    with pytest.raises(ValueError, match="pooling"):
        ev.study_alignment(CentroidSpace(), brightness_study, pooling="median")


def test_study_alignment_deaf_space_does_not_agree(brightness_study):
    pvalues = []
    for seed in range(10):
        table = ev.study_alignment(RandomSpace(seed), brightness_study, baselines=(),
                                   n_permutations=199)
        assert abs(table.loc[0, "spearman"]) < 0.7
        pvalues.append(table.loc[0, "mantel_p"])
    assert np.median(pvalues) > 0.1


def test_study_alignment_is_format_invariant(brightness_study, tmp_path):
    # the same sounds as 22,050 Hz mono WAV: same answers for every representation
    uniform = write_brightness_study(tmp_path / "Uniform", uniform=True)
    a = ev.study_alignment(CentroidSpace(), brightness_study, n_permutations=99)
    b = ev.study_alignment(CentroidSpace(), uniform, n_permutations=99)
    np.testing.assert_allclose(a["spearman"], b["spearman"], atol=0.02)
    np.testing.assert_allclose(a["pearson"], b["pearson"], atol=0.02)


def test_study_alignment_follows_sorted_file_order(brightness_study, tmp_path):
    # a relabelled copy (different sorted order, matrix permuted to match) agrees exactly
    order = [5, 2, 7, 0, 3, 6, 1, 4]
    names = [f"{chr(ord('a') + k)}_stimulus" for k in range(8)]
    shuffled = write_brightness_study(tmp_path / "Shuffled", names=names, order=order)
    a = ev.study_alignment(CentroidSpace(), brightness_study, n_permutations=99)
    b = ev.study_alignment(CentroidSpace(), shuffled, n_permutations=99)
    np.testing.assert_allclose(a["spearman"], b["spearman"], atol=1e-9)
    np.testing.assert_allclose(a["pearson"], b["pearson"], atol=1e-9)
    # and a matrix that does NOT follow the file order destroys the agreement
    broken = tmp_path / "Broken"
    shutil.copytree(shuffled, broken)
    np.savetxt(broken / "dissimilarity_matrix.txt", np.triu(ground_truth(), 1), fmt="%.6f")
    c = ev.study_alignment(CentroidSpace(), broken, baselines=(), n_permutations=99)
    assert c.loc[0, "spearman"] < 0.5


def test_study_alignment_errors_name_the_file(tmp_path, brightness_study):
    bad = tmp_path / "Bad"
    shutil.copytree(brightness_study, bad)
    np.savetxt(bad / "dissimilarity_matrix.txt", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="dissimilarity_matrix.txt"):
        ev.study_alignment(CentroidSpace(), bad)
    silent = tmp_path / "Silent"
    shutil.copytree(brightness_study, silent)
    target = min((silent / "stimuli").iterdir())
    sf.write(target, np.zeros(4410, np.float32), 44100, format=sf.info(target).format)
    with pytest.raises(ValueError, match=target.name):
        ev.study_alignment(CentroidSpace(), silent)
    with pytest.raises(ValueError, match="baseline"):
        ev.study_alignment(CentroidSpace(), brightness_study, baselines=("loudness",))


# --------------------------------------------------------------------------- many models
@pytest.fixture
def table(project, brightness_study, tmp_path) -> pd.DataFrame:
    in_target = shutil.copytree(brightness_study, tmp_path / "Grey1977")
    return ev.evaluate_models([CentroidSpace(), RandomSpace()], [brightness_study, in_target],
                              progress=False, n_permutations=199)


def test_evaluate_models_table(table):
    assert list(table.columns) == ev.TABLE_COLUMNS
    assert len(table) == 2 * 2 * 4
    assert not table.duplicated(["model", "study", "representation"]).any()
    in_target = table.drop_duplicates("study").set_index("study")["in_target"]
    assert in_target.to_dict() == {"Bright2024": False, "Grey1977": True}
    assert set(table.loc[table["kind"] == "model", "label"]) == {"fake-centroid", "fake-random"}
    assert set(table.loc[table["kind"] == "baseline", "label"]) == \
        {"MFCC mean", "spectral centroid", "spectral frame (stft)"}
    # model-independent baselines are the same for both models
    mfcc = table[table["representation"] == "mfcc"].groupby("study")["spearman"].nunique()
    assert (mfcc == 1).all()
    good = table[(table["model"] == "fake-centroid") & (table["representation"] == "latent")]
    bad = table[(table["model"] == "fake-random") & (table["representation"] == "latent")]
    assert (good["spearman"].to_numpy() > bad["spearman"].to_numpy() + 0.3).all()


def test_head_to_head_counts_independent_wins():
    rows = []
    for study, in_target, good, bad, mfcc in (("A", False, 0.5, 0.2, 0.6), ("B", False, 0.4, 0.1, 0.3),
                                              ("C", False, 0.1, 0.3, 0.0), ("D", True, 0.9, 0.0, 0.0)):
        for label, kind, value in (("good", "model", good), ("bad", "model", bad),
                                   ("MFCC mean", "baseline", mfcc)):
            rows.append({"study": study, "in_target": in_target, "label": label, "kind": kind,
                         "representation": "mfcc" if kind == "baseline" else "latent",
                         "spearman": value})
    table = pd.DataFrame(rows)
    h2h = ev.head_to_head(table, "good", ["bad", "MFCC mean"])
    assert h2h["wins"].tolist() == [2, 2] and h2h["n_studies"].tolist() == [3, 3]
    assert h2h["won"].tolist() == ["A, B", "B, C"]
    assert h2h["mean_difference"].tolist() == pytest.approx([0.4 / 3, 0.1 / 3])
    every = ev.head_to_head(table, "good", ["bad"], independent=False)
    assert every["wins"].tolist() == [3] and every["n_studies"].tolist() == [4]
    with pytest.raises(KeyError, match="nope"):
        ev.head_to_head(table, "good", ["nope"])
    # versus_vanilla finds the vanilla twin by transform: "good" is the regularised
    # space of "bad"; a regularised model without a twin meets the baselines only
    table["transform"] = "stft"
    table["regularized"] = table["label"] == "good"
    lone = table[table["label"] == "good"].assign(label="lone", transform="dct")
    table = pd.concat([table, lone], ignore_index=True)
    versus = ev.versus_vanilla(table)
    assert versus[["model", "rival", "wins"]].values.tolist() == [
        ["good", "bad", 2], ["good", "MFCC mean", 2], ["lone", "MFCC mean", 2]]
    assert list(ev.versus_vanilla(table[~table["regularized"]]).columns) == \
        ev.HEAD_TO_HEAD_COLUMNS


def test_evaluate_models_defaults_to_every_study(project):
    table = ev.evaluate_models(CentroidSpace(), progress=False, n_permutations=49,
                               baselines=("centroid",))
    assert sorted(table["study"].unique()) == ["Toy2024", "Toy2025"]
    assert set(table["n_stimuli"]) == {5, 4}


def test_plot_and_write_evaluation(table, project):
    fig = ev.plot_alignment(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Bright2024", "Grey1977"]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["fake-centroid", "fake-random", "MFCC mean", "spectral centroid",
                    "spectral frame (stft)"]
    # every cell is printed, with a star where the Mantel test rejects
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts if t.get_position()[1] >= 0}
    good = table[(table["label"] == "fake-centroid") & (table["study"] == "Bright2024")].iloc[0]
    expected = f"{good['spearman']:.2f}" + ("*" if good["mantel_p"] < 0.05 else "")
    assert cells[(0, 0)] == expected
    assert len(cells) == 5 * 2
    csv_path, png_path = ev.write_evaluation(table)
    assert csv_path.parent == project / "figures"
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = pd.read_csv(csv_path)
    np.testing.assert_allclose(back["spearman"], table["spearman"])
    assert list(back.columns) == ev.TABLE_COLUMNS
    assert not [p for p in csv_path.parent.iterdir() if p.name.startswith(".")]


def test_main_evaluate(project, brightness_study, tmp_path, capsys):
    in_target = shutil.copytree(brightness_study, tmp_path / "McAdams1995")
    out = tmp_path / "out" / "eval.csv"
    code = ev.main_evaluate([CentroidSpace()], [brightness_study, in_target], out,
                            n_permutations=99, progress=False)
    assert code == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * 4
    printed = capsys.readouterr().out
    assert "Bright2024" in printed and "McAdams1995 *" in printed
    assert "fake-centroid" in printed and "MFCC mean" in printed
    assert str(out) in printed
    with pytest.raises(FileNotFoundError):
        ev.main_evaluate([CentroidSpace()], [tmp_path / "nowhere"], out, progress=False)


# --------------------------------------------------------------------------- a real tiny space
def test_study_alignment_with_trained_smoke_space(project, synthetic_root):
    from vts.data import load_catalog
    from vts.features import load_features
    from vts.train import get_profile, train_space

    features = load_features("stft", load_catalog(progress=False), n_jobs=1, progress=False)
    space = train_space(features, None, get_profile("smoke"), project / "models" / "tiny",
                        regularized=True, progress=False)
    study_dir = synthetic_root / "timbre" / "studies" / "Toy2024"      # 44.1 kHz stereo AIFF
    table = ev.study_alignment(space, study_dir, n_permutations=199)
    assert list(table["representation"]) == ["latent", "mfcc", "centroid", "spectral"]
    assert (table["n_stimuli"] == 5).all()
    # the latent row is what the space's own analysis path (encode_audio) gives
    stimuli = sorted((study_dir / "stimuli").glob("*.aiff"))
    z = space.encode_audio([str(p) for p in stimuli])
    assert z.shape == (5, space.latent_dim)
    iu = np.triu_indices(5, 1)
    latent = np.linalg.norm(z[:, None] - z[None], axis=-1)[iu]
    listeners = np.loadtxt(study_dir / "dissimilarity_matrix.txt")[iu]
    expected = spearmanr(latent, listeners).statistic
    assert table.loc[0, "spearman"] == pytest.approx(expected, abs=1e-6)
    assert 0 < table.loc[0, "mantel_p"] <= 1
    # and the trained directory loads through evaluate_models
    full = ev.evaluate_models([project / "models" / "tiny"], [study_dir], progress=False,
                              n_permutations=199)
    assert full.loc[0, "model"] == "tiny" and full.loc[0, "transform"] == "stft"
    assert full.loc[0, "regularized"] == True
    assert full.loc[0, "spearman"] == pytest.approx(expected, abs=1e-6)
