import pytest

from vts.instruments import (
    RATED_INSTRUMENTS,
    canonical,
    family,
    perceptual_label,
    study_stimulus_instrument,
)


@pytest.mark.parametrize("name, expected", [
    ("EnglishHorn", "english-horn"), ("english-horn", "english-horn"), ("EH", "english-horn"),
    ("can", "english-horn"), ("FrenchHorn", "french-horn"), ("hrn", "french-horn"),
    ("FH", "french-horn"), ("Violoncello", "cello"), ("Clarinet in Bb", "clarinet"),
    ("Trumpet in C", "trumpet"), ("Contrabass", "double-bass"), ("bass-clarinet", "bass-clarinet"),
])
def test_every_spelling_maps_to_one_canonical_name(name, expected):
    assert canonical(name) == expected


def test_unknown_name_is_a_clear_error():
    with pytest.raises(KeyError, match="kazoo"):
        canonical("kazoo")


@pytest.mark.parametrize("filename, expected", [
    ("BN.aiff", "bassoon"), ("BNt.aiff", "bassoon"), ("C2t.aiff", "bass-clarinet"),
    ("X3.aiff", "saxophone"), ("01.O.Violin.aiff", "violin"), ("14.W.Tuba.aiff", "tuba"),
    ("06.R.MutedTrumpet.aiff", "trumpet"), ("01_ClarinetBb.aiff", "clarinet"),
    ("12_SaxAlto.aiff", "saxophone"), ("19_Tympani.aiff", "timpani"),
    ("01_dn_hrn.aiff", "french-horn"), ("10_dn_can.aiff", "english-horn"),
    ("05_dn_tpr.aiff", None),   # McAdams' trumpar: a hybrid, not an instrument
    ("0.Comb.raw.txt", None),
])
def test_study_stimulus_names(filename, expected):
    assert study_stimulus_instrument(filename) == expected


def test_rated_instruments_have_a_label_and_a_family():
    assert len(RATED_INSTRUMENTS) == 12
    for name in RATED_INSTRUMENTS:
        assert perceptual_label(name) == name
        assert family(name) != "other"
    assert perceptual_label("banjo") == ""
