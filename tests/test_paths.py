import numpy as np
import pytest

from synthetic import BumpSpace, bump_centre
from vts import paths as S
from vts import topology as T
from vts.dsp import get_transform
from vts.dsp.descriptors import centroid


# -- paths ----------------------------------------------------------------------------------
def test_linear_path_endpoints_and_midpoint():
    a, b = np.array([1.0, -2.0, 0.5]), np.array([3.0, 4.0, -0.5])
    path = S.linear_path(a, b, 5)
    assert path.shape == (5, 3)
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    np.testing.assert_allclose(path[2], [2.0, 1.0, 0.0])
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile((b - a) / 4, (4, 1)))
    with pytest.raises(ValueError, match="same shape"):
        S.linear_path(a, b[:2])
    with pytest.raises(ValueError, match="n_points"):
        S.linear_path(a, b, 1)


def test_slerp_quarter_circle_by_hand():
    path = S.spherical_path([2.0, 0.0], [0.0, 2.0], 3)
    np.testing.assert_allclose(path, [[2, 0], [np.sqrt(2), np.sqrt(2)], [0, 2]], atol=1e-12)


def test_slerp_equal_norms_is_classical_slerp_and_keeps_the_norm():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(8), rng.standard_normal(8)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = S.spherical_path(a, b, 9)
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-12)
    omega = np.arccos(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    t = np.linspace(0, 1, 9)[:, None]
    shoemake = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    np.testing.assert_allclose(path, shoemake, atol=1e-12)
    # constant angular speed
    unit = path / np.linalg.norm(path, axis=1, keepdims=True)
    steps = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(steps, omega / 8, rtol=1e-6)


def test_slerp_unequal_norms_stay_between_endpoint_norms():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(6), 3 * rng.standard_normal(6)
    norms = np.linalg.norm(S.spherical_path(a, b, 11), axis=1)
    np.testing.assert_allclose(norms, np.linspace(np.linalg.norm(a), np.linalg.norm(b), 11),
                               rtol=1e-12)


def test_slerp_degenerate_cases():
    a = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(S.spherical_path(a, 3 * a, 6), S.linear_path(a, 3 * a, 6))
    zero = np.zeros(3)
    np.testing.assert_allclose(S.spherical_path(zero, a, 4), S.linear_path(zero, a, 4))
    # antiparallel: not through the origin; norm kept, midpoint orthogonal to a
    path = S.spherical_path(a, -a, 5)
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], -a)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-12)
    assert abs(path[2] @ a) < 1e-9
    np.testing.assert_allclose(S.spherical_path([2.0], [-1.0], 4), [[2], [1], [0], [-1]], atol=1e-12)


def test_expressive_path_by_hand():
    A = np.array([[0.0, 0.0], [2.0, 0.0]])           # mean (1, 0)
    B = np.array([[0.0, 1.0], [0.0, 3.0]])           # mean (0, 2)
    path = S.expressive_path(A, B, 3, scale=0.5, kind="linear")
    # base (1,0) (.5,1) (0,2); deviations A: (-1,0) (0,0) (1,0), B: (0,-1) (0,0) (0,1)
    # weights (1-t, t) = (1,0) (.5,.5) (0,1)
    np.testing.assert_allclose(path, [[0.5, 0.0], [0.5, 1.0], [0.0, 2.5]])


def test_expressive_path_reduces_to_base_and_carries_the_notes():
    rng = np.random.default_rng(2)
    za, zb = rng.standard_normal(5), rng.standard_normal(5)
    flat_a, flat_b = np.tile(za, (7, 1)), np.tile(zb, (4, 1))
    np.testing.assert_allclose(S.expressive_path(flat_a, flat_b, 12), S.spherical_path(za, zb, 12),
                               atol=1e-12)
    A, B = rng.standard_normal((9, 5)), rng.standard_normal((6, 5))
    np.testing.assert_allclose(S.expressive_path(A, B, 10, scale=0.0),
                               S.spherical_path(A.mean(0), B.mean(0), 10), atol=1e-12)
    full = S.expressive_path(A, B, 10, scale=1.0)
    np.testing.assert_allclose(full[0], A[0], atol=1e-12)
    np.testing.assert_allclose(full[-1], B[-1], atol=1e-12)
    # explicit sustained codes as base end points
    custom = S.expressive_path(A, B, 10, scale=0.0, z_a=za, z_b=zb)
    np.testing.assert_allclose(custom, S.spherical_path(za, zb, 10), atol=1e-12)
    with pytest.raises(ValueError, match="kind"):
        S.expressive_path(A, B, 10, kind="cubic")


def test_resample_trajectory_keeps_a_ramp_linear():
    ramp = np.linspace(0, 1, 4)[:, None] * np.array([[2.0, -4.0]])
    out = S.resample_trajectory(ramp, 7)
    np.testing.assert_allclose(out, np.linspace(0, 1, 7)[:, None] * np.array([[2.0, -4.0]]),
                               atol=1e-12)


def test_path_frames_glide_and_steps():
    path = np.array([[0.0], [1.0], [3.0]])
    np.testing.assert_allclose(S.path_frames(path, 5, "glide")[:, 0], [0, 0.5, 1, 2, 3])
    np.testing.assert_allclose(S.path_frames(path, 6, "steps")[:, 0], [0, 0, 1, 1, 3, 3])


def test_spectral_distance():
    rng = np.random.default_rng(4)
    a = rng.random((5, 30)) + 0.1
    assert S.spectral_distance(a, a) == 0.0
    assert S.spectral_distance(a, 2 * a) == pytest.approx(20 * np.log10(2), abs=1e-9)
    per = S.spectral_distance(a, np.vstack([a[:4], 10 * a[4:]]), per_frame=True)
    np.testing.assert_allclose(per, [0, 0, 0, 0, 20], atol=1e-9)
    with pytest.raises(ValueError, match="same shape"):
        S.spectral_distance(a, a[:, :10])


