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
    p = np.array([0.6, -0.4, 0.3]) * [s.max for s in ex._pca_sliders]
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
    line = ex._spectrum_fig.data[0]
    np.testing.assert_allclose(line.x, space.transform.frequencies)
    np.testing.assert_allclose(line.y, 20 * np.log10(expected), atol=1e-3)
    assert ex._spectrum_fig.layout.xaxis.type == "log"
    # the cursor of the scatter is at p
    cursor = ex._scatter.data[ex._cursor_trace]
    np.testing.assert_allclose([cursor.x[0], cursor.y[0], cursor.z[0]], p, atol=1e-5)
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
    np.testing.assert_allclose([s.value for s in a._pca_sliders], p, atol=1e-9)


def test_instrument_picker_moves_the_cursor_to_the_centroid(space):
    ex = Explorer(space)
    train = space.latents[space.latents["split"] == "train"]
    for name in (space.instruments[0], space.instruments[-1]):
        ex._picker.value = name                                # the dropdown
        centroid = train.loc[train["instrument"] == name, space.z_columns].to_numpy().mean(0)
        p = (centroid - space.pca.mean_) @ space.pca.components_.T
        np.testing.assert_allclose(ex.current_z, centroid, atol=1e-5)
        np.testing.assert_allclose(ex.current_pca, p, atol=1e-5)
        cursor = ex._scatter.data[ex._cursor_trace]
        np.testing.assert_allclose([cursor.x[0], cursor.y[0], cursor.z[0]], p, atol=1e-5)
        np.testing.assert_allclose([s.value for s in ex._pca_sliders], p, atol=1e-5)
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
    assert ex.current_instrument is None and ex._picker.value is None


def test_latent_sliders_move_one_dimension(space):
    ex = Explorer(space, axes="latent")
    assert ex._slider_stack.selected_index == 1
    z0 = ex.current_z
    ex._latent_sliders[2].value = 0.75
    z = z0.copy()
    z[2] = 0.75
    np.testing.assert_allclose(ex.current_z, z, atol=1e-6)
    np.testing.assert_allclose(ex.current_spectrum, space.decode_magnitude(z), rtol=1e-5)
    # the PCA sliders follow
    np.testing.assert_allclose([s.value for s in ex._pca_sliders],
                               (z - space.pca.mean_) @ space.pca.components_.T, atol=1e-5)
    ex._axes.value = "pca"
    assert ex._slider_stack.selected_index == 0


def test_path_mode_plays_a_glide_between_two_centroids(space):
    ex = Explorer(space, path_seconds=1.5, path_steps=9)
    a, b = space.instruments[0], space.instruments[-1]
    audio = ex.play_path(a, b, "linear")
    assert audio.shape == (int(1.5 * SR),) and np.isfinite(audio).all()
    cents = space.centroids
    ends = (cents.loc[[a, b]].to_numpy() - space.pca.mean_) @ space.pca.components_.T
    line = ex._scatter.data[ex._path_trace]
    assert len(line.x) == 9
    np.testing.assert_allclose([[line.x[0], line.y[0], line.z[0]],
                                [line.x[-1], line.y[-1], line.z[-1]]], ends, atol=1e-5)
    np.testing.assert_allclose(np.diff(np.asarray(line.x)), (ends[1, 0] - ends[0, 0]) / 8,
                               atol=1e-5)                       # evenly spaced: linear
    wav, _ = sf.read(io.BytesIO(ex._audio_widget.value))
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
    names = [t.name for t in ex._scatter.data]
    assert set(space.instruments) <= set(names) and "cursor" in names


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
