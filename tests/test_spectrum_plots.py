"""The plots of decoded spectra: colour bars in dB, one panel per plane and path."""
import numpy as np
import pandas as pd

from vts.app import spectrum_plots


def _colour_bar_labels(fig):
    return [a.get_ylabel() for a in fig.axes if a.get_label() == "<colorbar>"]


def test_path_spectrograms_have_colour_bars_in_db():
    rng = np.random.default_rng(0)
    freqs = np.geomspace(60, 8000, 24)
    spectra = np.abs(rng.normal(size=(8, 24))) + 1e-3
    fig = spectrum_plots.plot_path_spectra(spectra, freqs, [f"t{k}" for k in range(8)], "a → b")
    assert _colour_bar_labels(fig) == ["level (dB)"]
    distances = pd.DataFrame({"step": np.arange(8), "d": rng.random(8)})
    fig = spectrum_plots.plot_path_comparison({"linear": spectra, "spherical": spectra[::-1]},
                                              freqs, distances, "a → b")
    assert _colour_bar_labels(fig) == ["level (dB)"] * 2
    four = {f"p{k}": spectra for k in range(4)}
    fig = spectrum_plots.plot_path_comparison(four, freqs, distances)       # rows of three
    assert _colour_bar_labels(fig) == ["level (dB)"] * 4
    assert len([a for a in fig.axes if a.get_visible()]) == 4 + 1 + 4


def test_descriptor_planes_have_a_panel_per_plane_and_one_colour_bar():
    rows = [{"title": m, "axis": a, "values": np.random.default_rng(0).random((3, 4, 4))}
            for m in ("vanilla", "regularized") for a in "XY"]
    fig = spectrum_plots.plot_descriptor_planes(rows, [-0.5, 0, 0.5], "centroid", "Hz")
    assert len(fig.axes) == 4 * 3 + 1
