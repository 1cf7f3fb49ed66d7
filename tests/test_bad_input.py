"""Bad input, as one table: every case is a ``vts`` command line (with the files it
needs, made here), the fragments its output must contain and its exit status.

A new command gets the same treatment by adding rows. Each case runs through
:func:`vts.app.cli.main` in this process (stderr captured at the file
descriptor, so what C decoders print counts too) and must end without a
traceback. Cases marked ``early`` must be refused before the timbre space is
loaded: ``TimbreSpace.load`` raises if they get that far.
"""
from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from safetensors.torch import load_file, save_file

import synthetic
from vts import config
from vts.app import cli
from vts.space import TimbreSpace

SR = 22050


def _tone(seconds: float, peak: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (peak * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


class Ctx:
    """The files of one case, made in its own tmp_path."""

    def __init__(self, tmp: Path, space_dir: Path, synthetic_root: Path, monkeypatch):
        self.tmp, self.root, self.monkeypatch = tmp, synthetic_root, monkeypatch
        self.model = space_dir
        self.good = tmp / "good.flac"
        shutil.copy(synthetic_root / "tonejs" / "violin" / "violin_C4.flac", self.good)
        self.mp3 = tmp / "a.mp3"
        shutil.copy(synthetic_root / "philharmonia" / "oboe" / "oboe_C4_1_forte_normal.mp3",
                    self.mp3)
        self.short = tmp / "short.wav"                     # 10 ms
        sf.write(self.short, _tone(0.010), SR)
        self.quiet = tmp / "quiet.wav"                     # 1 s, peak 1e-6
        sf.write(self.quiet, _tone(1.0, 1e-6), SR)
        self.truncated = tmp / "truncated.mp3"             # 0.05 s of MP3
        sf.write(self.truncated, _tone(0.05), SR, format="MP3")
        self.text = tmp / "text.mp3"                       # not audio at all
        self.text.write_text("these are not the sounds you are looking for\n" * 40)
        self.csv = tmp / "e.csv"
        self.wav = tmp / "x.wav"

    def space_copy(self, name: str = "space") -> Path:
        copy = self.tmp / name
        shutil.copytree(self.model, copy)
        return copy

    def tampered_config(self, **model) -> Path:
        copy = self.space_copy("tampered")
        config = json.loads((copy / "config.json").read_text())
        config["model"].update(model)
        (copy / "config.json").write_text(json.dumps(config))
        return copy

    def nan_weights(self) -> Path:
        copy = self.space_copy("nan-weights")
        state = load_file(str(copy / "model.safetensors"))
        state["decoder.0.weight"][0, 0] = float("nan")
        save_file(state, str(copy / "model.safetensors"))
        return copy

    def study(self, matrix) -> Path:
        folder = synthetic.write_study(self.tmp, "Broken")
        np.savetxt(folder / "dissimilarity_matrix.txt", np.asarray(matrix, dtype=float),
                   delimiter="\t", fmt="%g")
        return folder

    def bad_corpus(self) -> Path:
        """A data root whose every file is unusable; the project folders under tmp."""
        root = self.tmp / "root"
        (root / "oboe").mkdir(parents=True)
        shutil.copy(self.short, root / "oboe" / "oboe_C4.wav")
        shutil.copy(self.quiet, root / "oboe" / "oboe_D4.wav")
        self.monkeypatch.setenv("VTS_DATA", str(root))
        self.monkeypatch.setenv("VTS_DATA_DIR", str(self.tmp / "data"))
        return root

    def damaged_feature_cache(self) -> None:
        """The smoke space's feature cache, copied, with ``features.npz`` cut short."""
        base = self.model.parents[1]
        for name in ("data", "features"):
            shutil.copytree(base / name, self.tmp / name)
            self.monkeypatch.setenv(f"VTS_{name.upper()}_DIR", str(self.tmp / name))
        self.monkeypatch.setenv("VTS_DATA", str(self.root))
        (npz,) = (self.tmp / "features").glob("nsgt-erb-*/features.npz")
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
        self.damaged = npz


def _unchanged(attribute: str) -> Callable[[Ctx, dict], None]:
    def check(ctx: Ctx, before: dict) -> None:
        path = getattr(ctx, attribute)
        assert path.read_bytes() == before[attribute], f"{path} was modified"
    return check


def _csv_rows(n: int) -> Callable[[Ctx, dict], None]:
    def check(ctx: Ctx, before: dict) -> None:
        table = pd.read_csv(ctx.csv)
        assert table["path"].tolist() == [str(ctx.good)] * n
    return check


def _nothing_written(ctx: Ctx, before: dict) -> None:
    assert not ctx.csv.exists() and not ctx.wav.exists()
    assert not [p for p in ctx.tmp.iterdir() if p.name.startswith((".e.csv", ".x.wav"))]


def _features_rebuilt(ctx: Ctx, before: dict) -> None:
    with np.load(ctx.damaged) as data:
        assert data["frames"].shape == (100, 168)


@dataclass
class Case:
    id: str
    argv: Callable[[Ctx], list]
    expect: tuple[str, ...]
    status: int
    early: bool = False                          # refused before the space is loaded
    absent: tuple[str, ...] = ()                 # must not appear in the output
    check: Callable[[Ctx, dict], None] | None = None
    keep: tuple[str, ...] = field(default=("good", "mp3"))


M = "--model"
CASES = [
    # -- vts embed: outputs ------------------------------------------------------------
    Case("embed-out-is-input", lambda c: ["embed", M, c.model, "--out", c.mp3, c.mp3],
         ("--out", "a.mp3 is also an input"), 1, early=True, check=_unchanged("mp3")),
    Case("embed-out-not-csv", lambda c: ["embed", M, c.model, "--out", c.tmp / "e.mp3", c.good],
         ("e.mp3: vts embed writes a .csv file",), 1, early=True),
    Case("embed-out-exists", lambda c: (c.csv.write_text("mine\n"),
                                        ["embed", M, c.model, "--out", c.csv, c.good])[1],
         ("--out", "e.csv exists; give --force"), 1, early=True,
         check=lambda c, b: c.csv.read_text() == "mine\n" or pytest.fail("e.csv replaced")),
    Case("embed-out-folder-is-a-file",
         lambda c: ["embed", M, c.model, "--out", c.good / "e.csv", c.good],
         ("--out", "good.flac is not a folder"), 1, early=True),
    # -- vts embed: the one rule of usable audio, file by file -------------------------
    Case("embed-too-short", lambda c: ["embed", M, c.model, "--out", c.csv, c.short],
         ("short.wav: too short (0.010 s < 0.15 s)", "no file could be embedded"), 2,
         check=_nothing_written),
    Case("embed-silent", lambda c: ["embed", M, c.model, "--out", c.csv, c.quiet],
         ("quiet.wav: silent (peak", "no file could be embedded"), 2, check=_nothing_written),
    Case("embed-truncated-mp3", lambda c: ["embed", M, c.model, "--out", c.csv, c.truncated],
         ("truncated.mp3: too short (0.050 s",), 2, check=_nothing_written),
    Case("embed-not-audio", lambda c: ["embed", M, c.model, "--out", c.csv, c.text],
         ("text.mp3: cannot decode audio (not a sound file in a known format",), 2,
         absent=("possibly a pipe", "Note:", "Illegal Audio-MPEG-Header"),
         check=_nothing_written),
    Case("embed-missing-file", lambda c: ["embed", M, c.model, "--out", c.csv,
                                          c.tmp / "missing.flac"],
         ("missing.flac: no such audio file",), 2, check=_nothing_written),
    Case("embed-some-bad", lambda c: ["embed", M, c.model, "--out", c.csv, c.good, c.short,
                                      c.text, c.good],
         ("short.wav: too short", "text.mp3: cannot decode",
          "2 of 4 file(s) could not be embedded", "wrote the 2 other(s)"), 1,
         check=_csv_rows(2)),
    # -- vts synth ---------------------------------------------------------------------
    Case("synth-out-is-input", lambda c: ["synth", M, c.model, "--from", c.mp3, "--to", "flute",
                                          "--out", c.mp3],
         ("--out", "a.mp3 is also an input"), 1, early=True, check=_unchanged("mp3")),
    Case("synth-out-not-wav", lambda c: ["synth", M, c.model, "--point", "0,0,0", "--out",
                                         c.tmp / "x.mp3"],
         ("x.mp3: vts synth writes a .wav file",), 1, early=True),
    Case("synth-out-exists", lambda c: (c.wav.write_bytes(b"mine"),
                                        ["synth", M, c.model, "--point", "0,0,0", "--out",
                                         c.wav])[1],
         ("x.wav exists; give --force",), 1, early=True,
         check=lambda c, b: c.wav.read_bytes() == b"mine" or pytest.fail("x.wav replaced")),
    Case("synth-out-folder-is-a-file",
         lambda c: ["synth", M, c.model, "--point", "0,0,0", "--out", c.good / "x.wav"],
         ("--out", "good.flac is not a folder"), 1, early=True),
    Case("synth-griffin-lim-too-long",
         lambda c: ["synth", M, c.model, "--point", "0,0,0", "--seconds", "3600", "--out",
                    c.wav],
         ("--seconds 3600: Griffin-Lim renders at most 600 s", "--reconstruction fast"), 1,
         early=True, check=_nothing_written),
    Case("synth-seconds-inf", lambda c: ["synth", M, c.model, "--point", "0,0,0", "--seconds",
                                         "inf", "--out", c.wav],
         ("--seconds must be a finite number > 0",), 1, early=True),
    Case("synth-steps", lambda c: ["synth", M, c.model, "--from", "oboe", "--to", "flute",
                                   "--steps", "1", "--out", c.wav],
         ("--steps must be an integer from 2",), 1, early=True, absent=("n_points",)),
    Case("synth-scale", lambda c: ["synth", M, c.model, "--from", c.good, "--to", c.mp3,
                                   "--path", "expressive", "--scale", "nan", "--out", c.wav],
         ("--scale must be a finite number >= 0",), 1, early=True, absent=("magnitude",)),
    Case("synth-n-iter", lambda c: ["synth", M, c.model, "--point", "0,0,0", "--n-iter", "-1",
                                    "--out", c.wav],
         ("--n-iter must be an integer >= 0",), 1, early=True),
    Case("synth-from-too-short", lambda c: ["synth", M, c.model, "--from", c.short, "--to",
                                            "flute", "--out", c.wav],
         ("short.wav: too short",), 1, early=True),
    Case("synth-point-far-away", lambda c: ["synth", M, c.model, "--point", "1e30,0,0",
                                            "--reconstruction", "fast", "--out", c.wav],
         ("--point 1e30,0,0 is too far from the notes", "not finite"), 1,
         absent=("render: magnitudes",), check=_nothing_written),
    # -- saved spaces --------------------------------------------------------------------
    Case("info-latent-dim-not-integer", lambda c: ["info", M, c.tampered_config(latent_dim="8")],
         ("tampered: config.json: model.latent_dim must be a positive integer, got '8'",), 1),
    Case("info-hidden-units-absurd",
         lambda c: ["info", M, c.tampered_config(hidden_units=10**7)],
         ("tampered: config.json and model.safetensors disagree", "(10000000, 168)"), 1),
    Case("info-nan-weights", lambda c: ["info", M, c.nan_weights()],
         ("nan-weights: model.safetensors holds NaN or infinite weights",), 1),
    # -- corpus, features, studies ------------------------------------------------------
    Case("data-every-file-bad", lambda c: (c.bad_corpus(), ["data"])[1],
         ("no usable note: all 2 audio file(s) were rejected", "oboe_C4.wav: too short",
          "oboe_D4.wav: silent"), 1),
    Case("features-truncated-cache", lambda c: (c.damaged_feature_cache(),
                                                ["features", "--transform", "nsgt-erb"])[1],
         ("features.npz", "damaged", "recomputing"), 0, check=_features_rebuilt),
    Case("evaluate-negative-matrix",
         lambda c: ["evaluate", M, c.model, c.study(-np.triu(np.ones((5, 5)), 1)), "--out",
                    c.csv],
         ("Broken/dissimilarity_matrix.txt: negative dissimilarity -1",), 1),
    Case("evaluate-out-exists", lambda c: (c.csv.write_text("mine\n"),
                                           ["evaluate", M, c.model, "--out", c.csv])[1],
         ("e.csv exists; give --force",), 1, early=True),
]


def run(argv, capfd) -> tuple[int, str, str]:
    """``vts ARGV`` in this process: status, stderr (+ warnings raised) and stdout."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = cli.main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return status, err + "".join(f"\nwarning: {w.message}" for w in caught), out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, space_dir, synthetic_root, monkeypatch, capfd):
    ctx = Ctx(tmp_path, space_dir, synthetic_root, monkeypatch)
    argv = case.argv(ctx)
    before = {name: getattr(ctx, name).read_bytes() for name in case.keep}
    if case.early:
        def loaded(*args, **kwargs):
            raise AssertionError(f"{case.id}: the space was loaded before the input was refused")
        monkeypatch.setattr(TimbreSpace, "load", classmethod(loaded))
    capfd.readouterr()
    status, err, _out = run(argv, capfd)
    assert "Traceback" not in err, err
    for fragment in case.expect:
        assert fragment in err, f"{case.id}: {fragment!r} not in:\n{err}"
    for fragment in case.absent:
        assert fragment not in err, f"{case.id}: {fragment!r} in:\n{err}"
    assert status == case.status, f"{case.id}: status {status}\n{err}"
    if case.check is not None:
        case.check(ctx, before)
    for name, content in before.items():                  # inputs are never touched
        assert getattr(ctx, name).read_bytes() == content


def test_every_command_has_a_case():
    """A new sub-command must get rows in the table (ids start with the command)."""
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    covered = {case.id.split("-")[0] for case in CASES}
    assert covered <= commands, covered - commands
    missing = commands - covered - {"train", "figures"}     # driven by their own tests
    assert not missing, f"no bad-input case for: {', '.join(sorted(missing))}"


def test_error_of_the_write_names_out_not_the_temporary(space_dir, tmp_path, monkeypatch,
                                                         capfd):
    """A write that fails after the checks (disk full, permissions) names --out."""
    from vts.app import commands

    def refuse(path, audio, rate):
        raise PermissionError(13, "Permission denied",
                              str(Path(path).parent / ".x.wav.1-abcdefgh.wav"))

    monkeypatch.setattr(commands, "write_wav", refuse)
    status, err, _ = run(["synth", M, space_dir, "--point", "0,0,0", "--seconds", "0.2",
                          "--reconstruction", "fast", "--out", tmp_path / "x.wav"], capfd)
    assert status == 1
    assert f"--out {tmp_path / 'x.wav'}: cannot write it (Permission denied)" in err
    assert ".x.wav." not in err


def test_force_replaces_an_existing_output(space_dir, tmp_path, capfd):
    out = tmp_path / "x.wav"
    out.write_bytes(b"old")
    status, err, _ = run(["synth", M, space_dir, "--point", "0,0,0", "--seconds", "0.2",
                          "--reconstruction", "fast", "--force", "--out", out], capfd)
    assert status == 0, err
    audio, rate = sf.read(out)
    assert rate == SR and len(audio) == round(0.2 * SR)


def test_help_states_the_griffin_lim_limit_and_embed_statuses():
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices
    assert f"{config.MAX_GRIFFIN_LIM_SECONDS:g} s" in sub["synth"].format_help()
    embed = " ".join(sub["embed"].format_help().split())
    assert "1 some files could not be embedded" in embed and "2 no file could be" in embed

