"""The explorer's model, driven from Python (no browser).

Two spaces: a real one (``smoke`` profile trained on the synthetic corpus, once
per session) for the wiring against :class:`vts.space.TimbreSpace`, and a
hand-made one whose decoded spectrum is a resonance at a frequency set by the
code (``500 Hz * 2**z0``), so that what the explorer plays can be checked
against a known answer.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.decomposition import PCA

from vts.app.explorer import Explorer
from vts.dsp import get_transform

SR = 22050


# -- fixtures ------------------------------------------------------------------------------
class ResonanceSpace:
    """A stand-in space with a known decoder: a resonance at ``500 Hz * 2**z0`` whose
    height (dB above a -60 dB floor) is ``40 + 10 z1``; z2 does not change the sound."""

    transform = get_transform("nsgt-erb")
    latent_dim = 3

    def __init__(self):
        rng = np.random.default_rng(0)
        centres = {"oboe": [1.0, 0.5, 0.0], "cello": [-1.0, 0.0, 0.3],
                   "flute": [0.5, -1.0, -0.3], "tuba": [-1.5, 1.0, 0.0]}
        rows = [(name, *(np.asarray(c) + 0.1 * rng.standard_normal(3)))
                for name, c in centres.items() for _ in range(10)]
        self.latents = pd.DataFrame(rows, columns=["instrument", "z0", "z1", "z2"])
        self.latents["split"] = "train"
        self.pca = PCA(n_components=3).fit(self.codes())

    def codes(self, split="train"):
        return self.latents[["z0", "z1", "z2"]].to_numpy(np.float32)

    @property
    def instruments(self):
        return sorted(self.latents["instrument"].unique())

    @property
    def centroids(self):
        return self.latents.groupby("instrument")[["z0", "z1", "z2"]].mean()

    def to_pca(self, z):
        z = np.asarray(z, np.float64)
        out = (np.atleast_2d(z) - self.pca.mean_) @ self.pca.components_.T
        return out[0] if z.ndim == 1 else out

    def from_pca(self, p):
        p = np.asarray(p, np.float64)
        out = (np.atleast_2d(p) @ self.pca.components_ + self.pca.mean_).astype(np.float32)
        return out[0] if p.ndim == 1 else out

    def decode_magnitude(self, z):
        z = np.asarray(z, np.float64)
        f = self.transform.frequencies
        centre = 500.0 * 2.0 ** np.atleast_2d(z)[:, :1]
        height = 40.0 + 10.0 * np.atleast_2d(z)[:, 1:2]
        db = -60.0 + height * np.exp(-0.5 * (np.log2(f / centre) / 0.15) ** 2)
        mag = (10.0 ** (db / 20.0)).astype(np.float32)
        return mag[0] if z.ndim == 1 else mag


@pytest.fixture(scope="module")
def resonance():
    return ResonanceSpace()


def steady_db(audio, transform):
    """Time-averaged (RMS over the middle 60 % of frames) magnitude of a sound, in dB."""
    mag = transform.magnitude(audio)
    n = mag.shape[1]
    core = mag[:, n // 5: n - n // 5]
    return 20 * np.log10(np.sqrt((core ** 2).mean(axis=1)) + 1e-12)


def peak_hz(audio, transform):
    return float(transform.frequencies[np.argmax(steady_db(audio, transform))])


# -- the explorer on a real space ------------------------------------------------------------
def test_slider_changes_give_the_decoded_spectrum_of_that_point(space):
    ex = Explorer(space)
    before_spectrum, before_audio = ex.current_spectrum, ex.current_audio
    # the mean code is the PCA origin: the explorer starts there
    np.testing.assert_allclose(ex.current_z, space.codes("train").mean(axis=0), atol=1e-5)
    sl = ex._pca_sliders
    p = np.array([0.6 * sl[0].max, 0.4 * sl[1].min, 0.3 * sl[2].max])
    for slider, value in zip(ex._pca_sliders, p):       # as the browser does, one at a time
        slider.value = float(value)
    pca = space.pca
    z_expected = p @ pca.components_ + pca.mean_              # inverse PCA, by hand
    np.testing.assert_allclose(ex.current_z, z_expected, atol=1e-5)
    np.testing.assert_allclose(ex.current_pca, p, atol=1e-5)
    expected = space.decode_magnitude(space.from_pca(p))
    np.testing.assert_allclose(ex.current_spectrum, expected, rtol=1e-5)
    assert not np.allclose(ex.current_spectrum, before_spectrum, rtol=1e-6)
    # the plotted line is that spectrum in dB over the bin frequencies (Hz), log axis
    figure = ex._spectrum_view.figure
    np.testing.assert_allclose(figure["data"][0]["x"], space.transform.frequencies)
    np.testing.assert_allclose(ex.shown_spectrum_db, 20 * np.log10(expected), atol=1e-3)
    assert figure["layout"]["xaxis"]["type"] == "log"
    # the cursor of the map is at p
    np.testing.assert_allclose(ex._map.cursor, p, atol=1e-5)
    # the sound: 1 s, new, and its analysis reproduces the decoded spectrum
    audio = ex.current_audio
    assert audio.shape == (SR,) and np.isfinite(audio).all()
    assert not np.allclose(audio, before_audio)
    got = steady_db(audio, space.transform)
    want = 20 * np.log10(expected)
    offset = np.mean(got - want)
    assert np.sqrt(np.mean((got - offset - want) ** 2)) < 0.5       # dB
    # the Audio widget plays exactly that sound (16-bit WAV, peak-normalised)
    wav, rate = sf.read(io.BytesIO(ex._audio_widget.value))
    assert rate == SR and wav.shape == audio.shape
    np.testing.assert_allclose(wav, audio * 0.95 / np.abs(audio).max(), atol=2 / 32768)


def test_set_pca_is_the_same_as_moving_the_sliders(space):
    a, b = Explorer(space), Explorer(space)
    p = [0.5 * s.max for s in a._pca_sliders]
    a.set_pca(*p)
    for slider, value in zip(b._pca_sliders, p):
        slider.value = value
    np.testing.assert_allclose(a.current_spectrum, b.current_spectrum, rtol=1e-6)
    for slider, value in zip(a._pca_sliders, p):        # shown on the slider's grid
        assert abs(slider.value - value) <= slider.step / 2 + 1e-9


def test_instrument_picker_moves_the_cursor_to_the_centroid(space):
    ex = Explorer(space)
    train = space.latents[space.latents["split"] == "train"]
    for name in (space.instruments[0], space.instruments[-1]):
        ex._picker.value = name                                # the dropdown
        centroid = train.loc[train["instrument"] == name, space.z_columns].to_numpy().mean(0)
        p = (centroid - space.pca.mean_) @ space.pca.components_.T
        np.testing.assert_allclose(ex.current_z, centroid, atol=1e-5)
        np.testing.assert_allclose(ex.current_pca, p, atol=1e-5)
        np.testing.assert_allclose(ex._map.cursor, p, atol=1e-5)
        for slider, value in zip(ex._pca_sliders, p):
            assert abs(slider.value - np.clip(value, slider.min, slider.max)) \
                <= slider.step / 2 + 1e-9
        np.testing.assert_allclose(ex.current_spectrum,
                                   space.decode_magnitude(centroid.astype(np.float32)), rtol=1e-5)
        assert ex.current_instrument == name and ex.nearest_instrument == name


def test_pca_move_after_a_pick_keeps_the_off_plane_part(space):
    ex = Explorer(space)
    name = space.instruments[1]
    ex.select_instrument(name)
    centroid = ex.current_z.astype(np.float64)
    p0 = ex.current_pca
    ex._pca_sliders[0].value = float(p0[0] + 0.05)
    expected = centroid + 0.05 * space.pca.components_[0]
    np.testing.assert_allclose(ex.current_z, expected, atol=1e-5)
    assert ex.current_instrument is None and ex._picker.value == ""


def test_latent_sliders_move_one_dimension(space):
    ex = Explorer(space, axes="latent")
    assert ex._slider_stack.selected_index == 1
    z0 = ex.current_z
    slider = ex._latent_sliders[2]
    value = slider.min + 0.8 * (slider.max - slider.min)
    slider.value = value
    z = z0.copy()
    z[2] = value
    np.testing.assert_allclose(ex.current_z, z, atol=1e-6)
    np.testing.assert_allclose(ex.current_spectrum, space.decode_magnitude(z), rtol=1e-5)
    # back to the PCA sliders: they show the cursor (on their grid), nothing is redrawn
    redraws = ex.counts["redraws"]
    ex._axes.value = "pca"
    assert ex._slider_stack.selected_index == 0
    p = (z - space.pca.mean_) @ space.pca.components_.T
    for s, v in zip(ex._pca_sliders, p):
        assert abs(s.value - np.clip(v, s.min, s.max)) <= s.step / 2 + 1e-9
    assert ex.counts["redraws"] == redraws


def test_path_mode_plays_a_glide_between_two_centroids(space):
    ex = Explorer(space, path_seconds=1.5, path_steps=9)
    a, b = space.instruments[0], space.instruments[-1]
    audio = ex.play_path(a, b, "linear")
    assert audio.shape == (int(1.5 * SR),) and np.isfinite(audio).all()
    cents = space.centroids
    ends = (cents.loc[[a, b]].to_numpy() - space.pca.mean_) @ space.pca.components_.T
    line = np.asarray(ex._map.path_xyz)
    assert line.shape == (9, 3)
    np.testing.assert_allclose(line[[0, -1]], ends, atol=1e-5)
    np.testing.assert_allclose(np.diff(line[:, 0]), (ends[1, 0] - ends[0, 0]) / 8,
                               atol=1e-5)                       # evenly spaced: linear
    wav, _ = sf.read(io.BytesIO(ex._path_audio_widget.value))
    assert len(wav) == len(audio)


def test_griffin_lim_option(space):
    ex = Explorer(space, reconstruction="griffin-lim", n_iter=4, seconds=0.5)
    ex.set_pca(0.1, 0.0, 0.0)
    assert ex.current_audio.shape == (SR // 2,)
    np.testing.assert_allclose(ex.current_spectrum,
                               space.decode_magnitude(space.from_pca([0.1, 0.0, 0.0])), rtol=1e-5)


def test_bad_arguments_are_refused(space):
    with pytest.raises(ValueError, match="reconstruction"):
        Explorer(space, reconstruction="wavenet")
    ex = Explorer(space)
    with pytest.raises(KeyError, match="kazoo"):
        ex.select_instrument("kazoo")
    with pytest.raises(ValueError, match="shape"):
        ex.set_latent(np.zeros(space.latent_dim + 1))
    with pytest.raises(ValueError, match="finite"):
        ex.set_pca(np.nan, 0, 0)


def test_widget_is_a_displayable_container(space):
    import ipywidgets

    ex = Explorer(space)
    assert isinstance(ex.widget, ipywidgets.VBox)
    assert ex._audio_widget.format == "wav" and ex._audio_widget.autoplay is False
    assert Explorer(space, autoplay=True)._audio_widget.autoplay is True
    names = [t["name"] for t in ex._map.figure["data"]]
    assert set(space.instruments) <= set(names) and "cursor" in names
    assert {f"{n} centroid" for n in space.instruments} <= set(names)


# -- what the browser does: echoes, quick steps, mode switches ----------------------------------
def browser_sets(slider, value: float) -> None:
    """A value arriving from the browser: noUiSlider rounds to ``min + k step``; the comm
    handler applies it with ``set_state`` (observers run, nothing is sent back)."""
    rounded = slider.min + round((value - slider.min) / slider.step) * slider.step
    slider.set_state({"value": float(np.clip(rounded, slider.min, slider.max))})


def echo_everything(ex, offset: float = 0.0) -> None:
    """The browser's echo of every slider the kernel wrote (rounded, or off by ``offset``)."""
    for slider in ex._pca_sliders + ex._latent_sliders:
        if offset:
            slider.set_state({"value": slider.value + offset * slider.step})
        else:
            browser_sets(slider, slider.value)


