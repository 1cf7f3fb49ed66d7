"""Tests of vts.stimuli: the baselines, the poolings, a space's codes of a stimulus."""
from __future__ import annotations

import numpy as np
import pytest

import synthetic
from vts import stimuli as st
from vts.dsp import get_transform

F0_HZ = 150.0
FORMANT = 0.5


# --------------------------------------------------------------------------- baselines
def test_spectral_centroid_of_sinusoid():
    t = np.arange(22050) / 22050
    sine = (np.sin(2 * np.pi * 1000 * t) * np.minimum(1, np.minimum(t, 1 - t) / 0.02)).astype(
        np.float32)                                         # 20 ms fade-in and fade-out
    assert st.spectral_centroid_hz(sine) == pytest.approx(1000, rel=0.03)
    # silence around the sound (silent frames) does not pull the mean
    padded = np.concatenate([np.zeros(11025, np.float32), sine, np.zeros(22050, np.float32)])
    assert st.spectral_centroid_hz(padded) == pytest.approx(1000, rel=0.03)


def test_mfcc_mean_ignores_silence():
    tone = synthetic.tone(F0_HZ, 0.5, 0.5, FORMANT, sample_rate=22050)
    padded = np.concatenate([tone, np.zeros(22050, np.float32)])      # 1 s of trailing silence
    other = synthetic.tone(F0_HZ, 0.5, 1.0, FORMANT, sample_rate=22050)
    a, b, c = st.mfcc_mean(tone), st.mfcc_mean(padded), st.mfcc_mean(other)
    assert a.shape == (st.N_MFCC,)
    assert np.linalg.norm(a - b) < 0.1 * np.linalg.norm(a - c)


