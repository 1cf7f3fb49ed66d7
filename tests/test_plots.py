"""The plots of vts.app.plots: panels, animation frames, interactive pages, colours."""
import numpy as np
import pandas as pd

from vts.app import animations, interactive, plots


def test_traversal_frames_show_each_map():
    # two maps: all low, then all high -> the plotted image brightens (viridis: dark -> yellow)
    values = np.stack([np.zeros((6, 6)), np.ones((6, 6))])
    values[0, 0, 0], values[1, 0, 0] = 1.0, 0.0          # keep the colour range 0..1
    frames = animations.descriptor_traversal_frames(values, [-0.5, 0.5], "X", "centroid")
    assert len(frames) == 2 and frames[0].shape == frames[1].shape
    centre = tuple(s // 2 for s in frames[0].shape[:2])
    # same pixel inside the map: dark purple first, yellow second
    box = (slice(centre[0] - 2, centre[0] + 2), slice(centre[1] - 8, centre[1] - 4))
    assert frames[1][box].mean() > frames[0][box].mean() + 60


def test_path_animation_moves_the_dot():
    rng = np.random.default_rng(0)
    background = rng.normal(size=(20, 3))
    path = np.stack([np.linspace(-1, 1, 4), np.zeros(4), np.zeros(4)], axis=1)
    spectra = np.abs(rng.normal(size=(4, 16))) + 0.1
    frames = animations.path_animation_frames(background, ["flute"] * 20, path, spectra,
                                           np.geomspace(100, 8000, 16))
    assert len(frames) == 4
    assert not np.array_equal(frames[0], frames[3])


def test_plot_functions_build_the_expected_panels():
    space = pd.DataFrame({"dim1": [0, 1, 0.5], "dim2": [0, 0, 1],
                          "instrument": ["flute", "oboe", None]}, index=["a", "b", "c"])
    space.attrs.update(study="Toy", stress=0.1)
    assert len([a for a in plots.plot_study_spaces([space, space]).axes if a.get_visible()]) == 2
    counts = pd.DataFrame([[2, 1], [1, 1]], index=["flute", "oboe"], columns=["flute", "oboe"])
    assert len(plots.plot_cooccurrence(counts).axes) == 2          # heat map + colour bar
    rows = [{"title": m, "axis": a, "values": np.random.default_rng(0).random((3, 4, 4))}
            for m in ("vanilla", "regularized") for a in "XY"]
    fig = plots.plot_descriptor_planes(rows, [-0.5, 0, 0.5], "centroid", "Hz")
    assert len(fig.axes) == 4 * 3 + 1
    curves = {"stft-vanilla": pd.DataFrame({"epoch": [1, 2], "total": [2, 1], "test_mse": [1, .5],
                                            "test_R": [np.nan, np.nan], "stage": [1, 2]})}
    assert len(plots.plot_learning_curves(curves).axes) == 3


def test_slider_html_has_one_step_per_plane():
    values = {a: np.random.default_rng(0).random((3, 4, 4)) for a in "XYZ"}
    fig = interactive.descriptor_slider_html(values, [-0.5, 0, 0.5], "flatness")
    assert len(fig.frames) == 9
    labels = [s["label"] for s in fig.layout.sliders[0].steps]
    assert labels[:3] == ["X=-0.50", "X=+0.00", "X=+0.50"] and labels[-1] == "Z=+0.50"


def test_path_html_animates_every_path():
    paths = {k: np.random.default_rng(1).normal(size=(5, 3)) for k in ("linear", "spherical")}
    spectra = {k: np.ones((5, 8)) for k in paths}
    fig = interactive.path_html(np.zeros((4, 3)), ["flute"] * 4, paths, spectra, np.arange(1, 9))
    assert len(fig.frames) == 5 and len(fig.frames[0].data) == 4   # marker + spectrum per path


def test_instrument_colours_are_stable():
    assert plots.instrument_color("flute") == plots.instrument_color("flute")
    assert plots.instrument_color("flute") != plots.instrument_color("oboe")