def test_pick_sticks_after_the_browser_echoes_rounded_values(space):
    ex = Explorer(space)
    name = space.instruments[-1]
    ex._picker.value = name                          # the dropdown
    before = dict(ex.counts), ex.current_z, ex._audio_widget.value
    echo_everything(ex)
    echo_everything(ex, offset=0.45)                 # within half a step: still an echo
    assert ex.current_instrument == name and ex._picker.value == name
    assert ex.counts == before[0]                    # no redraw, no audio swap
    np.testing.assert_array_equal(ex.current_z, before[1])
    assert ex._audio_widget.value == before[2]
    # a real move (one step) does clear the pick
    browser_sets(ex._pca_sliders[0], ex._pca_sliders[0].value + ex._pca_sliders[0].step)
    assert ex.current_instrument is None and ex._picker.value == ""
    assert ex.counts["redraws"] == before[0]["redraws"] + 1


@pytest.mark.parametrize("axes", ["pca", "latent"])
def test_late_echo_of_an_earlier_write_is_not_a_move(space, axes):
    ex = Explorer(space, axes=axes)
    sliders = ex._pca_sliders if axes == "pca" else ex._latent_sliders
    first, second = space.instruments[0], space.instruments[-1]
    ex.select_instrument(first)
    written = [s.value for s in sliders]             # what the browser will echo, late
    ex._picker.value = second                        # a second pick before the echoes
    z, counts = ex.current_z, dict(ex.counts)
    for s, v in zip(sliders, written):               # now the late echoes arrive
        browser_sets(s, v)
    np.testing.assert_array_equal(ex.current_z, z)
    assert ex.current_instrument == second and ex.counts == counts


