"""The interpolation pairs: the page's groups, choosing their notes, the recordings' excerpts."""
import numpy as np
import soundfile as sf

from synthetic import catalog as _catalog
from vts import config
from vts.app import pairs
from vts.app.notebook import NoteSpec
from vts.instruments import RATED_INSTRUMENTS


def test_pick_pair_same_pitch_uses_a_shared_pitch():
    catalog = _catalog([
        ("a1", "", "flute", "C4", 60, "f", ""), ("a2", "", "flute", "E4", 64, "f", ""),
        ("b1", "", "cello", "E4", 64, "f", ""), ("b2", "", "cello", "G4", 67, "f", "")])
    a, b = pairs.pick_pair(catalog, NoteSpec("flute", "C4", "f"), NoteSpec("cello", "C4", "f"),
                        same_pitch=True, verbose=False)
    assert (a["note_id"], b["note_id"]) == ("a2", "b1")
    a, b = pairs.pick_pair(catalog, NoteSpec("flute", "C4", "f"), NoteSpec("cello", "C4", "f"),
                        same_pitch=False, verbose=False)
    assert (a["note_id"], b["note_id"]) == ("a1", "b1")


def test_path_groups_hold_the_companion_page_pairs():
    groups = {g: [(a.instrument, b.instrument, same) for a, b, same in p]
              for g, p in pairs.PATH_GROUPS.items()}
    assert groups["featured"] == [("violin", "clarinet", True)]
    assert groups["same-pitch"] == [("bassoon", "clarinet", True),
                                    ("clarinet", "saxophone", True),
                                    ("french-horn", "trombone", True)]
    assert [(a, b) for a, b, _ in groups["changing-pitch"]] == [
        ("bassoon", "cello"), ("english-horn", "violin"), ("violin", "saxophone"),
        ("oboe", "clarinet"), ("saxophone", "bassoon")]
    assert [(a, b) for a, b, _ in groups["more-pairs"]] == [
        ("saxophone", "clarinet"), ("saxophone", "piano"), ("piano", "english-horn"),
        ("violin", "english-horn"), ("piano", "saxophone")]
    assert len(pairs.INTERPOLATION_PAIRS) == sum(map(len, pairs.PATH_GROUPS.values())) == 18
    assert {x for a, b, _ in pairs.INTERPOLATION_PAIRS for x in (a.instrument, b.instrument)} <= \
        set(RATED_INSTRUMENTS)
    for group, number in pairs.EXPERIMENTAL_PAIRS:
        assert 1 <= number <= len(pairs.PATH_GROUPS[group])


def test_pick_pairs_tags_pairs_and_skips_absent_instruments(capsys):
    catalog = _catalog([
        ("v1", "", "violin", "C5", 72, "", "T"), ("c1", "", "clarinet", "C5", 72, "f", "P"),
        ("c2", "", "clarinet", "G4", 67, "f", "P")])
    groups = {"featured": ((NoteSpec("violin", "C5"), NoteSpec("clarinet", "C5", "f"),
                            True),),
              "more-pairs": ((NoteSpec("piano", "A4"), NoteSpec("clarinet", "E4", "f"),
                              False),
                             (NoteSpec("clarinet", "A4", "f"), NoteSpec("violin", "G4"),
                              False))}
    chosen = pairs.pick_pairs(catalog, groups)
    out = capsys.readouterr().out
    assert "more-pairs pair 1 (piano A4 → clarinet E4 f) skipped: no piano note" in out
    assert [(p.group, p.number, p.tag) for p in chosen] == [
        ("featured", 1, "featured1_violin-C5_to_clarinet-C5-f"),
        ("more-pairs", 2, "more-pairs2_clarinet-G4-f_to_violin-C5")]
    assert chosen[0].label == "violin C5 → clarinet C5 f"


def test_note_excerpt_starts_at_the_onset_and_lasts_the_paths_duration(tmp_path):
    rate = config.SAMPLE_RATE
    t = np.arange(rate) / rate
    tone = np.concatenate([np.zeros(rate // 2), 0.5 * np.sin(2 * np.pi * 440 * t)])
    sf.write(tmp_path / "note.wav", tone, rate)
    excerpt = pairs.note_excerpt(tmp_path / "note.wav", 0.4)
    assert len(excerpt) == round(0.4 * rate)
    assert np.max(np.abs(excerpt[:256])) > 0.1                # no leading silence
    assert abs(excerpt[-1]) < 1e-3                            # faded out where it was cut
    whole = pairs.note_excerpt(tmp_path / "note.wav", 5.0)       # shorter than asked: all of it
    assert len(whole) <= rate + 256 and abs(whole[-200]) > 0