def test_paths_on_the_fake_space_linear_vs_spherical_spectra():
    space = BumpSpace()
    a, b = np.array([-0.5, 0.2, 0, 0]), np.array([0.5, 0.2, 0, 0])
    lin = S.path_spectra(space, S.linear_path(a, b, 8))
    assert lin.shape == (8, space.transform.n_bins)
    # antiparallel in z0 only: slerp turns through another axis, so spectra differ in the middle
    sph = S.path_spectra(space, S.spherical_path(a, b, 8))
    assert S.spectral_distance(lin[[0, -1]], sph[[0, -1]]) == 0.0
    assert S.spectral_distance(lin, sph) > 1.0
    np.testing.assert_allclose(S.path_descriptors(space, S.linear_path(a, b, 8))["centroid"],
                               bump_centre(np.linspace(-0.5, 0.5, 8)), atol=0.5)


# -- sounds ----------------------------------------------------------------------------------
def _centroid_track(audio, transform):
    mag = transform.magnitude(audio)
    return centroid(mag.T, transform.frequencies)


def test_path_audio_moves_along_the_path():
    space = BumpSpace()
    z_low, z_high = np.array([-1.0, 0, 0, 0]), np.array([1.0, 0, 0, 0])   # 1477 Hz -> 4523 Hz
    path = S.linear_path(z_low, z_high, 8)
    audio = S.path_audio(space, path, seconds=0.6, n_iter=16)
    assert audio.dtype == np.float32 and audio.shape == (round(0.6 * 22050),)
    track = _centroid_track(audio, space.transform)
    n = track.size
    assert abs(np.median(track[2:n // 8]) - bump_centre(-1.0)) < 250
    assert abs(np.median(track[-n // 8:-2]) - bump_centre(1.0)) < 250
    stepped = S.path_audio(space, path, seconds_per_point=0.1, mode="steps", n_iter=4)
    assert stepped.shape == (round(0.8 * 22050),)
    with pytest.raises(ValueError, match="exactly one"):
        S.path_audio(space, path)
    with pytest.raises(ValueError, match="exactly one"):
        S.path_audio(space, path, seconds=1.0, seconds_per_point=0.1)


def test_one_point_path_holds_the_decoded_spectrum():
    space = BumpSpace()
    audio = S.path_audio(space, np.array([[0.3, 0, 0, 0]]), seconds=0.4, n_iter=16)
    assert audio.shape == (round(0.4 * 22050),)
    track = _centroid_track(audio, space.transform)
    assert abs(np.median(track) - bump_centre(0.3)) < 150


def test_note_trajectory_trims_silence():
    space = BumpSpace()
    sr = 22050
    tone = np.sin(2 * np.pi * 2000 * np.arange(int(0.5 * sr)) / sr)
    silence = np.zeros(int(0.5 * sr))
    trajectory = S.note_trajectory(space, np.concatenate([silence, tone, silence]).astype(np.float32))
    hop = space.transform.hop_seconds
    assert abs(trajectory.shape[0] - 0.5 / hop) <= 6        # ~50 frames of the tone only
    middle = trajectory[trajectory.shape[0] // 2, 0]
    assert bump_centre(middle) == pytest.approx(2000, abs=60)


# -- with the real TimbreSpace (small untrained VAE, real NSGT-ERB transform) ----------------
def test_integration_with_a_real_timbre_space():
    import pandas as pd
    import torch
    from sklearn.decomposition import PCA

    from vts.dsp import Normalizer
    from vts.dsp.descriptors import compute
    from vts.model import VAE, ModelConfig
    from vts.space import TimbreSpace

    torch.manual_seed(0)
    transform = get_transform("nsgt-erb")
    cfg = ModelConfig(input_dim=transform.n_bins, hidden_units=32, n_hidden_layers=2, latent_dim=8)
    codes = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    latents = pd.DataFrame(codes, columns=[f"z{i}" for i in range(8)])
    latents["split"], latents["instrument"] = "train", ["a", "b"] * 10
    latents["note_id"] = [str(i) for i in range(20)]
    space = TimbreSpace("unused", {"transform": "nsgt-erb", "model": cfg.to_dict()}, VAE(cfg),
                        Normalizer(ref=1e-3, offset=0.0, scale=1.0), latents,
                        latents[["note_id", "instrument", "split"]], pd.DataFrame())
    independent = PCA(n_components=3, svd_solver="full").fit_transform(codes.astype(np.float64))
    np.testing.assert_allclose(T.pca_scale(space), np.abs(independent).max(axis=0), rtol=1e-6)
    planes = T.descriptor_topology(space, axis=1, positions=(0.15,), n=4)
    assert planes["centroid"].shape == (1, 4, 4)
    assert np.all((planes["centroid"] > 64) & (planes["centroid"] < 8000))
    result = T.descriptor_synthesis(space, codes[0], T.descending_curve(0, -100, 4),
                                    n_candidates=8, radius=1.0)
    recomputed = compute("centroid", space.decode_magnitude(result.latents.astype(np.float32)),
                         transform.frequencies)
    np.testing.assert_allclose(result.values, recomputed, rtol=1e-6)
    audio = S.path_audio(space, S.spherical_path(codes[0], codes[1], 8), seconds=0.3, n_iter=2)
    assert audio.dtype == np.float32 and audio.shape == (round(0.3 * 22050),)
