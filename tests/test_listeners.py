"""Tests of vts.listeners: spaces and baselines scored against studies, both protocols, tables.

Ground truth: a synthetic "brightness" study whose tones differ only in the
decay of their partials; the listeners' dissimilarity is defined as the
difference of the tones' *analytic* spectral centroids (computed from the
partial amplitudes, not from audio), so representations that track brightness
must agree with it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.stats import spearmanr

import synthetic
from vts import agreement as ag
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
    """A fake space: the 'latent' point of a frame is its spectral centroid (kHz) and 10
    (so that the cosine distance, too, grows with the centroid difference)."""

    name = "fake-centroid"
    transform_name = "stft"
    regularized = False

    def __init__(self):
        from vts.dsp import get_transform

        self.transform = get_transform("stft")

    def normalize(self, magnitude):
        mag = np.asarray(magnitude, dtype=np.float64)
        return np.log1p(mag)

    def encode_frames(self, frames):
        mag = np.expm1(np.atleast_2d(np.asarray(frames, dtype=np.float64)))
        centroid_khz = mag @ self.transform.frequencies / (mag.sum(axis=1) + 1e-12) / 1000.0
        return np.stack([centroid_khz, np.full_like(centroid_khz, 10.0)], axis=1)


class RandomSpace(CentroidSpace):
    """A fake space deaf to the sound: every frame gets a fresh random point."""

    name = "fake-random"
    regularized = True

    def __init__(self, seed: int = 0):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def encode_frames(self, frames):
        return self.rng.normal(size=(len(np.atleast_2d(frames)), 2))


# --------------------------------------------------------------------------- study alignment
def test_study_baselines_track_brightness(brightness_study):
    table = ev.study_alignment(CentroidSpace(), brightness_study, n_permutations=999,
                               n_boot=200)
    rows = table[table["metric"] == "euclidean"].set_index("representation")
    # the centroid difference IS the ground truth, up to analysis: ~perfect
    assert rows.loc["centroid", "spearman"] > 0.98
    assert rows.loc["centroid", "per_anchor"] > 0.95
    assert rows.loc["centroid", "mantel_p"] <= 0.005


def test_study_alignment_both_protocols(brightness_study):
    table = ev.study_alignment(CentroidSpace(), brightness_study, n_permutations=999,
                               n_boot=200)
    assert list(table.columns) == ev.ALIGNMENT_COLUMNS
    assert list(table["representation"]) == [r for r in ev.REPRESENTATIONS for _ in ag.METRICS]
    assert list(table["metric"]) == list(ag.METRICS) * len(ev.REPRESENTATIONS)
    assert (table["n_stimuli"] == 8).all() and (table["n_pairs"] == 28).all()
    latent = table[(table["representation"] == "latent") & (table["metric"] == "euclidean")]
    latent = latent.iloc[0]
    assert latent["spearman"] > 0.95 and latent["pearson"] > 0.95
    assert latent["per_anchor"] > 0.9 and latent["triplet"] > 0.9
    assert latent["spearman_lo"] <= latent["spearman"] <= latent["spearman_hi"]
    assert latent["per_anchor_lo"] <= latent["per_anchor"] <= latent["per_anchor_hi"]
    assert latent["mantel_p"] <= 0.005
    # one protocol leaves the other's columns empty
    anchor = ev.study_alignment(CentroidSpace(), brightness_study, protocol="per-anchor",
                                metric="cosine", baselines=(), n_boot=50)
    assert len(anchor) == 1 and anchor.loc[0, "metric"] == "cosine"
    assert anchor[["spearman", "pearson", "mantel_p"]].isna().all(axis=None)
    assert np.isfinite(anchor.loc[0, "per_anchor"])
    whole = ev.study_alignment(CentroidSpace(), brightness_study, protocol="whole-matrix",
                               baselines=(), n_permutations=99, n_boot=50)
    assert whole[["per_anchor", "triplet"]].isna().all(axis=None)
    with pytest.raises(ValueError, match="protocol"):
        ev.study_alignment(CentroidSpace(), brightness_study, protocol="pairs")
    with pytest.raises(ValueError, match="metric"):
        ev.study_alignment(CentroidSpace(), brightness_study, metric="manhattan")


def test_study_alignment_mean_pooling(brightness_study):
    table = ev.study_alignment(CentroidSpace(), brightness_study, pooling="mean",
                               baselines=(), n_permutations=199, n_boot=50)
    assert list(table["representation"]) == ["latent", "latent"]
    row = table.set_index("metric").loc["euclidean"]
    assert row["spearman"] > 0.95 and row["pooling"] == "mean"
    with pytest.raises(ValueError, match="pooling"):
        ev.study_alignment(CentroidSpace(), brightness_study, pooling="median")


def test_study_alignment_deaf_space_does_not_agree(brightness_study):
    pvalues = []
    for seed in range(10):
        table = ev.study_alignment(RandomSpace(seed), brightness_study, baselines=(),
                                   metric="euclidean", n_permutations=199, n_boot=20)
        assert abs(table.loc[0, "spearman"]) < 0.7
        assert table.loc[0, "per_anchor"] < 0.7
        pvalues.append(table.loc[0, "mantel_p"])
    assert np.median(pvalues) > 0.1


def test_study_alignment_is_format_invariant(brightness_study, tmp_path):
    # the same sounds as 22,050 Hz mono WAV: same answers for every representation
    uniform = write_brightness_study(tmp_path / "Uniform", uniform=True)
    a = ev.study_alignment(CentroidSpace(), brightness_study, n_permutations=99, n_boot=20)
    b = ev.study_alignment(CentroidSpace(), uniform, n_permutations=99, n_boot=20)
    for key in ("spearman", "pearson", "per_anchor"):
        np.testing.assert_allclose(a[key], b[key], atol=0.05)


def test_study_alignment_follows_sorted_file_order(brightness_study, tmp_path):
    # a relabelled copy (different sorted order, matrix permuted to match) agrees exactly
    order = [5, 2, 7, 0, 3, 6, 1, 4]
    names = [f"{chr(ord('a') + k)}_stimulus" for k in range(8)]
    shuffled = write_brightness_study(tmp_path / "Shuffled", names=names, order=order)
    a = ev.study_alignment(CentroidSpace(), brightness_study, n_permutations=99, n_boot=20)
    b = ev.study_alignment(CentroidSpace(), shuffled, n_permutations=99, n_boot=20)
    np.testing.assert_allclose(a["spearman"], b["spearman"], atol=1e-9)
    np.testing.assert_allclose(np.sort(a["per_anchor"]), np.sort(b["per_anchor"]), atol=1e-9)
    # and a matrix that does NOT follow the file order destroys the agreement
    broken = tmp_path / "Broken"
    shutil.copytree(shuffled, broken)
    np.savetxt(broken / "dissimilarity_matrix.txt", np.triu(ground_truth(), 1), fmt="%.6f")
    c = ev.study_alignment(CentroidSpace(), broken, baselines=(), metric="euclidean",
                           n_permutations=99, n_boot=20)
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
def evaluation(project, brightness_study, tmp_path) -> ev.Evaluation:
    in_target = shutil.copytree(brightness_study, tmp_path / "Grey1977")
    return ev.evaluate([CentroidSpace(), RandomSpace()], [brightness_study, in_target],
                       progress=False, n_permutations=199, n_boot=100)


def test_evaluate_models_table(evaluation):
    table = evaluation.table
    assert list(table.columns) == ev.TABLE_COLUMNS
    assert len(table) == 2 * 2 * len(ev.REPRESENTATIONS) * len(ag.METRICS)
    assert not table.duplicated(["model", "study", "representation", "metric"]).any()
    in_target = table.drop_duplicates("study").set_index("study")["in_target"]
    assert in_target.to_dict() == {"Bright2024": False, "Grey1977": True}
    assert set(table.loc[table["kind"] == "model", "label"]) == {"fake-centroid", "fake-random"}
    assert set(table.loc[table["kind"] == "baseline", "label"]) == \
        {"MFCC mean", "spectral centroid", "spectral frame (stft)", "spectral frame mean (stft)"}
    # model-independent baselines are the same for both models
    mfcc = table[table["representation"] == "mfcc"].groupby(["study", "metric"])["spearman"]
    assert (mfcc.nunique() == 1).all()
    latent = table[(table["representation"] == "latent") & (table["metric"] == "euclidean")]
    good, bad = (latent[latent["model"] == m] for m in ("fake-centroid", "fake-random"))
    assert (good["spearman"].to_numpy() > bad["spearman"].to_numpy() + 0.3).all()
    assert (good["per_anchor"].to_numpy() > bad["per_anchor"].to_numpy() + 0.3).all()


def test_evaluate_pooled_table(evaluation):
    pooled = evaluation.pooled
    assert list(pooled.columns) == ev.POOLED_COLUMNS
    assert len(pooled) == 2 * len(ev.REPRESENTATIONS) * len(ag.METRICS)
    row = pooled[(pooled["label"] == "fake-centroid") & (pooled["metric"] == "euclidean")].iloc[0]
    per_study = evaluation.table[(evaluation.table["label"] == "fake-centroid")
                                 & (evaluation.table["metric"] == "euclidean")]
    # two studies of 8 stimuli each: pooled anchors = mean of the two study means
    assert row["per_anchor"] == pytest.approx(per_study["per_anchor"].mean())
    assert row["spearman"] == pytest.approx(per_study["spearman"].mean())
    assert row["per_anchor_lo"] <= row["per_anchor"] <= row["per_anchor_hi"]
    mfcc = evaluation.table[(evaluation.table["representation"] == "mfcc")
                            & (evaluation.table["metric"] == "euclidean")
                            & (evaluation.table["model"] == "fake-centroid")]
    wins = int((per_study["spearman"].to_numpy() > mfcc["spearman"].to_numpy()).sum())
    assert row["wins_vs_mfcc"] == wins and row["n_studies"] == 2


def test_head_to_head_counts_independent_wins():
    rows = []
    for study, in_target, good, bad, mfcc in (("A", False, 0.5, 0.2, 0.6), ("B", False, 0.4, 0.1, 0.3),
                                              ("C", False, 0.1, 0.3, 0.0), ("D", True, 0.9, 0.0, 0.0)):
        for label, kind, value in (("good", "model", good), ("bad", "model", bad),
                                   ("MFCC mean", "baseline", mfcc)):
            for metric, shift in (("cosine", 0.0), ("euclidean", -1.0)):
                rows.append({"study": study, "in_target": in_target, "label": label,
                             "kind": kind, "metric": metric,
                             "representation": "mfcc" if kind == "baseline" else "latent",
                             "spearman": value + (shift if label == "good" else 0.0)})
    table = pd.DataFrame(rows)
    h2h = ev.head_to_head(table, "good", ["bad", "MFCC mean"])      # cosine by default
    assert h2h["wins"].tolist() == [2, 2] and h2h["n_studies"].tolist() == [3, 3]
    assert h2h["won"].tolist() == ["A, B", "B, C"]
    assert h2h["mean_difference"].tolist() == pytest.approx([0.4 / 3, 0.1 / 3])
    assert ev.head_to_head(table, "good", ["bad"], metric="euclidean")["wins"].tolist() == [0]
    every = ev.head_to_head(table, "good", ["bad"], independent=False)
    assert every["wins"].tolist() == [3] and every["n_studies"].tolist() == [4]
    with pytest.raises(KeyError, match="nope"):
        ev.head_to_head(table, "good", ["nope"])
    # versus_vanilla finds the vanilla twin by transform: "good" is the regularised
    # space of "bad"; a regularised model without a twin meets the baselines only;
    # a listener space is nobody's twin
    table["transform"] = "stft"
    table["regularized"] = table["label"] == "good"
    table["model"] = table["label"]
    lone = table[table["label"] == "good"].assign(label="lone", model="lone", transform="dct")
    listener = table[table["label"] == "bad"].assign(label="x-listener", model="x-listener")
    table = pd.concat([table, lone, listener], ignore_index=True)
    versus = ev.versus_vanilla(table)
    assert versus[["model", "rival", "wins"]].values.tolist() == [
        ["good", "bad", 2], ["good", "MFCC mean", 2], ["lone", "MFCC mean", 2]]
    assert list(ev.versus_vanilla(table[~table["regularized"]]).columns) == \
        ev.HEAD_TO_HEAD_COLUMNS


def test_evaluate_models_defaults_to_every_study(project):
    table = ev.evaluate_models(CentroidSpace(), progress=False, n_permutations=49, n_boot=20,
                               baselines=("centroid",))
    assert sorted(table["study"].unique()) == ["Toy2024", "Toy2025"]
    assert set(table["n_stimuli"]) == {5, 4}


def test_plot_and_write_tables(evaluation, tmp_path):
    from vts.app.listener_plots import plot_alignment

    table = evaluation.table
    fig = plot_alignment(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Bright2024", "Grey1977"]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["fake-centroid", "fake-random", "MFCC mean", "spectral centroid",
                    "spectral frame (stft)", "spectral frame mean (stft)"]
    # every cell is printed, cosine by default, with a star where the Mantel test rejects
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts if t.get_position()[1] >= 0}
    good = table[(table["label"] == "fake-centroid") & (table["study"] == "Bright2024")
                 & (table["metric"] == "cosine")].iloc[0]
    expected = f"{good['spearman']:.2f}" + ("*" if good["mantel_p"] < 0.05 else "")
    assert cells[(0, 0)] == expected
    assert len(cells) == 6 * 2
    anchor = plot_alignment(table, "per_anchor", metric="euclidean")
    texts = [t.get_text() for t in anchor.axes[0].texts]
    assert not any("*" in t for t in texts)
    csv_path, pooled_path = ev.write_tables(evaluation, tmp_path / "eval.csv")
    assert pooled_path == tmp_path / "eval_pooled.csv"
    back = pd.read_csv(csv_path)
    np.testing.assert_allclose(back["spearman"], table["spearman"])
    assert list(back.columns) == ev.TABLE_COLUMNS
    pooled = pd.read_csv(pooled_path)
    assert list(pooled.columns) == ev.POOLED_COLUMNS
    assert not [p for p in csv_path.parent.iterdir() if p.name.startswith(".")]


def test_main_evaluate(project, brightness_study, tmp_path, capsys):
    in_target = shutil.copytree(brightness_study, tmp_path / "McAdams1995")
    out = tmp_path / "out" / "eval.csv"
    code = ev.main_evaluate([CentroidSpace()], [brightness_study, in_target], out,
                            n_permutations=99, n_boot=20, progress=False)
    assert code == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * len(ev.REPRESENTATIONS) * len(ag.METRICS)
    assert (out.parent / "eval_pooled.csv").is_file()
    printed = capsys.readouterr().out
    assert "Bright2024" in printed and "McAdams1995 *" in printed
    assert "fake-centroid" in printed and "MFCC mean" in printed
    assert "Per-anchor Spearman" in printed and "Whole-matrix Spearman" in printed
    assert str(out) in printed
    ev.main_evaluate([CentroidSpace()], [brightness_study, in_target], out, protocol="per-anchor",
                     metric="cosine", pooling="mean", n_boot=20, progress=False)
    table = pd.read_csv(out)
    assert set(table["metric"]) == {"cosine"} and table["spearman"].isna().all()
    assert set(table["pooling"]) == {"mean"}
    printed = capsys.readouterr().out
    assert "Whole-matrix" not in printed and "Per-anchor Spearman" in printed
    with pytest.raises(FileNotFoundError):
        ev.main_evaluate([CentroidSpace()], [tmp_path / "nowhere"], out, progress=False)


# --------------------------------------------------------------------------- a real tiny space
def test_study_alignment_with_trained_smoke_space(space, synthetic_root):
    study_dir = synthetic_root / "timbre" / "studies" / "Toy2024"      # 44.1 kHz stereo AIFF
    table = ev.study_alignment(space, study_dir, n_permutations=199, n_boot=50)
    assert list(table["representation"].unique()) == list(ev.REPRESENTATIONS)
    assert (table["n_stimuli"] == 5).all()
    # the latent row is what the space's own analysis path (encode_audio) gives
    stimuli = sorted((study_dir / "stimuli").glob("*.aiff"))
    z = space.encode_audio([str(p) for p in stimuli])
    assert z.shape == (5, space.latent_dim)
    iu = np.triu_indices(5, 1)
    latent = np.linalg.norm(z[:, None] - z[None], axis=-1)[iu]
    listeners = np.loadtxt(study_dir / "dissimilarity_matrix.txt")[iu]
    expected = spearmanr(latent, listeners).statistic
    row = table[(table["representation"] == "latent") & (table["metric"] == "euclidean")]
    assert row["spearman"].iloc[0] == pytest.approx(expected, abs=1e-6)
    assert 0 < row["mantel_p"].iloc[0] <= 1
