"""Tests of vts.topology: descriptors on PCA planes and Algorithm 1, on an analytic space."""
import numpy as np
import pytest

from synthetic import BumpSpace, bump_centre, bump_width
from vts import topology as T
from vts.dsp.descriptors import DESCRIPTORS


# -- PCA planes --------------------------------------------------------------------------------
def test_plane_grid_shape_and_values():
    grid = T.plane_grid(1)
    assert grid.shape == (6, 50, 50, 3)
    g = np.linspace(-1, 1, 50)
    np.testing.assert_array_equal(grid[..., 1], np.broadcast_to(
        np.array([-.75, -.45, -.15, .15, .45, .75])[:, None, None], (6, 50, 50)))
    np.testing.assert_array_equal(grid[2, :, 7, 0], g)        # rows follow axis 0
    np.testing.assert_array_equal(grid[2, 11, :, 2], g)       # columns follow axis 2
    small = T.plane_grid(2, positions=(0.5,), n=3, extent=2.0)
    np.testing.assert_array_equal(small[0, 0, 2], [-2.0, 2.0, 0.5])
    with pytest.raises(ValueError, match="axis"):
        T.plane_grid(3)


def test_pca_scale_from_codes():
    codes = np.array([[0.5, -3.0, 1.0, 9.0], [-2.0, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(T.pca_scale(BumpSpace(codes)), [2.0, 3.0, 1.0])


def test_descriptor_topology_on_an_analytic_space():
    codes = np.array([[1.5, 0.2, 0.1, 0.0], [-0.5, -0.4, 0.3, 0.0]])     # scale (1.5, 0.4, 0.3)
    space = BumpSpace(codes)
    positions = (-0.75, 0.15, 0.75)
    planes = T.descriptor_topology(space, axis=0, positions=positions, n=6, batch_size=7)
    assert set(planes) == set(DESCRIPTORS)
    assert all(v.shape == (3, 6, 6) for v in planes.values())
    expected = bump_centre(1.5 * np.array(positions))[:, None, None]
    np.testing.assert_allclose(planes["centroid"], np.broadcast_to(expected, (3, 6, 6)), atol=0.5)
    # planes along PCA z: rows follow x (centroid via z0), columns follow y (width via z1)
    across = T.descriptor_topology(space, axis=2, positions=(0.0,), n=5)
    g = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(across["centroid"][0], np.tile(bump_centre(1.5 * g)[:, None], (1, 5)),
                               atol=0.5)
    np.testing.assert_allclose(across["bandwidth"][0], np.tile(bump_width(0.4 * g)[None, :], (5, 1)),
                               rtol=0.01)


# -- Algorithm 1 --------------------------------------------------------------------------------
def test_target_curves():
    down = T.descending_curve(100.0, -50.0, 4)
    np.testing.assert_allclose(down, [100, 50, 0, -50])
    up = T.log_curve(0.0, 1.0, 3)
    np.testing.assert_allclose(up, [0.0, np.log10(5.5), 1.0])
    longer = T.log_curve(10.0, 50.0, 20)
    assert longer[0] == 10.0 and longer[-1] == 50.0
    assert np.all(np.diff(longer) > 0) and np.all(np.diff(longer, 2) < 0)   # ascending, concave
    with pytest.raises(ValueError, match="descending"):
        T.descending_curve(0.0, 1.0, 5)


def test_descriptor_synthesis_follows_a_descending_centroid():
    space = BumpSpace()
    origin = np.zeros(4)                                   # centroid 3000 Hz
    target = T.descending_curve(0.0, -1500.0, 16)          # relative: down to 1500 Hz
    result = T.descriptor_synthesis(space, origin, target, "centroid", n_candidates=64,
                                    radius=0.3, seed=0)
    assert result.latents.shape == (16, 4) and result.spectra.shape == (16, space.transform.n_bins)
    assert np.array_equal(result.latents[0], origin)
    np.testing.assert_allclose(result.targets, np.linspace(3000, 1500, 16), atol=0.5)
    assert result.rmse < 25.0 and result.max_error < 60.0
    # independent check through the analytic decoder: the chosen codes' bump centres
    np.testing.assert_allclose(bump_centre(result.latents[:, 0]), np.linspace(3000, 1500, 16),
                               atol=60.0)
    # only the curve's changes matter in relative mode
    same = T.descriptor_synthesis(space, origin, target + 777.0, "centroid", n_candidates=64,
                                  radius=0.3, seed=0)
    np.testing.assert_allclose(same.latents, result.latents)
    table = result.table()
    assert list(table.columns) == ["step", "target", "value", "error"] and len(table) == 16


def test_descriptor_synthesis_follows_an_ascending_log_bandwidth():
    space = BumpSpace()
    target = T.log_curve(0.0, 90.0, 12)                    # 200 Hz -> 290 Hz, log-shaped
    result = T.descriptor_synthesis(space, np.zeros(4), target, "bandwidth", n_candidates=64,
                                    radius=0.3, seed=1)
    assert result.rmse < 5.0
    np.testing.assert_allclose(bump_width(result.latents[:, 1]), 200 + target, atol=10.0)


def test_descriptor_synthesis_reports_an_impossible_target():
    space = BumpSpace()
    target = T.descending_curve(0.0, -4000.0, 16)          # down to -1000 Hz: unreachable
    result = T.descriptor_synthesis(space, np.zeros(4), target, "centroid", n_candidates=32,
                                    radius=0.4, seed=0)
    assert np.all(result.values > 990.0)                   # the decoder cannot go below 1000 Hz
    assert result.values[-1] < 1100.0                      # it went as far as it could
    assert result.errors[-1] > 1990.0                      # and the gap is reported
    assert result.max_error == pytest.approx(np.max(np.abs(result.values[1:] - result.targets[1:])))
    assert result.rmse > 500.0


def test_descriptor_synthesis_absolute_targets_and_resampling():
    space = BumpSpace()
    result = T.descriptor_synthesis(space, np.zeros(4), [2500.0, 2000.0], "centroid", n_steps=5,
                                    relative=False, n_candidates=128, radius=0.8)
    assert result.latents.shape == (6, 4)
    np.testing.assert_allclose(result.targets, np.linspace(2500, 2000, 6))
    assert result.errors[0] == pytest.approx(500.0, abs=0.5)     # the origin cannot move
    assert result.max_error < 60.0
    with pytest.raises(ValueError, match="unknown descriptor"):
        T.descriptor_synthesis(space, np.zeros(4), [0, 1], "brightness")
    with pytest.raises(ValueError, match="target_curve"):
        T.descriptor_synthesis(space, np.zeros(4), [0.0])
