"""The one instrument-name table of the project.

The training corpus, the listener ratings and the stimuli of the published
timbre studies spell instruments differently (``english-horn``,
``EnglishHorn``, ``EH``, ``can``; ``french-horn``, ``FrenchHorn``, ``FH``,
``hrn`` ...). Every module maps names through :func:`canonical` and nothing
else. Canonical names are lower-case and hyphenated, as in the Philharmonia
file names (``french-horn``).
"""
from __future__ import annotations

import re

#: The 12 instruments with ratings for every pair in the combined data of the
#: paper (Esling et al. 2018), in the order of the released ratings.
RATED_INSTRUMENTS = (
    "clarinet", "saxophone", "trumpet", "cello", "french-horn", "oboe",
    "flute", "english-horn", "bassoon", "trombone", "piano", "violin",
)

#: Instruments of the corpus kept out of training altogether, so that they can
#: be encoded as *novel* sounds (the paper does this with the piccolo). None of
#: them has perceptual ratings.
HELD_OUT_INSTRUMENTS = ("bass-clarinet", "contrabassoon", "double-bass", "guitar", "mandolin",
                        "banjo")

#: Instrument family of every canonical instrument the project knows, used to
#: say how far a novel instrument lands from its family.
FAMILIES = {
    "clarinet": "woodwind", "bass-clarinet": "woodwind", "saxophone": "woodwind",
    "oboe": "woodwind", "english-horn": "woodwind", "bassoon": "woodwind",
    "contrabassoon": "woodwind", "flute": "woodwind", "piccolo": "woodwind",
    "recorder": "woodwind", "crumhorn": "woodwind",
    "trumpet": "brass", "french-horn": "brass", "trombone": "brass", "tuba": "brass",
    "violin": "bowed-string", "viola": "bowed-string", "cello": "bowed-string",
    "double-bass": "bowed-string",
    "guitar": "plucked-string", "banjo": "plucked-string", "mandolin": "plucked-string",
    "harp": "plucked-string", "harpsichord": "keyboard", "piano": "keyboard",
    "celesta": "keyboard", "organ": "keyboard", "accordion": "keyboard",
    "vibraphone": "percussion", "marimba": "percussion", "tubular-bells": "percussion",
    "timpani": "percussion", "snare-drum": "percussion", "cymbal": "percussion",
    "steel-drum": "percussion", "log-drum": "percussion", "cuica": "percussion",
    "bamboo-chimes": "percussion", "bongo": "percussion", "castanets": "percussion",
    "tambourine": "percussion", "tam-tam": "percussion", "temple-block": "percussion",
}

