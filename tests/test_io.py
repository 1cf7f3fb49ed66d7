import numpy as np
import pytest
import soundfile as sf

from vts.io import AudioError, load_audio, read_audio, write_wav


def test_load_mixes_down_and_resamples(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    left, right = np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    sf.write(tmp_path / "s.aiff", np.stack([left, right], 1).astype(np.float32), sr, format="AIFF")
    audio = load_audio(tmp_path / "s.aiff", sample_rate=22050)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 22050) <= 1
    # mono mix-down halves the left channel; the 440 Hz peak survives resampling
    assert np.max(np.abs(audio)) == pytest.approx(0.5, abs=0.02)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 22050 / len(audio) == pytest.approx(440, abs=2)


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"not audio at all" * 10, "cannot decode")])
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message) as info:
        read_audio(path)
    assert "bad.wav" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        read_audio(tmp_path / "nope.wav")


def test_write_wav_normalises_without_clipping_and_leaves_no_temp(tmp_path):
    loud = np.sin(np.linspace(0, 100, 22050)).astype(np.float32) * 7.0
    out = write_wav(tmp_path / "o.wav", loud)
    back, sr = sf.read(out)
    assert sr == 22050 and np.max(np.abs(back)) == pytest.approx(0.95, abs=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.wav"]


def test_atomic_outputs_are_readable_by_others(tmp_path):
    import os
    import stat

    from vts.io import write_json

    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & stat.S_IROTH, oct(mode)
