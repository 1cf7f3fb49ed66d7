import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import synthetic
from vts import data
from vts.data import COLUMNS, DataError, build_catalog, load_catalog, parse_note


@pytest.mark.parametrize("token, note, pitch", [
    ("Gs4", "G#4", 68), ("G#4", "G#4", 68), ("A4", "A4", 69), ("C4", "C4", 60),
    ("Ab3", "G#3", 56), ("B-1", "B-1", 11), ("C8", "C8", 108),
])
def test_parse_note(token, note, pitch):
    assert parse_note(token) == (note, pitch)


def test_parse_note_rejects_garbage():
    with pytest.raises(ValueError, match="H9"):
        parse_note("H9")


def test_catalog_of_all_layouts(scratch_root):
    synthetic.write_philharmonia(scratch_root, ["clarinet", "bass-clarinet"], notes=[("Gs4", 68)])
    synthetic.write_tonejs(scratch_root, ["violin"], notes=[("As3", 58)])
    synthetic.write_tinysol(scratch_root)
    folder = scratch_root / "Oboe"
    folder.mkdir()
    sf.write(folder / "my-oboe_C5_ff.wav", synthetic.tone(523.25, 0.4, 0.5, 0.5), 22050)
    catalog, rejected = build_catalog(progress=False, n_jobs=1)
    assert list(catalog.columns) == COLUMNS
    assert rejected.empty
    by_source = catalog.groupby("source").size().to_dict()
    assert by_source == {"philharmonia": 4, "tonejs": 1, "tinysol": 4, "folder": 1}

    row = catalog[catalog.path.str.endswith("/clarinet_Gs4_1_forte_normal.mp3")].iloc[0]
    assert (row.instrument, row.perceptual_label, row.note, row.pitch) == ("clarinet", "clarinet", "G#4", 68)
    assert (row.dynamics, row.dynamics_ordinal) == ("f", 4)
    assert row.duration_s == pytest.approx(0.6, abs=0.06) and row.sample_rate == 22050
    assert "Philharmonia Orchestra" in row.attribution
    bass = catalog[catalog.instrument == "bass-clarinet"].iloc[0]
    assert bass.perceptual_label == ""          # not rated: trains the VAE, not the regulariser
    violin = catalog[catalog.source == "tonejs"].iloc[0]
    assert (violin.instrument, violin.note, violin.pitch, violin.dynamics) == ("violin", "A#3", 58, "")
    tiny = catalog[catalog.source == "tinysol"].set_index("note")
    assert tiny.loc["C5", "instrument"] == "oboe" and tiny.loc["C5", "dynamics"] == "pp"
    assert tiny.loc["G4", "instrument"] == "flute" and tiny.loc["A4", "sample_rate"] == 22050
    mine = catalog[catalog.source == "folder"].iloc[0]
    assert (mine.instrument, mine.note, mine.dynamics) == ("oboe", "C5", "ff")


def test_bad_files_are_rejected_with_a_reason_and_skipped(scratch_root):
    good = synthetic.write_philharmonia(scratch_root, ["flute"], notes=[("C4", 60)])
    folder = good[0].parent
    (folder / "flute_D4_1_forte_normal.mp3").write_bytes(b"")
    (folder / "flute_E4_1_forte_normal.mp3").write_bytes(b"\x00garbage" * 100)
    sf.write(folder / "flute_F4_1_forte_normal.wav", np.zeros(22050, np.float32), 22050)
    sf.write(folder / "flute_G4_1_forte_normal.wav", synthetic.tone(392, 0.05, 0.5, 0.5), 22050)
    sf.write(folder / "flute_A4_1_sforzando_normal.wav", synthetic.tone(440, 0.5, 0.5, 0.5), 22050)
    catalog, rejected = build_catalog(progress=False, n_jobs=2)
    assert len(catalog) == len(good)
    reasons = {p.split("/")[-1]: r for p, r in rejected.itertuples(index=False)}
    assert reasons["flute_D4_1_forte_normal.mp3"] == "empty"
    assert reasons["flute_E4_1_forte_normal.mp3"].startswith("unreadable")
    assert reasons["flute_F4_1_forte_normal.wav"].startswith("silent")
    assert reasons["flute_G4_1_forte_normal.wav"].startswith("too short")
    assert "sforzando" in reasons["flute_A4_1_sforzando_normal.wav"]


def test_load_catalog_writes_and_reuses_the_csv(scratch_root, tmp_path):
    synthetic.write_tonejs(scratch_root, ["piano"])
    first = load_catalog(progress=False)
    written = tmp_path / "data" / "catalog.csv"
    assert written.exists() and (tmp_path / "data" / "rejected.csv").exists()
    written.write_text(written.read_text().replace("piano_C4", "piano_C4_cached"))
    again = load_catalog(progress=False)             # from the cache, not rebuilt
    assert again.path.str.contains("cached").sum() == 1
    assert len(again) == len(first) == 4
    assert load_catalog(refresh=True, progress=False).path.str.contains("cached").sum() == 0