# Every spelling seen in the corpora, the ratings and the nine studies, written
# lower-case with separators removed, mapped to the canonical name. Study
# stimuli that are hybrids or synthetic blends (McAdams et al. 1995's
# "trumpar", "oboleste", "vibrone", ...) are not real instruments and map to
# None on purpose.
_ALIASES: dict[str, str | None] = {
    # corpora and ratings
    "clarinet": "clarinet", "clarinetinbb": "clarinet", "clarinetbb": "clarinet",
    "bassclarinet": "bass-clarinet", "saxophone": "saxophone", "altosaxophone": "saxophone",
    "saxalto": "saxophone", "saxtenorgrowls": "saxophone", "trumpet": "trumpet",
    "trumpetinc": "trumpet", "trumpetbbhard": "trumpet", "trumpetmuted": "trumpet",
    "mutedtrumpet": "trumpet", "cello": "cello", "violoncello": "cello",
    "frenchhorn": "french-horn", "horn": "french-horn", "oboe": "oboe", "flute": "flute",
    "flutenovibe": "flute", "flutefluttertongued": "flute",
    "englishhorn": "english-horn", "coranglais": "english-horn", "bassoon": "bassoon",
    "contrabassoon": "contrabassoon", "trombone": "trombone", "piano": "piano",
    "violin": "violin", "violinmartele": "violin", "violinnovibe": "violin",
    "viola": "viola", "doublebass": "double-bass", "contrabass": "double-bass",
    "guitar": "guitar", "banjo": "banjo", "mandolin": "mandolin", "tuba": "tuba",
    "basstuba": "tuba", "piccolo": "piccolo", "accordion": "accordion",
    # Iverson & Krumhansl 1993 / Lakatos 2000 stimulus names
    "vibraphone": "vibraphone", "vibraphonebowed": "vibraphone",
    "vibraphonehardmallet": "vibraphone", "tubularbells": "tubular-bells",
    "tubularbellsor": "tubular-bells", "harpsichord": "harpsichord", "harp": "harp",
    "recorderbaroquetenor": "recorder", "celesta": "celesta", "cuica": "cuica",
    "cymbalbowed": "cymbal", "cymbalstruck": "cymbal", "logdrum": "log-drum",
    "snare": "snare-drum", "steeldrum": "steel-drum", "tympani": "timpani",
    "crumhorntenor": "crumhorn", "organbaroqueplenum": "organ",
    "bamboochimeshit": "bamboo-chimes", "bongosmall": "bongo", "castanets": "castanets",
    "marimba": "marimba", "tambourinepop": "tambourine", "tamtam": "tam-tam",
    "templeblock": "temple-block",
    # Grey 1977 / Grey & Gordon 1978 codes (a trailing "t" marks the 1978
    # spectrally modified version of the same tone)
    "bn": "bassoon", "c1": "clarinet", "c2": "bass-clarinet", "eh": "english-horn",
    "fh": "french-horn", "fl": "flute", "o1": "oboe", "o2": "oboe", "s1": "cello",
    "s2": "cello", "s3": "cello", "tm": "trombone", "tp": "trumpet", "x1": "saxophone",
    "x2": "saxophone", "x3": "saxophone",
    # McAdams et al. 1995 codes
    "hrn": "french-horn", "tpt": "trumpet", "tbn": "trombone", "hrp": "harp",
    "vbs": "vibraphone", "hcd": "harpsichord", "can": "english-horn", "bsn": "bassoon",
    "cnt": "clarinet", "gtr": "guitar", "pno": "piano", "stg": "violin",
    "tpr": None, "ols": None, "sno": None, "vbn": None, "obc": None, "gtn": None,
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical(name: str) -> str | None:
    """Canonical instrument name of any spelling the project knows.

    Parameters
    ----------
    name : str
        ``"EnglishHorn"``, ``"english-horn"``, ``"EH"``, ``"can"``, ...

    Returns
    -------
    str or None
        ``"english-horn"``; None for a known stimulus that is not a real
        instrument (a hybrid timbre).

    Raises
    ------
    KeyError
        For a name the table does not know (add it to ``_ALIASES``).
    """
    key = _key(name)
    if key in _ALIASES:
        return _ALIASES[key]
    if name in FAMILIES:
        return name
    raise KeyError(f"unknown instrument name {name!r}: add it to vts.instruments._ALIASES")


def perceptual_label(instrument: str) -> str:
    """The rated instrument a canonical instrument stands for, or ``""``."""
    return instrument if instrument in RATED_INSTRUMENTS else ""


def family(instrument: str) -> str:
    """Instrument family (``woodwind``, ``brass``, ``bowed-string`` ...) or ``"other"``."""
    return FAMILIES.get(instrument, "other")


def study_stimulus_instrument(filename: str) -> str | None:
    """Canonical instrument of a stimulus file of one of the nine studies.

    Handles every naming scheme of the mirror: ``BN.aiff``, ``BNt.aiff``
    (Grey), ``01.O.Violin.aiff`` (Iverson & Krumhansl), ``01_ClarinetBb.aiff``
    (Lakatos), ``01_dn_hrn.aiff`` (McAdams). Returns None for a hybrid or
    unknown stimulus rather than raising: studies contain sounds that are no
    instrument at all.
    """
    stem = re.sub(r"\.(aiff?|wav|flac)$", "", filename, flags=re.IGNORECASE)
    stem = re.sub(r"^\d+[._]", "", stem)           # "01_" / "01."
    stem = re.sub(r"^(dn_|[OWR]\.)", "", stem)     # McAdams "dn_", Iverson "O."/"R."/"W."
    candidates = [stem]
    if re.fullmatch(r"[A-Za-z]{1,2}\d?t", stem):     # Grey & Gordon 1978 "BNt"
        candidates.append(stem[:-1])
    for candidate in candidates:
        try:
            return canonical(candidate)
        except KeyError:
            continue
    return None
