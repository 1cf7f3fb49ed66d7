import librosa
import numpy as np
import pytest

from vts.dsp import descriptors as D

# A non-uniform (log-spaced, NSGT-like) grid: the descriptors must use these frequencies.
LOG_GRID = np.geomspace(64.0, 8000.0, 168)


def test_single_bin_spectrum_on_a_log_grid():
    mag = np.zeros(LOG_GRID.size)
    mag[40] = 3.0
    assert D.centroid(mag, LOG_GRID) == pytest.approx(LOG_GRID[40], rel=1e-12)
    assert D.bandwidth(mag, LOG_GRID) == pytest.approx(0.0, abs=1e-6)
    assert D.rolloff(mag, LOG_GRID) == LOG_GRID[40]
    assert 0.0 <= D.flatness(mag) < 1e-6
    assert np.ndim(D.centroid(mag, LOG_GRID)) == 0


def test_flat_spectrum():
    mag = np.full(LOG_GRID.size, 0.5)
    assert D.flatness(mag) == pytest.approx(1.0, abs=1e-12)
    assert D.centroid(mag, LOG_GRID) == pytest.approx(LOG_GRID.mean(), rel=1e-12)
    # population standard deviation of the bin frequencies
    spread = np.sqrt(np.mean((LOG_GRID - LOG_GRID.mean()) ** 2))
    assert D.bandwidth(mag, LOG_GRID) == pytest.approx(spread, rel=1e-12)
    # equal weights: the first bin k with (k + 1) / 168 >= 0.85 is k = ceil(142.8) - 1 = 142
    assert D.rolloff(mag, LOG_GRID) == LOG_GRID[142]


def test_two_bins_centroid_and_spread_by_hand():
    freqs = np.array([100.0, 300.0, 1000.0])
    mag = np.array([1.0, 0.0, 3.0])
    assert D.centroid(mag, freqs) == pytest.approx((100 + 3 * 1000) / 4)
    # weights 1/4, 3/4 at distance 900 Hz: spread = 900 * sqrt(1/4 * 3/4)
    assert D.bandwidth(mag, freqs) == pytest.approx(900 * np.sqrt(3) / 4)


@pytest.mark.parametrize("fraction, expected", [(0.85, 800.0), (0.6, 400.0), (0.5, 400.0),
                                                (0.3, 200.0), (0.05, 100.0), (1.0, 800.0)])
def test_rolloff_of_a_known_distribution(fraction, expected):
    freqs = np.array([100.0, 200.0, 400.0, 800.0])
    mag = np.array([0.1, 0.2, 0.3, 0.4])        # cumulative 0.1, 0.3, 0.6, 1.0
    assert D.rolloff(mag, freqs, fraction=fraction) == expected


def test_loudness_gain_and_a_weighting():
    freqs = np.array([100.0, 1000.0, 10000.0])
    mag = np.array([0.0, 1.0, 0.0])
    # A-weighting is ~0 dB at 1 kHz, -19.1 dB at 100 Hz and -2.5 dB at 10 kHz (IEC 61672 table)
    assert D.loudness(mag, freqs) == pytest.approx(0.0, abs=0.01)
    assert D.loudness(np.array([1.0, 0.0, 0.0]), freqs) == pytest.approx(-19.1, abs=0.05)
    assert D.loudness(np.array([0.0, 0.0, 1.0]), freqs) == pytest.approx(-2.5, abs=0.05)
    rng = np.random.default_rng(1)
    spectrum = rng.random(LOG_GRID.size) + 0.1
    assert D.loudness(2 * spectrum, LOG_GRID) - D.loudness(spectrum, LOG_GRID) == \
        pytest.approx(20 * np.log10(2), abs=1e-9)
    gains = np.array([0.1, 0.5, 1.0, 3.0, 10.0])
    levels = D.loudness(gains[:, None] * spectrum[None, :], LOG_GRID)
    assert levels.shape == (5,) and np.all(np.diff(levels) > 0)
    np.testing.assert_allclose(levels - levels[2], 20 * np.log10(gains), atol=1e-9)


def test_matrix_input_is_per_row_and_matches_single_frames():
    rng = np.random.default_rng(0)
    mags = rng.random((7, LOG_GRID.size))
    every = D.compute_all(mags, LOG_GRID)
    assert list(every) == list(D.DESCRIPTORS)
    for name, values in every.items():
        assert values.shape == (7,)
        singles = [D.compute(name, row, LOG_GRID) for row in mags]
        np.testing.assert_allclose(values, singles, rtol=1e-12)


def test_silent_frame_gives_nan_where_undefined():
    mags = np.zeros((2, 4))
    mags[1, 2] = 1.0
    freqs = np.array([100.0, 200.0, 400.0, 800.0])
    c = D.centroid(mags, freqs)
    assert np.isnan(c[0]) and c[1] == 400.0
    assert np.isnan(D.bandwidth(mags, freqs)[0]) and np.isnan(D.rolloff(mags, freqs)[0])
    assert np.isfinite(D.loudness(mags, freqs)).all() and np.isfinite(D.flatness(mags)).all()


def test_shape_validation():
    freqs = np.linspace(100, 1000, 10)
    with pytest.raises(ValueError, match="frequencies has 10"):
        D.centroid(np.ones((3, 12)), freqs)
    with pytest.raises(ValueError, match="transpose"):
        D.bandwidth(np.ones((10, 3)), freqs)          # (n_bins, n_frames) by mistake
    with pytest.raises(ValueError, match="shape"):
        D.rolloff(np.ones((2, 3, 10)), freqs)
    with pytest.raises(ValueError, match="non-negative"):
        D.loudness(-np.ones(10), freqs)
    with pytest.raises(ValueError, match="increasing"):
        D.centroid(np.ones(10), freqs[::-1])
    with pytest.raises(ValueError, match="unknown descriptor"):
        D.compute("brightness", np.ones(10), freqs)
    with pytest.raises(ValueError, match="fraction"):
        D.rolloff(np.ones(10), freqs, fraction=0.0)


def test_agrees_with_librosa_on_a_linear_stft_grid():
    sr = 22050
    t = np.arange(sr // 2) / sr
    rng = np.random.default_rng(3)
    y = (np.sin(2 * np.pi * (200 + 3000 * t) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    S = np.abs(librosa.stft(y, n_fft=1024, hop_length=256))          # (n_bins, n_frames)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=1024)
    frames = S.T                                                        # frames as rows
    np.testing.assert_allclose(D.centroid(frames, freqs),
                               librosa.feature.spectral_centroid(S=S, sr=sr, n_fft=1024)[0],
                               rtol=1e-5)
    np.testing.assert_allclose(D.bandwidth(frames, freqs),
                               librosa.feature.spectral_bandwidth(S=S, sr=sr, n_fft=1024, p=2)[0],
                               rtol=1e-4)
    np.testing.assert_allclose(D.flatness(frames),
                               librosa.feature.spectral_flatness(S=S, power=2.0)[0], rtol=1e-4)
    np.testing.assert_allclose(D.rolloff(frames, freqs),
                               librosa.feature.spectral_rolloff(S=S, sr=sr, n_fft=1024,
                                                                roll_percent=0.85)[0])