def test_no_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VTS_DATA", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="not a folder"):
        data.data_root()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("VTS_DATA", str(empty))
    with pytest.raises(DataError, match="no audio files"):
        build_catalog(progress=False)


def test_fallback_message_says_how_to_get_data(tmp_path, monkeypatch):
    monkeypatch.delenv("VTS_DATA", raising=False)
    monkeypatch.setattr(data.config, "MIRROR_DIR", tmp_path / "no-mirror")
    monkeypatch.setenv("VTS_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError, match="VTS_DATA.*TinySOL"):
        data.data_root()


def test_summary_counts_per_instrument_and_source():
    catalog = pd.DataFrame({"instrument": ["oboe", "oboe", "piano"], "source": ["a", "b", "b"],
                            "perceptual_label": ["oboe", "oboe", "piano"]})
    text = data.summary(catalog, pd.DataFrame({"path": ["x.wav"], "reason": ["empty"]}))
    assert "3 notes, 2 instruments" in text and "rejected: 1 file(s)" in text and "x.wav: empty" in text


def test_catalogue_columns_labels_pitches_and_bands():
    catalog = pd.DataFrame({"perceptual_label": ["oboe", None, ""],
                            "pitch": [60, "?", 71.0]})
    assert data.note_labels(catalog).tolist() == ["oboe", "", ""]
    pitches = data.note_pitches(catalog)
    assert pitches[0] == 60 and np.isnan(pitches[1]) and pitches[2] == 71
    bare = pd.DataFrame({"instrument": ["oboe", "flute"]})
    assert data.note_labels(bare).tolist() == ["", ""]
    assert np.isnan(data.note_pitches(bare)).all()
    # bands: floor(pitch / width), -1 where the pitch is unknown
    assert data.pitch_bands([59, 60, 71.5, 72, np.nan, 5], 12).tolist() == [4, 5, 5, 6, -1, 0]
    assert data.pitch_bands([60, 63, 66], 3).tolist() == [20, 21, 22]


def test_inspect_audio_and_embed_share_one_rule(tmp_path):
    """inspect_audio's reasons are vts.io.check_usable's, with the same limits."""
    from vts.io import AudioError, check_usable

    cases = {"short.wav": synthetic.tone(440, 0.01, 0.5, 0.5),
             "quiet.wav": synthetic.tone(440, 0.5, 0.5, 0.5, amplitude=1e-6),
             "fine.wav": synthetic.tone(440, 0.5, 0.5, 0.5)}
    for name, audio in cases.items():
        path = tmp_path / name
        sf.write(path, audio, 22050, subtype="FLOAT")
        _, _, problem = data.inspect_audio(str(path))
        try:
            check_usable(audio, 22050, path)
            expected = ""
        except AudioError as error:
            expected = error.reason
        assert problem == expected, name
    assert data.inspect_audio(str(tmp_path / "short.wav"))[2].startswith("too short")
    assert data.inspect_audio(str(tmp_path / "quiet.wav"))[2].startswith("silent")


def test_a_corpus_where_every_file_is_bad_is_an_error_with_the_reasons(scratch_root):
    folder = scratch_root / "oboe"
    folder.mkdir()
    sf.write(folder / "oboe_C4.wav", np.zeros(22050, np.float32), 22050)
    sf.write(folder / "oboe_D4.wav", synthetic.tone(293.7, 0.05, 0.5, 0.5), 22050)
    with pytest.raises(DataError) as info:
        build_catalog(progress=False, n_jobs=1)
    message = str(info.value)
    assert "no usable note: all 2 audio file(s) were rejected" in message
    assert "oboe_C4.wav: silent" in message and "oboe_D4.wav: too short" in message
    from vts.app import cli

    assert cli.main(["data"]) == 1                       # vts data exits non-zero


def test_catalogue_cache_notices_files_added_or_changed(scratch_root, tmp_path):
    import os

    synthetic.write_tonejs(scratch_root, ["piano"])
    assert len(load_catalog(progress=False)) == 4
    synthetic.write_tonejs(scratch_root, ["violin"], notes=[("C4", 60)])      # added
    again = load_catalog(progress=False)
    assert len(again) == 5 and (again.instrument == "violin").sum() == 1
    key = data.listing_key(scratch_root)
    assert data.read_json(tmp_path / "data" / "catalog.json")["listing"] == key
    assert load_catalog(progress=False) is not None and data.listing_key(scratch_root) == key
    path = scratch_root / "tonejs" / "violin" / "violin_C4.flac"                 # replaced
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert data.listing_key(scratch_root) != key
    path.unlink()                                                              # removed
    assert (load_catalog(progress=False).instrument == "violin").sum() == 0