def test_switching_slider_mode_changes_no_sound(space):
    ex = Explorer(space, path_seconds=0.5, path_steps=4)
    ex.set_pca(*(0.3 * s.max for s in ex._pca_sliders))
    ex.play_path(space.instruments[0], space.instruments[-1])
    counts, note, path = dict(ex.counts), ex._audio_widget.value, ex._path_audio_widget.value
    for mode in ("latent", "pca", "latent"):
        ex._axes.value = mode                        # the toggle
        echo_everything(ex)                          # new slider views echo their values
    assert ex._slider_stack.selected_index == 1
    assert ex.counts == counts
    assert ex._audio_widget.value == note and ex._path_audio_widget.value == path


def test_quick_keyboard_steps_all_count(space):
    ex = Explorer(space)
    pc1 = ex._pca_sliders[0]
    start, redraws = pc1.value, ex.counts["redraws"]
    sent = []
    original = pc1.send_state
    pc1.send_state = lambda key=None: (sent.append(key), original(key))
    for k in range(1, 11):                           # ten arrow presses, none dropped
        browser_sets(pc1, start + k * pc1.step)
    assert ex.counts["redraws"] == redraws + 10
    assert pc1.value == pytest.approx(start + 10 * pc1.step)
    assert ex.current_pca[0] == pytest.approx(start + 10 * pc1.step, abs=1e-5)
    assert not [k for k in sent if k is None or "value" in k]   # never written back