def test_mfcc_padded_pads_each_pair_to_its_longer_sound():
    signals = [synthetic.tone(F0_HZ * (1 + k / 7), s, 0.2 * k, FORMANT, sample_rate=22050,
                              seed=k) for k, s in enumerate((0.3, 0.5, 0.9, 0.4))]
    d = st.mfcc_padded_distances(signals, "cosine")
    # pair (0, 3) by hand: both zero-padded to the longer one (0.4 s), frames flattened
    n = max(len(signals[0]), len(signals[3]))
    frames = int(np.ceil(n / st.MFCC_HOP))
    a = st.mfcc_frames(np.pad(signals[0], (0, len(signals[2]) - len(signals[0]))))[:frames]
    b = st.mfcc_frames(np.pad(signals[3], (0, len(signals[2]) - len(signals[3]))))[:frames]
    a, b = a.ravel(), b.ravel()
    assert d[0, 3] == pytest.approx(1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert np.allclose(d, d.T) and np.allclose(np.diag(d), 0)


# --------------------------------------------------------------------------- poolings
def toy_codes(mu, active=None, attack=None, var=None, frames=None, hop=0.01):
    """A StimulusCodes from hand-made per-frame codes (frames = codes unless given)."""
    mu = np.asarray(mu, dtype=float)
    k = len(mu)
    active = np.ones(k, bool) if active is None else np.asarray(active, dtype=bool)
    attack = np.zeros(k, bool) if attack is None else np.asarray(attack, dtype=bool)
    frames = mu.copy() if frames is None else np.asarray(frames, dtype=float)
    var = None if var is None else np.asarray(var, dtype=float)
    return st.StimulusCodes(frame=frames[0] * 10, all_frames=frames, active=active,
                            attack=attack, mu0=mu[0] * 10, var0=None if var is None else var[0],
                            all_mu=mu, all_var=var, silence_frame=np.full(mu.shape[1], -1.0),
                            silence_mu=np.full(mu.shape[1], -2.0), hop_seconds=hop)


def test_pool_hand_computed():
    c = toy_codes([[1, 0], [3, 2], [5, 4], [100, 100]], active=[1, 1, 1, 0],
                  attack=[1, 0, 0, 0])
    (sus,), (mean,), (ms,), (att,), (ma,), (thirds,) = (
        st.pool([c], p) for p in st.POOLINGS)
    np.testing.assert_allclose(sus, [10, 0])                 # the sustained frame's code
    np.testing.assert_allclose(mean, [3, 2])                 # inactive frame left out
    np.testing.assert_allclose(ms, [3, 2, np.std([1, 3, 5]), np.std([0, 2, 4])])
    np.testing.assert_allclose(att, [1, 0])
    np.testing.assert_allclose(ma, [3, 2, 1, 0])
    np.testing.assert_allclose(thirds, [1, 0, 3, 2, 5, 4])
    np.testing.assert_allclose(st.pool([c], "mean", "frame")[0], [3, 2])
    with pytest.raises(ValueError, match="pooling"):
        st.pool([c], "median")


def test_pooled_posterior_moment_matches_the_mixture():
    c = toy_codes([[0.0], [2.0], [9.0]], active=[1, 1, 0], var=[[1.0], [3.0], [5.0]])
    m, v = st.pooled_posterior([c], "mean")
    assert m[0, 0] == pytest.approx(1.0)
    assert v[0, 0] == pytest.approx(2.0 + 1.0)              # mean variance + variance of means
    m0, v0 = st.pooled_posterior([c], "sustained")
    assert m0[0, 0] == 0.0 and v0[0, 0] == 1.0
    with pytest.raises(ValueError, match="posterior"):
        st.pooled_posterior([toy_codes([[1.0]])], "mean")


def test_trajectory_blocks_and_padded_distances():
    c = toy_codes(np.arange(10, dtype=float)[:, None], hop=0.005)   # 5 frames per 25 ms block
    traj = st.trajectory(c, "code")
    np.testing.assert_allclose(traj[:, 0], [2.0, 7.0])
    short = toy_codes(np.arange(7, dtype=float)[:, None], hop=0.005)  # padded with silence (-2)
    np.testing.assert_allclose(st.trajectory(short, "code")[:, 0], [2.0, (5 + 6 - 6) / 5])
    seqs = [np.array([[1.0], [1.0]]), np.array([[1.0]]), np.array([[2.0], [0.0], [1.0]])]
    d = st.padded_distances(seqs, "euclidean", pad=0.0)
    assert d[0, 1] == pytest.approx(1.0)                     # (1,1) vs (1,0)
    assert d[0, 2] == pytest.approx(np.linalg.norm([1 - 2, 1 - 0, 0 - 1]))
    cos = st.padded_distances(seqs, "cosine", pad=0.0)
    assert cos[0, 1] == pytest.approx(1 - 1 / np.sqrt(2))
    with pytest.raises(ValueError, match="width"):
        st.padded_distances([np.ones((2, 1)), np.ones((2, 2)), np.ones((1, 1))], "cosine")


def test_dimension_kl_and_active_dims():
    class Model:                                           # mu = x[:, :3], logvar fixed
        def encode(self, x):
            import torch

            return x[:, :3], torch.log(torch.tensor([1.0, 0.25, 1.0])).expand(len(x), 3)

    class Space:
        model = Model()

    frames = np.zeros((4, 5))
    frames[:, 0] = [1, -1, 1, -1]                          # dim 0: mu^2 = 1, var 1 -> 0.5 nat
    kl = st.dimension_kl(Space(), frames)
    expected_1 = 0.5 * (0.25 - np.log(0.25) - 1)           # dim 1: mu 0, var 1/4
    np.testing.assert_allclose(kl, [0.5, expected_1, 0.0], atol=1e-6)
    np.testing.assert_array_equal(st.active_dims(Space(), frames, threshold=0.4), [0])
    np.testing.assert_array_equal(st.active_dims(Space(), frames, threshold=0.1), [0, 1])
    with pytest.raises(ValueError, match="no latent dimension"):
        st.active_dims(Space(), frames, threshold=5.0)


@pytest.fixture(scope="module")
def toy_studies(synthetic_root):
    return st.load_studies([synthetic_root / "timbre" / "studies" / s
                            for s in ("Toy2024", "Toy2025")])


def test_encode_stimulus_matches_the_space(space, toy_studies):
    study = toy_studies[0]
    codes = st.encode_study(space, study)
    assert len(codes) == len(study)
    c = codes[0]
    np.testing.assert_allclose(c.mu0, space.encode_audio(study.signals[0]), atol=1e-5)
    np.testing.assert_allclose(c.mu, space.encode_frames(c.frames), atol=1e-5)
    assert c.var0 is not None and (c.var > 0).all()
    assert c.attack.sum() >= 1 and not (c.attack & ~c.active).any()
    assert c.all_frames.shape[0] == c.active.shape[0] > c.frames.shape[0] - 1


def test_a_study_is_analysed_once_per_transform(space, synthetic_root, monkeypatch):
    study = st.load_study_audio(synthetic_root / "timbre" / "studies" / "Toy2024")
    calls = []
    analyse = st.analyse_stimulus

    def counted(audio, transform):
        calls.append(transform)
        return analyse(audio, transform)

    monkeypatch.setattr(st, "analyse_stimulus", counted)
    first = st.encode_study(space, study)
    again = st.encode_study(space, study)      # a second space of the same transform
    assert len(calls) == len(study)
    # the shared analysis gives what analysing each stimulus afresh gives
    for c, d, signal in zip(first, again, study.signals):
        fresh = st.encode_stimulus(space, signal)
        for got in (c, d):
            np.testing.assert_array_equal(got.mu0, fresh.mu0)
            np.testing.assert_array_equal(got.all_mu, fresh.all_mu)
            np.testing.assert_array_equal(got.active, fresh.active)
    assert len(calls) == 2 * len(study)        # encode_stimulus without a study analyses

    class OtherTransform:                      # a stand-in space of another transform
        transform = get_transform("stft")

        def normalize(self, magnitude):
            return np.log1p(np.asarray(magnitude))

        def encode_frames(self, frames):
            return np.asarray(frames)[:, :2]

    other = st.encode_study(OtherTransform(), study)
    assert len(calls) == 3 * len(study)        # a new transform is analysed anew
    assert other[0].all_frames.shape[1] == get_transform("stft").n_bins != \
        first[0].all_frames.shape[1]
    assert first[0].all_frames.shape == st.encode_study(space, study)[0].all_frames.shape
