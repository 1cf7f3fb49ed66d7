"""Tests of the feature store vts.features: content, cache hits, resumption and
failure reporting, on synthetic notes written by the test itself."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from vts import config
from vts import dsp as T
from vts import features as F

SR = config.SAMPLE_RATE
#: (note_id, f0 in Hz, amplitude); "loud" is "quiet" twice as loud.
TONES = (("quiet", 440.0, 0.2), ("loud", 440.0, 0.4), ("low", 196.0, 0.3),
         ("high", 1046.5, 0.3), ("mid", 523.3, 0.25))


def tone(f0_hz: float, amplitude: float, seconds: float = 0.6) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0_hz * t) / k ** 1.5 for k in range(1, 6))
    envelope = np.minimum(1, t / 0.03) * np.clip((seconds - t) / 0.05, 0, 1)
    return (amplitude * x * envelope / np.max(np.abs(x))).astype(np.float32)


def make_catalog(folder: Path, corrupt: bool = True) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for note_id, f0, amplitude in TONES:
        path = folder / f"{note_id}.flac"
        sf.write(path, tone(f0, amplitude), SR)
        rows.append({"note_id": note_id, "path": str(path), "instrument": "synth",
                     "perceptual_label": "Synth", "pitch": round(69 + 12 * np.log2(f0 / 440)),
                     "duration_s": 0.6})
    if corrupt:
        bad = folder / "broken.wav"
        bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + os.urandom(200))
        rows.insert(2, {"note_id": "broken", "path": str(bad), "instrument": "synth",
                        "perceptual_label": "Synth", "pitch": 60, "duration_s": 0.6})
        silent = folder / "silent.flac"
        sf.write(silent, np.zeros(SR // 2, dtype=np.float32), SR)
        rows.append({"note_id": "silent", "path": str(silent), "instrument": "synth",
                     "perceptual_label": "Synth", "pitch": 60, "duration_s": 0.5})
    return pd.DataFrame(rows)


class CountingExtract:
    """Wraps F.extract_note, counting calls; optionally interrupts at call number ``stop_at``."""

    def __init__(self, stop_at: int | None = None):
        self.calls = 0
        self.stop_at = stop_at
        self.original = F.extract_note

    def __call__(self, path, transform):
        self.calls += 1
        if self.stop_at is not None and self.calls == self.stop_at:
            raise KeyboardInterrupt("simulated interruption")
        return self.original(path, transform)


@pytest.fixture
def catalog(tmp_path) -> pd.DataFrame:
    return make_catalog(tmp_path / "audio")


def good_ids() -> list[str]:
    return [note_id for note_id, _, _ in TONES]


def test_compute_features_content(tmp_path, catalog):
    with pytest.warns(UserWarning, match="could not be analysed"):
        fs = F.compute_features(catalog, "stft", cache_dir=tmp_path / "cache", n_jobs=1,
                                progress=False)
    tr = T.get_transform("stft")
    assert fs.transform == "stft"
    assert fs.frames.dtype == np.float32 and fs.frames.shape == (len(TONES), tr.n_bins)
    assert fs.catalog["note_id"].tolist() == good_ids()  # catalogue order, failures left out
    assert list(fs.catalog.index) == list(range(len(TONES)))
    assert {"path", "instrument", "pitch", "frame_index", "frame_time_s"} <= set(fs.catalog.columns)
    np.testing.assert_array_equal(fs.frequencies, tr.frequencies)
    # The strongest bin of each note is its fundamental.
    peaks = fs.frequencies[np.argmax(fs.frames, axis=1)]
    expected = np.array([f0 for _, f0, _ in TONES])
    assert np.all(np.abs(peaks - expected) <= tr.sample_rate / tr.window_samples)
    # The sustained frame lies inside the 0.6 s note, after its 30 ms attack.
    assert np.all((fs.catalog["frame_time_s"] > 0.03) & (fs.catalog["frame_time_s"] < 0.55))
    # Relative loudness survives: "loud" (x2) is above "quiet" in every strong bin.
    quiet, loud = fs.frames[0], fs.frames[1]
    strong = fs.magnitudes[0] > 1e-3 * fs.magnitudes[0].max()
    assert np.all(loud[strong] > quiet[strong])
    ratio = fs.magnitudes[1][strong] / fs.magnitudes[0][strong]
    np.testing.assert_allclose(np.median(ratio), 2.0, rtol=0.02)
    # The magnitudes are those of the note's own analysis (independent of the store).
    audio = sf.read(catalog.loc[catalog.note_id == "high", "path"].item(), dtype="float32")[0]
    direct = T.sustained_frame(audio, tr)
    np.testing.assert_allclose(fs.magnitudes[3], direct, rtol=1e-4, atol=1e-6 * direct.max())


def test_failures_are_reported_and_skipped(tmp_path, catalog, caplog):
    with pytest.warns(UserWarning, match="2 file"):
        fs = F.compute_features(catalog, "dct", cache_dir=tmp_path / "cache", n_jobs=1,
                                progress=False)
    assert "broken" not in fs.catalog["note_id"].tolist()
    failed = pd.read_csv(tmp_path / "cache" / f"dct-{fs.key}" / "failed.csv")
    assert failed["note_id"].tolist() == ["broken", "silent"]
    assert failed["path"].iloc[0].endswith("broken.wav")
    assert "AudioError" in failed["reason"].iloc[0]
    assert "silent" in failed["reason"].iloc[1]
    assert any("broken.wav" in record.getMessage() for record in caplog.records)


def test_cache_hit_does_not_recompute(tmp_path, catalog, monkeypatch):
    counter = CountingExtract()
    monkeypatch.setattr(F, "extract_note", counter)
    with pytest.warns(UserWarning):
        first = F.compute_features(catalog, "stft", cache_dir=tmp_path, n_jobs=1, progress=False)
    assert counter.calls == len(catalog)
    meta = tmp_path / f"stft-{first.key}" / "meta.json"
    mtime = meta.stat().st_mtime_ns
    second = F.load_features("stft", catalog, cache_dir=tmp_path, n_jobs=1, progress=False)
    assert counter.calls == len(catalog)  # nothing recomputed
    assert meta.stat().st_mtime_ns == mtime
    assert second.key == first.key
    np.testing.assert_array_equal(second.frames, first.frames)
    assert second.normalizer == first.normalizer
    pd.testing.assert_frame_equal(second.catalog, first.catalog)


def test_key_follows_catalogue_content(tmp_path, catalog):
    key = F.cache_key(catalog, "stft")
    assert key == F.cache_key(catalog.copy(), "stft")
    assert key != F.cache_key(catalog, "dct")
    assert key != F.cache_key(catalog.iloc[:-1], "stft")
    path = Path(catalog["path"].iloc[0])
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # file changed on disk
    assert F.cache_key(catalog, "stft") != key


def test_resume_after_interruption(tmp_path, catalog, monkeypatch):
    monkeypatch.setattr(F, "SHARD_SIZE", 2)  # 7 notes -> 4 shards
    interrupted = CountingExtract(stop_at=4)  # dies inside the second shard
    monkeypatch.setattr(F, "extract_note", interrupted)
    with pytest.raises(KeyboardInterrupt):
        F.compute_features(catalog, "stft", cache_dir=tmp_path / "a", n_jobs=1, progress=False)
    directory = F.cache_path("stft", F.cache_key(catalog, "stft"), tmp_path / "a")
    assert sorted(p.name for p in (directory / "shards").iterdir()) == ["shard-00000.npz"]
    assert not (directory / "meta.json").exists()

    resumed = CountingExtract()
    monkeypatch.setattr(F, "extract_note", resumed)
    with pytest.warns(UserWarning):
        fs = F.compute_features(catalog, "stft", cache_dir=tmp_path / "a", n_jobs=1, progress=False)
    assert resumed.calls == len(catalog) - 2  # the finished shard was not redone
    with pytest.warns(UserWarning):
        fresh = F.compute_features(catalog, "stft", cache_dir=tmp_path / "b", n_jobs=1,
                                   progress=False)
    np.testing.assert_array_equal(fs.frames, fresh.frames)
    assert fs.catalog["note_id"].tolist() == good_ids()


def test_stale_or_corrupt_shard_is_recomputed(tmp_path, catalog, monkeypatch):
    monkeypatch.setattr(F, "SHARD_SIZE", 2)
    directory = F.cache_path("stft", F.cache_key(catalog, "stft"), tmp_path)
    shards = directory / "shards"
    shards.mkdir(parents=True)
    (shards / "shard-00000.npz").write_bytes(b"not a zip file")  # e.g. disk full
    F._process_shard(str(shards / "shard-00001.npz"), ["quiet", "loud"], [catalog.path[0]] * 2,
                     "stft", SR)  # holds other notes than chunk 1 (broken, low)
    counter = CountingExtract()
    monkeypatch.setattr(F, "extract_note", counter)
    with pytest.warns(UserWarning):
        fs = F.compute_features(catalog, "stft", cache_dir=tmp_path, n_jobs=1, progress=False)
    assert counter.calls == len(catalog)
    assert fs.catalog["note_id"].tolist() == good_ids()


def test_parallel_matches_serial(tmp_path, monkeypatch):
    catalog = make_catalog(tmp_path / "audio", corrupt=False)
    monkeypatch.setattr(F, "SHARD_SIZE", 2)  # 3 shards, so that 2 worker processes get work
    assert config.worker_count(2, 3, "n_jobs") == 2
    serial = F.compute_features(catalog, "nsgt-erb", cache_dir=tmp_path / "s", n_jobs=1,
                                progress=False)
    parallel = F.compute_features(catalog, "nsgt-erb", cache_dir=tmp_path / "p", n_jobs=2,
                                  progress=False)
    assert serial.frames.shape == (len(TONES), config.ERB_BINS)
    np.testing.assert_allclose(parallel.frames, serial.frames, rtol=1e-6, atol=1e-6)
    assert parallel.catalog["note_id"].tolist() == good_ids()


def test_compute_all(tmp_path):
    catalog = make_catalog(tmp_path / "audio", corrupt=False)
    sets = F.compute_all(("stft", "dct"), catalog=catalog, cache_dir=tmp_path / "c", n_jobs=1,
                         progress=False)
    assert list(sets) == ["stft", "dct"]
    assert sets["dct"].frames.shape == (len(TONES), T.get_transform("dct").n_bins)
    with pytest.raises(ValueError, match="valid names"):
        F.compute_all(("stft", "mfcc"), catalog=catalog, cache_dir=tmp_path / "c")


def test_invalid_catalogue(tmp_path, catalog):
    with pytest.raises(ValueError, match="path"):
        F.compute_features(catalog.drop(columns="path"), "stft", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unique"):
        F.compute_features(pd.concat([catalog, catalog.iloc[:1]]), "stft", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="no note"):
        F.compute_features(catalog.iloc[:0], "stft", cache_dir=tmp_path)


def test_all_notes_failing_raises(tmp_path, catalog):
    only_bad = catalog[catalog.note_id.isin(["broken", "silent"])]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no note could be analysed"):
        F.compute_features(only_bad, "stft", cache_dir=tmp_path, n_jobs=1, progress=False)


def test_without_drops_instruments_and_changes_the_key():
    import numpy as np
    import pandas as pd

    from vts.dsp import Normalizer
    from vts.features import FeatureSet

    catalog = pd.DataFrame({"note_id": ["a", "b", "c"], "instrument": ["oboe", "banjo", "oboe"]})
    frames = np.arange(6, dtype=np.float32).reshape(3, 2)
    fs = FeatureSet("stft", frames, catalog, Normalizer(1.0, 0.0, 1.0), np.array([1.0, 2.0]), "k")
    kept = fs.without(["banjo", "guitar"])
    assert list(kept.catalog.note_id) == ["a", "c"]
    np.testing.assert_array_equal(kept.frames, [[0, 1], [4, 5]])
    assert kept.key != "k" and fs.n_notes == 3
    assert fs.without(["guitar"]) is fs


def test_truncated_feature_cache_is_reported_and_recomputed(tmp_path, catalog):
    with pytest.warns(UserWarning):
        first = F.compute_features(catalog, "stft", cache_dir=tmp_path, n_jobs=1, progress=False)
    npz = tmp_path / f"stft-{first.key}" / "features.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])        # e.g. a full disk
    counter = CountingExtract()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "extract_note", counter)
        with pytest.warns(UserWarning) as record:
            again = F.compute_features(catalog, "stft", cache_dir=tmp_path, n_jobs=1,
                                       progress=False)
    assert any(re.search(r"features.npz: BadZipFile.*recomputing", str(w.message))
               for w in record)
    assert counter.calls == 0                          # assembled again from the shards
    np.testing.assert_array_equal(again.frames, first.frames)
    (tmp_path / f"stft-{first.key}" / "normalizer.json").write_text("{")      # damaged too
    with pytest.warns(UserWarning) as record:
        third = F.compute_features(catalog, "stft", cache_dir=tmp_path, n_jobs=1,
                                   progress=False)
    assert any("normalizer.json" in str(w.message) for w in record)
    assert third.normalizer == first.normalizer
    with np.load(npz) as data:                         # the cache is whole again
        assert data["frames"].shape == first.frames.shape


def test_extract_note_applies_the_one_rule(tmp_path):
    from vts.io import AudioError

    short = tmp_path / "short.flac"
    sf.write(short, tone(440.0, 0.3, seconds=0.01), SR)
    with pytest.raises(AudioError, match="short.flac: too short"):
        F.extract_note(short, "stft")


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"                                # a zombie has exited


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("step", ["features", "data"])
def test_workers_do_not_outlive_a_killed_parent(tmp_path, step):
    """kill -9 of ``vts features`` / ``vts data``: its joblib workers exit too."""
    import signal
    import subprocess
    import sys
    import time

    catalog = make_catalog(tmp_path / "audio", corrupt=False)
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    root = tmp_path / "root"
    (root / "oboe").mkdir(parents=True)
    for path in catalog["path"]:
        os.link(path, root / "oboe" / Path(path).name)
    code = {
        "features": ("import sys, pandas as pd; from vts import features as F\n"
                     "F.SHARD_SIZE = 2\n"
                     "F.compute_features(pd.read_csv(sys.argv[1]), 'stft', cache_dir=sys.argv[2],"
                     " n_jobs=2, progress=False)\n"),
        "data": ("import sys; from vts.data import build_catalog\n"
                 "build_catalog(sys.argv[3], n_jobs=2, progress=False)\n"),
    }[step] + "print('done', flush=True)\nimport time; time.sleep(120)\n"
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "catalog.csv"),
                               str(tmp_path / "cache"), str(root)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout.readline().strip() == "done"
        workers = _children(parent.pid)
        assert len(workers) >= 2                       # the pool is still there, idle
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_running(p) for p in workers):
        time.sleep(0.2)
    alive = [p for p in workers if _running(p)]
    for pid in alive:                                  # do not leave them behind either way
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"{len(alive)} worker(s) outlived their parent"
