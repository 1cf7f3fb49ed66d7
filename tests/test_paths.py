import numpy as np
import pytest

from vts import paths as S
from vts.dsp import get_transform
from vts.dsp.descriptors import DESCRIPTORS, centroid


# -- a fake space whose decoder is analytic -------------------------------------------
def bump_centre(z0):
    """Centre (Hz) of the decoded bump: 3000 + 2000 tanh(z0), in (1000, 5000)."""
    return 3000.0 + 2000.0 * np.tanh(z0)


def bump_width(z1):
    """Width (Hz) of the decoded bump: 200 exp(0.5 tanh(z1)), in (121, 330)."""
    return 200.0 * np.exp(0.5 * np.tanh(z1))


class BumpSpace:
    """decode(z) = a Gaussian bump (linear magnitudes) on the real STFT grid, centred at
    ``bump_centre(z[0])`` with width ``bump_width(z[1])``; PCA = the first three latent axes."""

    latent_dim = 4

    def __init__(self, codes=None):
        self.transform = get_transform("stft")
        self._codes = codes

    def decode_magnitude(self, z):
        z = np.asarray(z, dtype=np.float64)
        single = z.ndim == 1
        z = np.atleast_2d(z)
        f = self.transform.frequencies[None, :]
        mag = np.exp(-0.5 * ((f - bump_centre(z[:, :1])) / bump_width(z[:, 1:2])) ** 2)
        return (mag[0] if single else mag).astype(np.float32)

    def encode_magnitude(self, mag):                 # (n_bins, n_frames) -> (n_frames, d)
        c = centroid(np.asarray(mag).T, self.transform.frequencies)
        z = np.zeros((c.size, self.latent_dim))
        z[:, 0] = np.arctanh(np.clip((c - 3000.0) / 2000.0, -0.999, 0.999))
        return z

    def codes(self, split="train"):
        return self._codes

    def to_pca(self, z):
        return np.asarray(z)[..., :3]

    def from_pca(self, p):
        p = np.atleast_2d(p)
        return np.hstack([p, np.zeros((p.shape[0], 1))])


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


# -- PCA planes --------------------------------------------------------------------------------
def test_plane_grid_shape_and_values():
    grid = S.plane_grid(1)
    assert grid.shape == (6, 50, 50, 3)
    g = np.linspace(-1, 1, 50)
    np.testing.assert_array_equal(grid[..., 1], np.broadcast_to(
        np.array([-.75, -.45, -.15, .15, .45, .75])[:, None, None], (6, 50, 50)))
    np.testing.assert_array_equal(grid[2, :, 7, 0], g)        # rows follow axis 0
    np.testing.assert_array_equal(grid[2, 11, :, 2], g)       # columns follow axis 2
    small = S.plane_grid(2, positions=(0.5,), n=3, extent=2.0)
    np.testing.assert_array_equal(small[0, 0, 2], [-2.0, 2.0, 0.5])
    with pytest.raises(ValueError, match="axis"):
        S.plane_grid(3)