def test_steps_in_one_burst_are_coalesced_to_the_last_value(space):
    import asyncio

    ex = Explorer(space)
    pc1 = ex._pca_sliders[0]
    start, redraws = pc1.value, ex.counts["redraws"]

    async def burst():                               # messages read in one go by the kernel
        for k in range(1, 11):
            browser_sets(pc1, start + k * pc1.step)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(burst())
    assert ex.counts["redraws"] == redraws + 1
    assert ex.current_pca[0] == pytest.approx(start + 10 * pc1.step, abs=1e-5)
    np.testing.assert_allclose(ex.current_spectrum, space.decode_magnitude(ex.current_z),
                               rtol=1e-5)


def test_sliders_span_the_1st_to_99th_percentile_of_the_codes(space):
    ex = Explorer(space)
    codes = space.codes("train").astype(np.float64)
    pca = np.percentile(space.to_pca(codes), [1, 99], axis=0).T
    latent = np.percentile(codes, [1, 99], axis=0).T
    np.testing.assert_allclose([(s.min, s.max) for s in ex._pca_sliders], pca, rtol=1e-6)
    np.testing.assert_allclose([(s.min, s.max) for s in ex._latent_sliders], latent, rtol=1e-6)
    np.testing.assert_allclose(ex.slider_ranges["pca"], pca, rtol=1e-6)
    assert all(s.step == pytest.approx((s.max - s.min) / 200) for s in ex._pca_sliders)
    assert ex.outside_corpus == [] and ex._note.value == ""
    # beyond the box: shown clamped, and said
    hi = ex._pca_sliders[1].max
    ex.set_pca(0.0, 2 * hi + 1.0, 0.0)
    assert "PC2" in ex.outside_corpus and "outside the corpus" in ex._note.value
    assert ex._pca_sliders[1].value == pytest.approx(hi)
    assert ex.current_pca[1] == pytest.approx(2 * hi + 1.0, abs=1e-5)
    ex.set_pca(0.0, 0.0, 0.0)
    assert ex._note.value == ""
    ex.set_pca(ex._pca_sliders[0].max, 0.0, 0.0)           # on the edge is inside
    assert "PC1" not in ex.outside_corpus


