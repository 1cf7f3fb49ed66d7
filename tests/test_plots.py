"""The plots of vts.app.plots: panels, animation frames, interactive pages, colours."""
import numpy as np
import pandas as pd
from matplotlib.text import Text

from vts.app import animations, figures, interactive, plots


def _even_and_wide(frame):
    height, width = frame.shape[:2]
    return width >= figures.MIN_VIDEO_WIDTH and width % 2 == 0 and height % 2 == 0


def test_traversal_frames_show_each_map():
    # two maps: all low, then all high -> the plotted image brightens (viridis: dark -> yellow)
    values = np.stack([np.zeros((6, 6)), np.ones((6, 6))])
    values[0, 0, 0], values[1, 0, 0] = 1.0, 0.0          # keep the colour range 0..1
    frames = animations.descriptor_traversal_frames(
        [{"title": "vanilla", "axis": "X", "values": values}], [-0.5, 0.5], "centroid", "Hz")
    assert len(frames) == 2 and frames[0].shape == frames[1].shape
    assert _even_and_wide(frames[0])
    assert frames[1].mean() > frames[0].mean() + 10


def test_traversal_frames_stack_or_line_up_panels_on_one_scale():
    rng = np.random.default_rng(0)
    maps = [{"title": t, "axis": a, "values": rng.random((3, 5, 5))}
            for t, a in (("vanilla", "X"), ("l2", "X"))]
    stacked = animations.descriptor_traversal_frames(maps, [-0.5, 0, 0.5], "loudness", "dB",
                                                     stacked=True)
    side = animations.descriptor_traversal_frames(
        [{"title": "l2", "axis": a, "values": rng.random((3, 5, 5))} for a in "XYZ"],
        [-0.5, 0, 0.5], "loudness", "dB")
    assert len(stacked) == len(side) == 3
    assert all(_even_and_wide(f) for f in (stacked[0], side[0]))
    assert stacked[0].shape[0] > stacked[0].shape[1]           # vanilla above regularised
    assert side[0].shape[1] > 2 * side[0].shape[0]              # X | Y | Z
    import pytest

    with pytest.raises(ValueError, match="3 positions for 2 maps"):
        animations.descriptor_traversal_frames([{"title": "a", "axis": "X",
                                                 "values": np.zeros((2, 4, 4))}],
                                               [0, 1, 2], "centroid")


def test_path_animation_moves_the_dot():
    rng = np.random.default_rng(0)
    background = rng.normal(size=(20, 3))
    path = np.stack([np.linspace(-1, 1, 4), np.zeros(4), np.zeros(4)], axis=1)
    spectra = np.abs(rng.normal(size=(4, 16))) + 0.1
    frames = animations.path_animation_frames(background, ["flute"] * 20, path, spectra,
                                           np.geomspace(100, 8000, 16), "a → b",
                                           ends=("flute C4", "oboe C4"))
    assert len(frames) == 4
    assert not np.array_equal(frames[0], frames[3])
    assert _even_and_wide(frames[0])


def _colour_bar_labels(fig):
    return [a.get_ylabel() for a in fig.axes if a.get_label() == "<colorbar>"]


def test_transform_roundtrips_have_colour_bars_in_db():
    freqs = np.geomspace(60, 8000, 24)
    spectra = np.abs(np.random.default_rng(0).normal(size=(8, 24))) + 1e-3
    results = [{"name": "stft", "frequencies": freqs, "hop_seconds": 0.01,
                "magnitude": spectra.T, "reconstruction_magnitude": spectra.T,
                "spectral_convergence": 0.1}]
    assert _colour_bar_labels(plots.plot_transform_roundtrips(results)) == ["level (dB)"] * 2


