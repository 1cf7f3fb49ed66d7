"""The catalogue of every note the project can learn from.

One table, :func:`load_catalog`, built from any of these layouts under a data
root (see :func:`data_root`):

``philharmonia/<instrument>/<instrument>_<note>_<length>_<dynamic>_<technique>.mp3``
    Philharmonia Orchestra sound samples (CC BY-SA 3.0).
``tonejs/<instrument>/<instrument>_<note>.flac``
    Violin, trumpet and piano notes of the tonejs instrument packages (MIT).
``tinysol/``
    TinySOL (CC BY 4.0) as laid out by :mod:`mirdata` (``audio/...``,
    ``annotation/TinySOL_metadata.csv``); see :func:`download_tinysol`.
``<instrument>/<audio files>``
    Any other folder named after an instrument: a generic sample library. A
    note (``C4``, ``G#3``, ``Gs3``) and a dynamic (``pp`` ... ``ff``) are read
    from the file name when present.

Every file is decoded once when the catalogue is built: unreadable, empty,
silent and too-short files (the one rule :func:`vts.io.check_usable`) go to
``rejected.csv`` with a reason instead of stopping the run; a corpus where no
file is usable is an error (:class:`DataError`) that lists the reasons.

The catalogue is cached in ``data/catalog.csv``; ``data/catalog.json`` records
the data root and a fingerprint of its listing (every file's path, size and
modification time, :func:`listing_key`), so that adding, removing or replacing
a file rebuilds the catalogue.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import mirdata
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from . import config
from .instruments import canonical, perceptual_label
from .io import (
    AudioError,
    atomic_path,
    check_usable,
    exit_with_parent,
    read_audio,
    read_json,
    write_json,
)

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".aif", ".aiff", ".ogg")
#: Dynamics from softest to loudest; the ordinal of a dynamic is its index.
DYNAMICS = ("pp", "p", "mp", "mf", "f", "ff")
_DYNAMICS_WORDS = {
    "pianissimo": "pp", "piano": "p", "mezzo-piano": "mp", "mezzo-forte": "mf",
    "forte": "f", "fortissimo": "ff", "molto-pianissimo": "pp",
    # notes whose dynamic changes over time: kept, dynamic unknown
    "crescendo": "", "decrescendo": "", "cresc-decresc": "",
}
ATTRIBUTION = {
    "philharmonia": "Philharmonia Orchestra sound samples, CC BY-SA 3.0",
    "tonejs": "tonejs-instruments sample packages, MIT licence",
    "tinysol": "TinySOL (Cella et al. 2020, IRCAM), CC BY 4.0",
    "folder": "user sample library",
}
COLUMNS = [
    "note_id", "path", "source", "instrument", "perceptual_label", "pitch", "note",
    "dynamics", "dynamics_ordinal", "duration_s", "sample_rate", "attribution",
]
#: Folders of a data root that hold something other than notes.
_NOT_NOTES = {"timbre"}


class DataError(RuntimeError):
    """No usable data, with a message that says how to get some."""


# --------------------------------------------------------------------------- names
def parse_note(token: str) -> tuple[str, int]:
    """Note name and MIDI number of ``"Gs4"``, ``"G#4"``, ``"Ab3"``, ``"C-1"``.

    Returns
    -------
    note : str
        Sharp spelling with ``#``, e.g. ``"G#4"``.
    pitch : int
        MIDI note number (C4 = 60).
    """
    match = re.fullmatch(r"([A-Ga-g])(s|#|b|♯|♭)?(-?\d)", token)
    if not match:
        raise ValueError(f"not a note name: {token!r}")
    letter, accidental, octave = match.groups()
    accidental = {"s": "#", "♯": "#", "♭": "b"}.get(accidental or "", accidental or "")
    pitch_class = "C D EF G A B".index(letter.upper()) + {"#": 1, "b": -1, "": 0}[accidental]
    pitch = 12 * (int(octave) + 1) + pitch_class
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    return f"{names[pitch % 12]}{pitch // 12 - 1}", pitch


def dynamics_ordinal(dynamics: str) -> int:
    """0 (pp) ... 5 (ff); -1 when the dynamic is unknown (``""``)."""
    return DYNAMICS.index(dynamics) if dynamics in DYNAMICS else -1


def _row(path: Path, source: str, instrument: str, note: str = "", pitch: float = np.nan,
         dynamics: str = "", root: Path | None = None) -> dict:
    rel = path.relative_to(root).as_posix() if root else path.name
    return {
        "note_id": f"{source}:{rel}", "path": str(path), "source": source,
        "instrument": instrument, "perceptual_label": perceptual_label(instrument),
        "pitch": pitch, "note": note, "dynamics": dynamics,
        "dynamics_ordinal": dynamics_ordinal(dynamics), "attribution": ATTRIBUTION[source],
    }


# --------------------------------------------------------------------------- adapters
# Each adapter yields (row, None) for a file it understood and (None, (path,
# reason)) for one it could not; rows get duration and sample rate later.
Listing = Iterable[tuple[dict | None, tuple[str, str] | None]]


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)


def philharmonia_notes(folder: Path) -> Listing:
    """Notes of the Philharmonia layout (``<instr>_<note>_<length>_<dynamic>_<technique>``)."""
    for path in _audio_files(folder):
        parts = path.stem.split("_")
        try:
            if len(parts) != 5:
                raise ValueError("expected <instrument>_<note>_<length>_<dynamic>_<technique>")
            note, pitch = parse_note(parts[1])
            dynamics = _DYNAMICS_WORDS.get(parts[3])
            if dynamics is None:
                raise ValueError(f"unknown dynamic {parts[3]!r}")
            yield _row(path, "philharmonia", canonical(parts[0]), note, pitch, dynamics,
                       folder), None
        except (ValueError, KeyError) as error:
            yield None, (str(path), f"file name not in the Philharmonia layout: {error}")


def tonejs_notes(folder: Path) -> Listing:
    """Notes of the tonejs layout (``<instrument>_<note>.flac``, one unknown dynamic)."""
    for path in _audio_files(folder):
        try:
            name, token = path.stem.rsplit("_", 1)
            note, pitch = parse_note(token)
            yield _row(path, "tonejs", canonical(name), note, pitch, "", folder), None
        except (ValueError, KeyError) as error:
            yield None, (str(path), f"file name not in the tonejs layout: {error}")


def folder_notes(folder: Path, root: Path) -> Listing:
    """Notes of a generic ``<instrument>/<audio files>`` folder."""
    try:
        instrument = canonical(folder.name) or folder.name
    except KeyError:
        instrument = folder.name.lower()
    for path in _audio_files(folder):
        note, pitch, dynamics = "", np.nan, ""
        for token in re.split(r"[_\-. ]", path.stem):
            if not note and re.fullmatch(r"[A-G](s|#|b)?\d", token):
                note, pitch = parse_note(token)
            elif token.lower() in DYNAMICS:
                dynamics = token.lower()
        yield _row(path, "folder", instrument, note, pitch, dynamics, root), None


def tinysol_notes(data_home: Path) -> Listing:
    """Notes of TinySOL read through :mod:`mirdata`'s ``tinysol`` loader.

    With the official index (present after :func:`download_tinysol`) every
    track of the index is listed. Without it (audio copied by hand, or a
    fixture), the tracks are those of ``annotation/TinySOL_metadata.csv``, as
    parsed by mirdata, whose audio file is found under ``audio/``.
    """
    from mirdata.datasets import tinysol

    dataset = tinysol.Dataset(data_home=str(data_home))
    try:
        tracks = dataset.load_tracks()
    except FileNotFoundError:  # index not downloaded: index the files that are here
        files = {p.stem: p for p in _audio_files(data_home / "audio")}
        metadata = dataset._metadata  # mirdata's parser of TinySOL_metadata.csv
        index = {"tracks": {key: {"audio": [str(files[key].relative_to(data_home)), None]}
                            for key in metadata if key in files}}
        tracks = {key: tinysol.Track(key, str(data_home), "tinysol", index,
                                     lambda: metadata) for key in index["tracks"]}
    for track in tracks.values():
        path = Path(track.audio_path)
        if not path.exists():
            continue
        try:
            note, pitch = parse_note(track.pitch)
            instrument = canonical(track.instrument_full)
            if track.technique_abbr != "ord":
                continue  # ordinary playing technique only, as for the other sources
            yield _row(path, "tinysol", instrument, note, pitch,
                       track.dynamics if track.dynamics in DYNAMICS else "", data_home), None
        except (ValueError, KeyError) as error:
            yield None, (str(path), f"TinySOL metadata not understood: {error}")


def download_tinysol(data_home: str | os.PathLike | None = None) -> Path:
    """Download TinySOL with mirdata into ``data/tinysol`` (needs internet).

    The catalogue then finds it as ``<data root>/tinysol``.
    """

    data_home = Path(data_home or config.data_dir() / "tinysol")
    mirdata.initialize("tinysol", data_home=str(data_home)).download()
    return data_home


_LAYOUTS: dict[str, Callable[[Path], Listing]] = {
    "philharmonia": philharmonia_notes,
    "tonejs": tonejs_notes,
    "tinysol": tinysol_notes,
}


# --------------------------------------------------------------------------- root
# -- columns of a catalogue ------------------------------------------------------
def note_labels(catalog: pd.DataFrame) -> np.ndarray:
    """Perceptual label of every note (``''`` for unrated notes or no such column)."""
    if "perceptual_label" not in catalog:
        return np.full(len(catalog), "", dtype=object).astype(str)
    return catalog["perceptual_label"].fillna("").astype(str).to_numpy()


def note_pitches(catalog: pd.DataFrame) -> np.ndarray:
    """MIDI pitch of every note, float (NaN where unknown or no such column)."""
    if "pitch" not in catalog:
        return np.full(len(catalog), np.nan)
    return pd.to_numeric(catalog["pitch"], errors="coerce").to_numpy(dtype=float)


def pitch_bands(pitches, band_semitones: int) -> np.ndarray:
    """Band of every pitch: ``floor(pitch / band_semitones)`` (``-1`` for NaN pitches)."""
    pitches = np.asarray(pitches, dtype=float)
    known = np.isfinite(pitches)
    bands = np.full(len(pitches), -1, dtype=int)
    bands[known] = np.floor(pitches[known] / band_semitones).astype(int)
    return bands


def data_root() -> Path:
    """Where notes are read from.

    ``$VTS_DATA`` if set; else the read-only mirror ``../shared/data`` beside
    the repository if present; else the project's ``data/`` folder.

    Raises
    ------
    DataError
        If the chosen folder does not exist, with instructions to get data.
    """
    if os.environ.get(config.DATA_ENV):
        root = Path(os.environ[config.DATA_ENV]).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{config.DATA_ENV}={root} is not a folder")
        return root
    for root in (config.MIRROR_DIR, config.data_dir()):
        if root.is_dir() and any(_note_folders(root)):
            return root.resolve()
    raise DataError(
        "no audio found. Point VTS_DATA at a folder holding philharmonia/, tonejs/, "
        "tinysol/ or <instrument>/ sub-folders of audio files, or download TinySOL "
        "(needs internet): `vts data --download tinysol`."
    )


def _note_folders(root: Path) -> Iterable[Path]:
    return (p for p in sorted(root.iterdir()) if p.is_dir() and p.name not in _NOT_NOTES
            and not p.name.startswith("."))


def list_notes(root: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """Rows for every audio file under ``root`` (not yet decoded) and unparsable files."""
    rows, rejected = [], []
    for folder in _note_folders(root):
        adapter = _LAYOUTS.get(folder.name)
        listing = adapter(folder) if adapter else folder_notes(folder, root)
        for row, bad in listing:
            if row is not None:
                rows.append(row)
            else:
                rejected.append(bad)
    return rows, rejected


# --------------------------------------------------------------------------- validation
def inspect_audio(path: str, min_seconds: float = config.MIN_DURATION_SECONDS,
                  silence_peak: float = config.SILENCE_PEAK) -> tuple[float, int, str]:
    """Decode a file and say whether it is usable (the rule: :func:`vts.io.check_usable`).

    Returns
    -------
    duration_s : float
        Length in seconds (0 if unreadable).
    sample_rate : int
        Native sample rate in Hz (0 if unreadable).
    problem : str
        ``""`` if usable, else why not: ``unreadable: ...``, ``empty``,
        ``silent (peak ...)``, ``too short (... s < ... s)``.
    """
    try:
        audio, sample_rate = read_audio(path)
    except AudioError as error:
        reason = error.reason
        return 0.0, 0, "empty" if reason.startswith("empty") else f"unreadable: {reason}"
    duration_s = len(audio) / sample_rate if sample_rate else 0.0
    try:
        check_usable(audio, sample_rate, path, min_seconds=min_seconds,
                     silence_peak=silence_peak)
    except AudioError as error:
        return (0.0 if error.reason == "empty" else duration_s), sample_rate, error.reason
    return duration_s, sample_rate, ""


def build_catalog(root: str | os.PathLike | None = None, n_jobs: int | None = None,
                  progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index and validate every note under ``root``.

    Parameters
    ----------
    root : path-like, optional
        Data root (default :func:`data_root`).
    n_jobs : int, optional
        Parallel decoders (default: all cores).
    progress : bool
        Show a progress bar.

    Returns
    -------
    catalog : pd.DataFrame
        One row per usable note, columns :data:`COLUMNS`, sorted by ``note_id``.
    rejected : pd.DataFrame
        ``path, reason`` of every file that was skipped.

    Raises
    ------
    DataError
        If there is no audio file, or if no file is usable (the reasons of the
        first files are in the message).
    """

    root = Path(root).resolve() if root else data_root()
    rows, rejected = list_notes(root)
    if not rows and not rejected:
        raise DataError(f"{root}: no audio files found in any known layout")
    paths = [row["path"] for row in rows]
    n_jobs = n_jobs or config.available_cores()
    results = Parallel(n_jobs=n_jobs, batch_size=32, return_as="generator",
                       initializer=exit_with_parent, initargs=(os.getpid(),))(
        delayed(inspect_audio)(p) for p in paths)
    kept = []
    for row, (duration_s, sample_rate, problem) in zip(
            rows, tqdm(results, total=len(rows), desc="checking audio", disable=not progress,
                       unit="file")):
        if problem:
            rejected.append((row["path"], problem))
        else:
            kept.append({**row, "duration_s": round(duration_s, 4), "sample_rate": sample_rate})
    if not kept:
        raise DataError(_nothing_usable(root, rejected))
    catalog = pd.DataFrame(kept, columns=COLUMNS).sort_values("note_id", ignore_index=True)
    if catalog["note_id"].duplicated().any():
        dup = catalog.loc[catalog["note_id"].duplicated(), "note_id"].iloc[0]
        raise DataError(f"{root}: two files share the note id {dup!r}")
    return catalog, pd.DataFrame(rejected, columns=["path", "reason"])