def test_db_axis_is_fixed_from_the_corpus(space):
    from vts.dsp import to_db

    ex = Explorer(space)
    peaks = to_db(space.decode_magnitude(space.codes("train"))).max(axis=1)
    top = np.ceil((np.percentile(peaks, 99) + 6.0) / 5.0) * 5.0
    assert ex.db_range == (pytest.approx(top - 80.0), pytest.approx(top))
    for p in ([0, 0, 0], [s.max for s in ex._pca_sliders], [s.min for s in ex._pca_sliders]):
        ex.set_pca(*p)
        axis = ex._spectrum_view.figure["layout"]["yaxis"]
        assert tuple(axis["range"]) == pytest.approx(ex.db_range) and axis["autorange"] is False
        assert ex.shown_spectrum_db.min() >= ex.db_range[0]
    heat = ex._heat.figure["data"][0]
    assert (heat["zmin"], heat["zmax"]) == pytest.approx(ex.db_range)


def test_path_mode_shows_the_spectra_along_the_path_with_a_cursor(space):
    from vts.dsp import to_db

    ex = Explorer(space, path_seconds=1.0, path_steps=6)
    note, audio_swaps = ex._audio_widget.value, ex.counts["audio"]
    a, b = space.instruments[0], space.instruments[-1]
    ex.play_path(a, b, "spherical")
    from vts.app.plot_view import floats as _floats

    want = np.maximum(to_db(space.decode_magnitude(ex.path)), ex.db_range[0])
    n = len(space.transform.frequencies)
    np.testing.assert_allclose(_floats(ex._heat.path_db, n), want, atol=1e-3)  # steps x bins
    np.testing.assert_allclose(ex._heat.path_times, np.linspace(0, 1.0, 6))
    figure = ex._heat.figure
    np.testing.assert_allclose(figure["data"][0]["y"], space.transform.frequencies)
    assert figure["layout"]["yaxis"]["type"] == "log" and figure["data"][0]["type"] == "heatmap"
    assert ex._heat.title.startswith(f"{a} → {b}: spherical path")
    np.testing.assert_allclose(_floats(ex._spectrum_view.path_db, n), want, atol=1e-3)
    np.testing.assert_allclose(ex._map.path_xyz, space.to_pca(ex.path), atol=1e-5)
    # the cursor moves along the heat map, the map, and shows that step's spectrum
    assert ex._heat.path_step == ex._spectrum_view.path_step == ex._map.path_step == 0
    for k in (3, 5, 0):
        ex._path_position.value = k                  # the Play widget drives this slider
        assert ex._heat.path_step == ex._spectrum_view.path_step == ex._map.path_step == k
    assert ex._play.max == 5 and ex._play.interval == 200
    # the note at the cursor is neither replaced nor re-rendered
    assert ex._audio_widget.value == note and ex.counts["audio"] == audio_swaps