def test_timbre_space_is_wide_and_labels_every_instrument(tmp_path):
    from PIL import Image

    names = ["clarinet", "saxophone", "trumpet", "cello", "french-horn", "oboe"]
    rng = np.random.default_rng(1)
    space = pd.DataFrame(rng.uniform(-0.3, 0.3, (6, 3)), index=names,
                         columns=["dim1", "dim2", "dim3"])
    space.loc["trumpet"] = [0.35, -0.3, -0.3]                 # at a corner of the box
    space.attrs["stress"] = 0.1
    fig = plots.plot_timbre_space(space, "Figure 2")
    texts = [t.get_text().strip() for t in fig.axes[0].texts]
    assert sorted(texts) == sorted(names)
    # nothing drawn outside the saved picture: every label inside the figure's tight box
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)      # pixels
    for text in fig.axes[0].texts:
        extent = text.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 \
            and extent.y1 <= box.y1, text.get_text()
    path = figures.save(fig, "figure2", "Figure 2", out_dir=tmp_path, notebook="01_test")
    assert Image.open(path).size[0] >= 1000


def test_plot_functions_build_the_expected_panels():
    space = pd.DataFrame({"dim1": [0, 1, 0.5], "dim2": [0, 0, 1],
                          "instrument": ["flute", "oboe", None]}, index=["a", "b", "c"])
    space.attrs.update(study="Toy", stress=0.1)
    assert len([a for a in plots.plot_study_spaces([space, space]).axes if a.get_visible()]) == 2
    counts = pd.DataFrame([[2, 1], [1, 1]], index=["flute", "oboe"], columns=["flute", "oboe"])
    assert len(plots.plot_cooccurrence(counts).axes) == 2          # heat map + colour bar
    curves = {"stft-vanilla": pd.DataFrame({"epoch": [1, 2], "total": [2, 1], "test_mse": [1, .5],
                                            "test_R": [np.nan, np.nan], "stage": [1, 2]})}
    assert len(plots.plot_learning_curves(curves).axes) == 3


def test_learning_curves_dash_the_vanilla_spaces_only():
    df = pd.DataFrame({"epoch": [1, 2], "total": [2, 1], "test_mse": [1, .5],
                       "test_R": [3.0, 2.0], "stage": [1, 2]})
    names = ["nsgt-erb-vanilla", "nsgt-erb-l2", "nsgt-erb-class", "stft-vanilla"]
    fig = plots.plot_learning_curves({n: df for n in names})
    styles = {line.get_label(): line.get_linestyle() for line in fig.axes[0].lines
              if not line.get_label().startswith("_")}
    assert styles == {"nsgt-erb-vanilla": "--", "stft-vanilla": "--",
                      "nsgt-erb-l2": "-", "nsgt-erb-class": "-"}


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


def test_tradeoff_labels_do_not_overlap():
    """Five spaces at almost the same place (as the unclustered kinds sit, far from
    a clustered one) keep five readable labels, each naming its kind, weight and
    choices."""
    rows = [{"kind": "vanilla", "silhouette_pca": -0.1, "listeners_spearman": 0.31},
            {"kind": "l2", "alpha": 3.0, "dims": "all", "silhouette_pca": 0.8,
             "listeners_spearman": 0.05, "mse_vs_vanilla": 0.2}]
    rows += [{"kind": kind, "alpha": 1.0, "dims": dims, "within": within, "per_class": per,
              "silhouette_pca": -0.1 + 0.004 * k, "listeners_spearman": 0.30 + 0.002 * k,
              "mse_vs_vanilla": 0.02}
             for k, (kind, dims, within, per) in enumerate(
                 [("l2", "first 3", "zero", 0), ("l2", "first 8", "zero", 0),
                  ("gaussian", "all", "free", 0), ("student", "all", "zero", 0),
                  ("l2", "all", "zero", 11)])]
    fig = plots.plot_tradeoff(pd.DataFrame(rows))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.axes[0].texts if t.get_text()]
    assert sorted(t.get_text() for t in texts) == sorted([
        "l2, α 1, first 3", "l2, α 1, first 8", "gaussian, α 1, all, one instrument free",
        "student, α 1, all", "l2, α 1, all, balanced", "l2, α 3, all"])
    boxes = [Text.get_window_extent(t, renderer) for t in texts]   # the text, no leader
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