def test_pca_scale_from_codes():
    codes = np.array([[0.5, -3.0, 1.0, 9.0], [-2.0, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(S.pca_scale(BumpSpace(codes)), [2.0, 3.0, 1.0])


def test_descriptor_topology_on_an_analytic_space():
    codes = np.array([[1.5, 0.2, 0.1, 0.0], [-0.5, -0.4, 0.3, 0.0]])     # scale (1.5, 0.4, 0.3)
    space = BumpSpace(codes)
    positions = (-0.75, 0.15, 0.75)
    planes = S.descriptor_topology(space, axis=0, positions=positions, n=6, batch_size=7)
    assert set(planes) == set(DESCRIPTORS)
    assert all(v.shape == (3, 6, 6) for v in planes.values())
    expected = bump_centre(1.5 * np.array(positions))[:, None, None]
    np.testing.assert_allclose(planes["centroid"], np.broadcast_to(expected, (3, 6, 6)), atol=0.5)
    # planes along PCA z: rows follow x (centroid via z0), columns follow y (width via z1)
    across = S.descriptor_topology(space, axis=2, positions=(0.0,), n=5)
    g = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(across["centroid"][0], np.tile(bump_centre(1.5 * g)[:, None], (1, 5)),
                               atol=0.5)
    np.testing.assert_allclose(across["bandwidth"][0], np.tile(bump_width(0.4 * g)[None, :], (5, 1)),
                               rtol=0.01)


# -- Algorithm 1 --------------------------------------------------------------------------------
def test_target_curves():
    down = S.descending_curve(100.0, -50.0, 4)
    np.testing.assert_allclose(down, [100, 50, 0, -50])
    up = S.log_curve(0.0, 1.0, 3)
    np.testing.assert_allclose(up, [0.0, np.log10(5.5), 1.0])
    longer = S.log_curve(10.0, 50.0, 20)
    assert longer[0] == 10.0 and longer[-1] == 50.0
    assert np.all(np.diff(longer) > 0) and np.all(np.diff(longer, 2) < 0)   # ascending, concave
    with pytest.raises(ValueError, match="descending"):
        S.descending_curve(0.0, 1.0, 5)


def test_descriptor_synthesis_follows_a_descending_centroid():
    space = BumpSpace()
    origin = np.zeros(4)                                   # centroid 3000 Hz
    target = S.descending_curve(0.0, -1500.0, 16)          # relative: down to 1500 Hz
    result = S.descriptor_synthesis(space, origin, target, "centroid", n_candidates=64,
                                    radius=0.3, seed=0)
    assert result.latents.shape == (16, 4) and result.spectra.shape == (16, space.transform.n_bins)
    assert np.array_equal(result.latents[0], origin)
    np.testing.assert_allclose(result.targets, np.linspace(3000, 1500, 16), atol=0.5)
    assert result.rmse < 25.0 and result.max_error < 60.0
    # independent check through the analytic decoder: the chosen codes' bump centres
    np.testing.assert_allclose(bump_centre(result.latents[:, 0]), np.linspace(3000, 1500, 16),
                               atol=60.0)
    # only the curve's changes matter in relative mode
    same = S.descriptor_synthesis(space, origin, target + 777.0, "centroid", n_candidates=64,
                                  radius=0.3, seed=0)
    np.testing.assert_allclose(same.latents, result.latents)
    table = result.table()
    assert list(table.columns) == ["step", "target", "value", "error"] and len(table) == 16


def test_descriptor_synthesis_follows_an_ascending_log_bandwidth():
    space = BumpSpace()
    target = S.log_curve(0.0, 90.0, 12)                    # 200 Hz -> 290 Hz, log-shaped
    result = S.descriptor_synthesis(space, np.zeros(4), target, "bandwidth", n_candidates=64,
                                    radius=0.3, seed=1)
    assert result.rmse < 5.0
    np.testing.assert_allclose(bump_width(result.latents[:, 1]), 200 + target, atol=10.0)


def test_descriptor_synthesis_reports_an_impossible_target():
    space = BumpSpace()
    target = S.descending_curve(0.0, -4000.0, 16)          # down to -1000 Hz: unreachable
    result = S.descriptor_synthesis(space, np.zeros(4), target, "centroid", n_candidates=32,
                                    radius=0.4, seed=0)
    assert np.all(result.values > 990.0)                   # the decoder cannot go below 1000 Hz
    assert result.values[-1] < 1100.0                      # it went as far as it could
    assert result.errors[-1] > 1990.0                      # and the gap is reported
    assert result.max_error == pytest.approx(np.max(np.abs(result.values[1:] - result.targets[1:])))
    assert result.rmse > 500.0


def test_descriptor_synthesis_absolute_targets_and_resampling():
    space = BumpSpace()
    result = S.descriptor_synthesis(space, np.zeros(4), [2500.0, 2000.0], "centroid", n_steps=5,
                                    relative=False, n_candidates=128, radius=0.8)
    assert result.latents.shape == (6, 4)
    np.testing.assert_allclose(result.targets, np.linspace(2500, 2000, 6))
    assert result.errors[0] == pytest.approx(500.0, abs=0.5)     # the origin cannot move
    assert result.max_error < 60.0
    with pytest.raises(ValueError, match="unknown descriptor"):
        S.descriptor_synthesis(space, np.zeros(4), [0, 1], "brightness")
    with pytest.raises(ValueError, match="target_curve"):
        S.descriptor_synthesis(space, np.zeros(4), [0.0])


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
    np.testing.assert_allclose(S.pca_scale(space), np.abs(independent).max(axis=0), rtol=1e-6)
    planes = S.descriptor_topology(space, axis=1, positions=(0.15,), n=4)
    assert planes["centroid"].shape == (1, 4, 4)
    assert np.all((planes["centroid"] > 64) & (planes["centroid"] < 8000))
    result = S.descriptor_synthesis(space, codes[0], S.descending_curve(0, -100, 4),
                                    n_candidates=8, radius=1.0)
    recomputed = compute("centroid", space.decode_magnitude(result.latents.astype(np.float32)),
                         transform.frequencies)
    np.testing.assert_allclose(result.values, recomputed, rtol=1e-6)
    audio = S.path_audio(space, S.spherical_path(codes[0], codes[1], 8), seconds=0.3, n_iter=2)
    assert audio.dtype == np.float32 and audio.shape == (round(0.3 * 22050),)
