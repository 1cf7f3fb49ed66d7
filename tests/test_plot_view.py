"""The explorer's plot widgets and the figures they start from."""
import numpy as np
import pytest

from vts.app import plot_view
from vts.app.plots import instrument_color


def test_the_browser_side_ships_with_the_package():
    js = plot_view.ESM_FILE.read_text()
    assert "export default" in js and "function render" in js
    assert plot_view.PlotView().__class__._esm.default_value == js


def test_floats_and_points_3d():
    data = np.arange(6, dtype=np.float32).tobytes()
    np.testing.assert_array_equal(plot_view.floats(data, 3), [[0, 1, 2], [3, 4, 5]])
    assert plot_view.points_3d(np.array([[1.0, 2.0]])) == [[1.0, 2.0, 0.0]]
    assert plot_view.points_3d(np.array([[1.0, 2.0, 3.0, 4.0]])) == [[1.0, 2.0, 3.0]]


def test_map_figure_has_one_group_per_instrument_and_the_moving_traces_last():
    xyz = np.array([[0, 0, 0], [1, 1, 1], [5, 5, 5]], dtype=float)
    labels = np.array(["oboe", "oboe", "cello"])
    fig, dynamic = plot_view.map_figure(xyz, labels, ["oboe", "cello"],
                                        {"oboe": np.array([.5, .5, .5]),
                                         "cello": np.array([5., 5., 5.])}, [0.5, 0.2, 0.1])
    assert len(fig.data) == 2 * 2 + 3
    assert dynamic == {"path": 4, "step_marker": 5, "cursor": 6}
    oboe, oboe_centroid = fig.data[0], fig.data[1]
    assert list(oboe.x) == [0.0, 1.0] and oboe.marker.color == instrument_color("oboe")
    assert list(oboe_centroid.text) == ["oboe"] and list(oboe_centroid.x) == [0.5]
    assert fig.layout.scene.xaxis.title.text == "PC1 (50 %)"


@pytest.mark.parametrize("make", ["spectrum", "heat"])
def test_spectrum_and_heat_keep_the_fixed_db_range(make):
    freqs = [100.0, 200.0, 400.0]
    if make == "spectrum":
        fig = plot_view.spectrum_figure(freqs, (-80.0, 0.0))
        assert list(fig.layout.yaxis.range) == [-80.0, 0.0]
        assert fig.layout.yaxis.autorange is False
    else:
        fig = plot_view.heat_figure([0.0, 1.0], freqs, (-80.0, 0.0))
        assert (fig.data[0].zmin, fig.data[0].zmax) == (-80.0, 0.0)
        assert fig.data[0].colorbar.title.text == "dB"