def test_map_names_the_axes_and_colours_the_instruments(space):
    from vts.app.plots import instrument_color

    ex = Explorer(space)
    layout = ex._map.figure["layout"]
    ratio = space.pca.explained_variance_ratio_
    assert layout["scene"]["xaxis"]["title"]["text"] == f"PC1 ({100 * ratio[0]:.0f} %)"
    assert layout["scene"]["zaxis"]["title"]["text"].startswith("PC3 (")
    assert layout["legend"]["itemsizing"] == "constant"
    seen = set()
    for trace in ex._map.figure["data"]:
        name = trace["name"].removesuffix(" centroid")
        if name in space.instruments:
            assert trace["marker"]["color"] == instrument_color(name)
            seen.add(name)
    assert seen == set(space.instruments)
    # plotly.js travels once, with the map; the other views wait for it
    assert len(ex._map.plotly_js) > 1_000_000
    assert ex._spectrum_view.plotly_js == ex._heat.plotly_js == ""


# -- the explorer on a space with a known decoder ----------------------------------------------
def test_moving_pc_moves_the_resonance_that_is_heard(resonance):
    ex = Explorer(resonance)
    peaks = []
    for p in ([-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]):
        ex.set_pca(*p)
        z = resonance.pca.mean_ + np.asarray(p) @ resonance.pca.components_
        want_hz = 500.0 * 2.0 ** z[0]
        heard = peak_hz(ex.current_audio, resonance.transform)
        assert abs(np.log2(heard / want_hz)) < 0.1               # within ~1 semitone
        peaks.append(heard)
        # the audio's analysed spectrum is the decoder's (40 dB resonance over a flat floor)
        got = steady_db(ex.current_audio, resonance.transform)
        assert got.max() - np.median(got) == pytest.approx(40 + 10 * z[1], abs=1.5)
    assert peaks[0] != peaks[1]


def test_picking_an_instrument_plays_its_resonance(resonance):
    ex = Explorer(resonance)
    ex.select_instrument("tuba")
    z = resonance.latents.query("instrument == 'tuba'")[["z0", "z1", "z2"]].mean().to_numpy()
    assert abs(np.log2(peak_hz(ex.current_audio, resonance.transform) / (500 * 2 ** z[0]))) < 0.1


def test_path_sound_glides_from_one_resonance_to_the_other(resonance):
    ex = Explorer(resonance, path_seconds=2.0)
    audio = ex.play_path("tuba", "oboe", "spherical")
    cents = resonance.centroids
    start_hz, end_hz = 500 * 2 ** cents.loc["tuba", "z0"], 500 * 2 ** cents.loc["oboe", "z0"]
    head, tail = audio[: SR // 3], audio[-SR // 3:]
    assert abs(np.log2(peak_hz(head, resonance.transform) / start_hz)) < 0.25
    assert abs(np.log2(peak_hz(tail, resonance.transform) / end_hz)) < 0.25
