"""The interpolation pairs of notebook 07 and the companion page: which notes, and their paths.

:data:`PATH_GROUPS` names the pairs in the companion page's order;
:func:`pick_pairs` finds their notes in a catalogue (nearest available note
when the wanted one is absent), :func:`note_excerpt` cuts the recordings heard
beside the paths, and :func:`interpolation_paths` / :func:`linear_vs_spherical`
build and compare a pair's linear, spherical and expressive paths in a space.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import librosa
import numpy as np
import pandas as pd

from .. import config
from ..data import parse_note
from ..dsp.descriptors import compute
from ..io import load_audio
from ..paths import (
    expressive_path,
    linear_path,
    note_trajectory,
    path_spectra,
    spectral_distance,
    spherical_path,
)
from .notebook import NoteSpec, note_label, pick_note, slug

#: The interpolation pairs of notebook 07, in the companion page's order: group name ->
#: pairs ``(start, end, same_pitch)``. With ``same_pitch`` both notes are taken at
#: the pitch they share nearest to the start's (:func:`pick_pair`); otherwise each
#: note is the nearest one to its own wish. "Alto sax" is the corpus' ``saxophone``;
#: violin and piano (tonejs) have no dynamic. ``featured``: the companion page's two
#: videos (violin -> clarinet); ``paper-and-project``: the paper's Piccolo E5 f -> French horn
#: A4 ff (flute instead of the absent piccolo) and this project's own three.
PATH_GROUPS: dict[str, tuple[tuple[NoteSpec, NoteSpec, bool], ...]] = {
    "featured": (
        (NoteSpec("violin", "C5"), NoteSpec("clarinet", "C5", "f"), True),
    ),
    "same-pitch": (
        (NoteSpec("bassoon", "G4", "f"), NoteSpec("clarinet", "G4", "f"), True),
        (NoteSpec("clarinet", "A4", "f"), NoteSpec("saxophone", "A4", "f"), True),
        (NoteSpec("french-horn", "G4", "ff"), NoteSpec("trombone", "G4", "ff"), True),
    ),
    "changing-pitch": (
        (NoteSpec("bassoon", "C3", "f"), NoteSpec("cello", "G3", "f"), False),
        (NoteSpec("english-horn", "E4", "f"), NoteSpec("violin", "A4"), False),
        (NoteSpec("violin", "E5"), NoteSpec("saxophone", "A4", "f"), False),
        (NoteSpec("oboe", "A4", "f"), NoteSpec("clarinet", "E4", "f"), False),
        (NoteSpec("saxophone", "D4", "f"), NoteSpec("bassoon", "G3", "f"), False),
    ),
    "more-pairs": (
        (NoteSpec("saxophone", "C4", "f"), NoteSpec("clarinet", "G4", "f"), False),
        (NoteSpec("saxophone", "G4", "f"), NoteSpec("piano", "C4"), False),
        (NoteSpec("piano", "A4"), NoteSpec("english-horn", "E4", "f"), False),
        (NoteSpec("violin", "G4"), NoteSpec("english-horn", "C5", "f"), False),
        (NoteSpec("piano", "E4"), NoteSpec("saxophone", "A4", "f"), False),
    ),
    "paper-and-project": (
        (NoteSpec("flute", "E5", "f"), NoteSpec("french-horn", "A4", "ff"), False),
        (NoteSpec("clarinet", "C5", "f"), NoteSpec("cello", "C5", "f"), True),
        (NoteSpec("oboe", "G4", "f"), NoteSpec("trombone", "G4", "f"), True),
        (NoteSpec("saxophone", "D4", "f"), NoteSpec("violin", "A5", None), False),
    ),
}
#: Every pair of :data:`PATH_GROUPS`, in order.
INTERPOLATION_PAIRS: tuple[tuple[NoteSpec, NoteSpec, bool], ...] = tuple(
    pair for pairs in PATH_GROUPS.values() for pair in pairs)
#: Weight of the notes' own motion in an expressive path (the paper's 0.7).
EXPRESSIVE_SCALE = 0.7
#: Multiples of the expressive translation (the notes' own motion, weight
#: :data:`EXPRESSIVE_SCALE`) of the "expressive and experimental interpolation" sounds ...
TRANSLATION_FACTORS = (0.5, 1.0, 2.0)
#: ... made for these pairs of :data:`PATH_GROUPS` (group, number from 1).
EXPERIMENTAL_PAIRS = (("featured", 1), ("paper-and-project", 1))


def pick_pair(catalog: pd.DataFrame, a: NoteSpec, b: NoteSpec, same_pitch: bool,
              verbose: bool = True) -> tuple[pd.Series, pd.Series]:
    """Two notes for an interpolation; with ``same_pitch`` both at the pitch they share
    that is nearest to ``a``'s wanted pitch (falls back to nearest notes when they share none)."""

    if same_pitch:
        pa = set(pd.to_numeric(catalog.loc[catalog["instrument"] == a.instrument, "pitch"],
                               errors="coerce").dropna().astype(int))
        pb = set(pd.to_numeric(catalog.loc[catalog["instrument"] == b.instrument, "pitch"],
                               errors="coerce").dropna().astype(int))
        common = sorted(pa & pb)
        if common:
            want = parse_note(a.note)[1] if a.note else common[len(common) // 2]
            pitch = min(common, key=lambda p: (abs(p - want), p))
            return (pick_note(catalog, a, pitch, verbose), pick_note(catalog, b, pitch, verbose))
        if verbose:
            print(f"{a.instrument} and {b.instrument} share no pitch: nearest notes instead")
    return pick_note(catalog, a, verbose=verbose), pick_note(catalog, b, verbose=verbose)


@dataclass(frozen=True)
class ChosenPair:
    """A pair of :data:`PATH_GROUPS` with the catalogue notes chosen for it.

    ``tag``: ``<group><k>_<start>_to_<end>``, the file-name stem of its artefacts
    (sounds ``<tag>_<column>.wav`` form one row of the page's table of players).
    """

    group: str
    number: int
    start: pd.Series
    end: pd.Series
    tag: str

    @property
    def label(self) -> str:
        return f"{note_label(self.start)} → {note_label(self.end)}"


def pick_pairs(catalog: pd.DataFrame,
               groups: Mapping[str, Sequence[tuple[NoteSpec, NoteSpec, bool]]] | None = None,
               verbose: bool = True) -> list[ChosenPair]:
    """The notes of every pair of ``groups`` (default :data:`PATH_GROUPS`), by :func:`pick_pair`.

    A pair whose instrument has no note in the catalogue is skipped with a printed
    reason; pairs are numbered within their group from 1 (skipped ones keep their
    number, so a tag names the same pair in every corpus).
    """
    chosen = []
    for group, pairs in (PATH_GROUPS if groups is None else groups).items():
        for k, (a, b, same) in enumerate(pairs, start=1):
            try:
                start, end = pick_pair(catalog, a, b, same, verbose)
            except LookupError as error:
                print(f"{group} pair {k} ({a} → {b}) skipped: {error}")
                continue
            tag = f"{group}{k}_{slug(note_label(start))}_to_{slug(note_label(end))}"
            chosen.append(ChosenPair(group, k, start, end, tag))
    return chosen


def note_excerpt(path, seconds: float, top_db: float = 60.0, fade_seconds: float = 0.05
                 ) -> np.ndarray:
    """The first ``seconds`` of a note from its onset, as the paths' sounds are heard.

    The file is decoded and resampled to the project's rate (:func:`vts.io.load_audio`),
    leading silence (frames more than ``top_db`` dB under the loudest, found by
    :func:`librosa.effects.trim`) is dropped, and the excerpt fades out over
    ``fade_seconds`` when it cuts the note short.
    """
    audio = load_audio(path).astype(np.float64)
    _, (onset, _) = librosa.effects.trim(audio, top_db=top_db, frame_length=512, hop_length=256)
    out = audio[onset:onset + max(1, round(seconds * config.SAMPLE_RATE))].copy()
    if len(audio) - onset > len(out):
        fade = min(len(out), int(fade_seconds * config.SAMPLE_RATE))
        out[len(out) - fade:] *= np.linspace(1.0, 0.0, fade)
    return out.astype(np.float32)


@dataclass
class PairPaths:
    """The notes of an interpolation pair and its paths in one space.

    ``paths``: ``linear`` and ``spherical`` with ``n_points`` points between the
    notes' sustained-frame codes ``z_a``, ``z_b``; ``expressive`` with one point
    per transform frame of the sound. ``traj_a``, ``traj_b``: the notes' own
    frame-by-frame codes (:func:`vts.paths.note_trajectory`); ``n_frames``: points
    of an expressive path.
    """

    label: str
    start: pd.Series
    end: pd.Series
    z_a: np.ndarray
    z_b: np.ndarray
    paths: dict[str, np.ndarray] = field(default_factory=dict)   #: name -> (n, d)
    traj_a: np.ndarray | None = None
    traj_b: np.ndarray | None = None
    n_frames: int = 2

    def expressive(self, scale: float) -> np.ndarray:
        """The expressive path with the notes' own motion weighted by ``scale``
        (the paper's 0.7; 0 gives the spherical path)."""
        return expressive_path(self.traj_a, self.traj_b, self.n_frames, scale=scale,
                                   z_a=self.z_a, z_b=self.z_b)


def interpolation_paths(space, start: pd.Series, end: pd.Series, n_points: int,
                        seconds: float, scale: float = EXPRESSIVE_SCALE) -> PairPaths:
    """Linear, spherical and expressive paths between two catalogue notes.

    ``linear`` / ``spherical``: ``n_points`` points between the notes'
    sustained-frame codes; ``expressive``: the spherical path plus each note's
    own frame-by-frame motion (:func:`vts.paths.expressive_path`, weight
    ``scale``), one point per transform frame over ``seconds``.
    """

    z_a, z_b = space.encode_audio([start["path"], end["path"]]).astype(np.float64)
    traj_a = note_trajectory(space, start["path"])
    traj_b = note_trajectory(space, end["path"])
    n_frames = max(2, round(seconds / space.transform.hop_seconds))
    label = f"{note_label(start)} → {note_label(end)}"
    pair = PairPaths(label, start, end, z_a, z_b, {
        "linear": linear_path(z_a, z_b, n_points),
        "spherical": spherical_path(z_a, z_b, n_points)}, traj_a, traj_b, n_frames)
    pair.paths["expressive"] = pair.expressive(scale)
    return pair


def linear_vs_spherical(space, pair: PairPaths) -> dict:
    """Do linear and spherical paths give the same spectra? Measured on decoded spectra.

    Returns
    -------
    dict
        ``per_step``: DataFrame ``step, linear_vs_spherical_db`` (log-spectral
        distance of the two paths' decoded spectra at each step, dB);
        ``mean_db``, ``max_db``; ``endpoints_db`` (distance between the two end
        notes' decoded spectra, the scale of the change along a path);
        ``latent_gap_rel`` (largest latent distance between the two paths over
        the end points' distance); ``linear_loudness_range_db`` and
        ``spherical_loudness_range_db`` (loudest minus quietest step of each path's
        decoded spectra, :func:`vts.dsp.descriptors.loudness`: a path that swells or
        dips in level between its ends); ``spectra``: both paths' decoded spectra.
    """

    lin, sph = pair.paths["linear"], pair.paths["spherical"]
    s_lin, s_sph = path_spectra(space, lin), path_spectra(space, sph)
    per_step = spectral_distance(s_lin, s_sph, per_frame=True)
    ends = spectral_distance(s_lin[0], s_lin[-1])
    gap = float(np.max(np.linalg.norm(lin - sph, axis=1)) / max(np.linalg.norm(lin[-1] - lin[0]),
                                                                  1e-12))
    freqs = space.transform.frequencies
    ranges = {f"{name}_loudness_range_db": float(np.ptp(compute("loudness", spec, freqs)))
              for name, spec in (("linear", s_lin), ("spherical", s_sph))}
    return {"per_step": pd.DataFrame({"step": np.arange(len(per_step)),
                                      "linear_vs_spherical_db": per_step}),
            "mean_db": float(per_step.mean()), "max_db": float(per_step.max()),
            "endpoints_db": float(ends), "latent_gap_rel": gap, **ranges,
            "spectra": {"linear": s_lin, "spherical": s_sph}}