def _nothing_usable(root: Path, rejected: list[tuple[str, str]], shown: int = 5) -> str:
    """The message of a corpus where every file was rejected: count and first reasons."""
    reasons = "; ".join(f"{path}: {reason}" for path, reason in rejected[:shown])
    more = f"; ... ({len(rejected) - shown} more)" if len(rejected) > shown else ""
    return (f"{root}: no usable note: all {len(rejected)} audio file(s) were rejected: "
            f"{reasons}{more}")


def catalog_path() -> Path:
    return config.data_dir() / "catalog.csv"


def listing_key(root: str | os.PathLike) -> str:
    """Fingerprint (16 hex digits) of the files under the note folders of ``root``.

    Hashes every file's path relative to ``root``, size and modification time
    (ns), hidden files and folders aside, so that a file added, removed or
    replaced after ``vts data`` changes the key.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for folder in _note_folders(root):
        for base, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(f for f in files if not f.startswith(".")):
                path = os.path.join(base, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                rel = os.path.relpath(path, root)
                digest.update(f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def write_catalog(catalog: pd.DataFrame, rejected: pd.DataFrame, root: Path,
                  listing: str | None = None) -> Path:
    """Write ``data/catalog.csv``, ``data/rejected.csv`` and their root, atomically.

    ``listing`` is the :func:`listing_key` of ``root`` the catalogue was built
    from (computed now if not given); ``catalog.json`` records it.
    """
    folder = config.data_dir()
    listing = listing_key(root) if listing is None else listing
    for name, table in (("catalog.csv", catalog), ("rejected.csv", rejected)):
        with atomic_path(folder / name) as tmp:
            table.to_csv(tmp, index=False)
    write_json(folder / "catalog.json", {"root": str(root), "listing": listing,
                                         "notes": len(catalog), "rejected": len(rejected)})
    return folder / "catalog.csv"


def load_catalog(refresh: bool = False, progress: bool = True) -> pd.DataFrame:
    """The catalogue of notes, built on first use and cached in ``data/catalog.csv``.

    The cache is rebuilt when ``refresh`` is set, when the data root
    (:func:`data_root`) differs from the one it was built from, or when the
    files under it changed (:func:`listing_key`: a file added, removed or
    modified since).
    """
    root = data_root()
    meta_path = config.data_dir() / "catalog.json"
    listing = listing_key(root)
    if not refresh and catalog_path().exists() and meta_path.exists():
        try:
            meta = read_json(meta_path)
        except (OSError, ValueError):
            meta = {}
        if isinstance(meta, dict) and meta.get("root") == str(root) \
                and meta.get("listing") == listing:
            return pd.read_csv(catalog_path(), keep_default_na=False,
                               dtype={"note": str, "dynamics": str, "perceptual_label": str},
                               na_values={"pitch": [""]})
    catalog, rejected = build_catalog(root, progress=progress)
    write_catalog(catalog, rejected, root, listing)
    return catalog


def summary(catalog: pd.DataFrame, rejected: pd.DataFrame | None = None) -> str:
    """Notes per instrument and source, and the rejected count, as text."""
    table = pd.crosstab(catalog["instrument"], catalog["source"], margins=True,
                        margins_name="total")
    lines = [(f"{len(catalog)} notes, {catalog['instrument'].nunique()} instruments, "
              f"{(catalog['perceptual_label'] != '').sum()} with perceptual ratings"),
             table.to_string()]
    if rejected is not None:
        lines.append(f"rejected: {len(rejected)} file(s)")
        for path, reason in rejected.head(20).itertuples(index=False):
            lines.append(f"  {path}: {reason}")
        if len(rejected) > 20:
            lines.append(f"  ... see {config.data_dir() / 'rejected.csv'}")
    return "\n".join(lines)


def main_data(download: str | None = None) -> int:
    """``vts data``: build, validate and summarise the catalogue."""
    if download == "tinysol":
        print(f"TinySOL downloaded to {download_tinysol()}")
    root = data_root()
    print(f"data root: {root}")
    listing = listing_key(root)
    catalog, rejected = build_catalog(root)
    path = write_catalog(catalog, rejected, root, listing)
    print(summary(catalog, rejected))
    print(f"wrote {path}")
    return 0
