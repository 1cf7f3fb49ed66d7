"""The one renderer: Griffin-Lim and additive rendering, fades, WAV bytes."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

import synthetic
from vts.dsp import get_transform, render, sustained_frame
from vts.dsp.render import (
    FastRenderer,
    additive_synthesis,
    band_response,
    sinusoid_amplitudes,
    spectrum_distance,
    wav_bytes,
)

SR = 22050


# -- fast reconstruction ------------------------------------------------------------------
def test_additive_synthesis_of_one_sinusoid():
    amps = np.array([0.5, 0.0])
    audio = additive_synthesis(amps, [440.0, 1000.0], 2.0, SR, fade_seconds=0.0)
    assert audio.shape == (2 * SR,) and audio.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(audio)) / (len(audio) / 2)
    assert np.argmax(spectrum) == 880                      # 440 Hz on a 0.5-Hz grid
    assert spectrum[880] == pytest.approx(0.5, rel=1e-4)
    np.testing.assert_allclose(audio[:SR], audio[SR:], atol=1e-6)    # 1-s periodic, no seam


def test_additive_synthesis_interpolates_amplitudes_in_time():
    amps = np.array([[1.0, 0.0], [0.0, 1.0]])              # 300 Hz fades out, 700 Hz fades in
    audio = additive_synthesis(amps, [300.0, 700.0], 1.0, SR, fade_seconds=0.0)
    t = np.arange(SR) / SR

    def envelope(f):   # amplitude of the f-Hz component, by quadrature on 0.1-s blocks
        out = []
        for k in range(10):
            seg = slice(k * SR // 10, (k + 1) * SR // 10)
            c = np.exp(-2j * np.pi * f * t[seg])
            out.append(2 * abs(np.mean(audio[seg] * c)))
        return np.array(out)

    mid = np.arange(10) / 10 + 0.05
    np.testing.assert_allclose(envelope(300), 1 - mid, atol=0.01)
    np.testing.assert_allclose(envelope(700), mid, atol=0.01)


def test_sinusoid_amplitudes_undo_known_leakage():
    rng = np.random.default_rng(1)
    n = 12
    response = np.eye(n) + 0.4 * (np.eye(n, k=1) + np.eye(n, k=-1))
    a_true = rng.uniform(0.1, 1.0, n)
    magnitude = np.sqrt((response ** 2) @ a_true ** 2)
    np.testing.assert_allclose(sinusoid_amplitudes(magnitude, response, n_iter=300), a_true,
                               rtol=0.02)
    # no iteration: each bin divided by its own response
    np.testing.assert_allclose(sinusoid_amplitudes(magnitude, 2 * np.eye(n), n_iter=0),
                               magnitude / 2)


def test_nsgt_band_response_is_nearly_diagonal():
    tr = get_transform("nsgt-erb")
    h = band_response(tr)
    assert h.shape == (tr.n_bins, tr.n_bins)
    diag = np.diag(h)
    assert (diag > 0).all()
    off = h - np.diag(diag)
    assert off.max() < 0.2 * diag.min()


@pytest.mark.parametrize("name", ["nsgt-erb", "nsgt-cqt"])
def test_fast_render_reproduces_the_frame_of_a_real_note(name):
    tr = get_transform(name)
    note = synthetic.tone(synthetic.midi_hz(62), 1.0, brightness=0.6, formant=0.4)
    frame = sustained_frame(note, tr)
    audio = FastRenderer(tr).render(frame, 1.0)
    d = spectrum_distance(audio, frame, tr)
    assert d["spectral_convergence"] < 0.05
    assert d["log_spectral_distance_db"] < 1.0
    assert d["gain"] == pytest.approx(1.0, rel=0.05)        # calibrated level


def test_wav_bytes_round_trip():
    audio = 0.2 * np.sin(2 * np.pi * 440 * np.arange(1000) / SR)
    data, rate = sf.read(io.BytesIO(wav_bytes(audio, SR)), dtype="int16")
    assert rate == SR and len(data) == 1000
    assert np.abs(data).max() == pytest.approx(0.95 * 32767, abs=2)


@pytest.mark.parametrize("method", ["griffin-lim", "fast"])
def test_every_render_fades_in_and_out(method):
    """A held loud frame starts and ends near silence (no click) and is loud in between."""
    tr = get_transform("nsgt-erb")
    note = synthetic.tone(synthetic.midi_hz(62), 1.0, brightness=0.6, formant=0.4)
    audio = render(sustained_frame(note, tr), tr, 0.5, method=method, n_iter=4)
    assert audio.shape == (round(0.5 * SR),)
    peak = np.abs(audio).max()
    assert peak > 0
    assert abs(audio[0]) < 0.01 * peak and abs(audio[-1]) < 0.01 * peak
    assert np.abs(audio[len(audio) // 2 - 500: len(audio) // 2 + 500]).max() > 0.3 * peak


def test_render_spreads_frames_over_the_sound():
    """Two frames, a low resonance then a high one: the sound starts low and ends high."""
    tr = get_transform("nsgt-erb")
    f = tr.frequencies
    low = np.exp(-0.5 * (np.log2(f / 300.0) / 0.1) ** 2) + 1e-4
    high = np.exp(-0.5 * (np.log2(f / 2000.0) / 0.1) ** 2) + 1e-4
    audio = render(np.stack([low, high]), tr, 1.0, method="fast")
    head, tail = audio[2000:6000], audio[-6000:-2000]

    def peak_hz(x):
        return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(np.abs(np.fft.rfft(x)))])

    assert peak_hz(head) < 600 and peak_hz(tail) > 1500


def test_render_refuses_bad_input():
    tr = get_transform("nsgt-erb")
    with pytest.raises(ValueError, match="magnitudes must be"):
        render(np.ones(tr.n_bins + 1), tr, 0.1)
    with pytest.raises(ValueError, match="finite"):
        render(np.full(tr.n_bins, np.nan), tr, 0.1)
    with pytest.raises(ValueError, match="seconds"):
        render(np.ones(tr.n_bins), tr, 0.0)
    with pytest.raises(ValueError, match="method"):
        render(np.ones(tr.n_bins), tr, 0.1, method="magic")
