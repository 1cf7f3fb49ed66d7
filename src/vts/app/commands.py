"""What each ``vts`` sub-command does (the parser lives in :mod:`vts.app.cli`).

Bad input is refused before any heavy work, with the option and the file at
fault named: every output file (``--out``) goes through :func:`check_output`
(not one of the inputs, the right suffix, not an existing file unless
``--force``, a folder that can be written) before a model is loaded; a sound
file goes through the one rule of usable audio, :func:`vts.io.check_usable`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import config, paths
from ..data import AUDIO_EXTENSIONS, main_data
from ..features import compute_all
from ..instruments import canonical
from ..io import AudioError, atomic_path, check_usable, read_audio, write_wav
from ..listeners import main_evaluate
from ..plan import train_all
from ..space import TimbreSpace
from .runner import NotebookError, run_notebooks


def cmd_data(args: argparse.Namespace) -> int:

    return main_data(download=args.download)


def cmd_features(args: argparse.Namespace) -> int:

    compute_all(transforms=args.transform or config.TRANSFORMS)
    return 0


def cmd_train(args: argparse.Namespace) -> int:

    train_all(profile=args.profile, transforms=args.transform or config.TRANSFORMS,
              jobs=args.jobs)
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    try:
        runs = run_notebooks(args.profile, args.only, args.output_dir, args.models_dir,
                             args.build_dir, args.seed, kernel_name=args.kernel,
                             jobs=args.jobs)
    except NotebookError as error:
        raise RuntimeError(str(error)) from error
    width = max(len(r.name) for r in runs) if runs else 10
    for r in runs:
        print(f"{r.name:<{width}}  {r.seconds:7.1f} s  {r.artefacts:3d} artefacts")
    out = Path(args.output_dir) if args.output_dir else config.figures_dir()
    print(f"{len(runs)} notebooks in {sum(r.seconds for r in runs):.1f} s; index: "
          f"{out / 'README.md'}")
    return 0


def _check_model_dir(model_dir) -> Path:
    """Fail fast (before importing torch) on a model path that is not a folder."""
    path = Path(model_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such timbre-space directory")
    return path


def _load_space(model_dir: str):
    _check_model_dir(model_dir)

    return TimbreSpace.load(model_dir)


def _check_audio(path: Path) -> None:
    """Fail fast on a sound file that is missing, undecodable or not usable
    (:func:`vts.io.check_usable`: empty, silent, too short), before a model is loaded."""
    audio, sample_rate = read_audio(path)
    check_usable(audio, sample_rate, path)


#: Most points of a linear / spherical ``vts synth`` path (``--steps``).
MAX_STEPS = 10_000


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(out, command: str, suffix: str, inputs=(), force: bool = False,
                 option: str = "--out") -> Path:
    """Refuse an output file that would lose data or fail late, before any work.

    Parameters
    ----------
    out : path-like
        The ``--out`` of the user, named as given in every message.
    command : str
        The sub-command (``"embed"``), for the messages.
    suffix : str
        The one suffix of what the command writes (``".csv"``, ``".wav"``).
    inputs : iterable of paths
        The command's input files: ``out`` must be none of them.
    force : bool
        Replace an existing ``out`` (``--force``).

    Raises
    ------
    ValueError
        ``out`` is one of the inputs, has another suffix, or is a folder.
    FileExistsError
        ``out`` exists and ``force`` is not set.
    OSError
        The folder of ``out`` cannot be created or written.
    """
    path = Path(out)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise ValueError(f"{option} {out} is also an input ({source}); vts {command} "
                             f"never overwrites its input, choose another {option}")
    if path.is_dir():
        raise ValueError(f"{option} {out} is a folder; give a file name ending in {suffix}")
    if path.suffix.lower() != suffix:
        raise ValueError(f"{option} {out}: vts {command} writes a {suffix} file; give a file "
                         f"name ending in {suffix}")
    if (path.exists() or path.is_symlink()) and not force:
        raise FileExistsError(f"{option} {out} exists; give --force to replace it")
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{option} {out}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {out}: cannot write into {folder} (permission denied)")
    return path


def _write_error(out, option: str, error: OSError) -> OSError:
    """An error of writing ``out`` that names the user's path, not the temporary file."""
    reason = error.strerror or str(error)
    return OSError(f"{option} {out}: cannot write it ({reason})")


def _audio_files(paths: list[str]) -> list[Path]:
    """The files named, with every audio file under each folder named (sorted)."""

    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                raise ValueError(f"{path}: folder holds no audio file "
                                 f"({', '.join(AUDIO_EXTENSIONS)})")
            files.extend(found)
        else:
            files.append(path)
    return files


def _encode_file(space, path: Path):
    """Posterior mean of a file's sustained frame; every failure names the file.

    The file must be usable audio (:func:`vts.io.check_usable`, applied by
    :meth:`TimbreSpace.encode_audio` to files).
    """

    try:
        return space.encode_audio(path)
    except AudioError:
        raise
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: {error}") from error


#: Exit status of ``vts embed`` when some files failed (the others are written)
#: and when none could be embedded (nothing is written).
EMBED_SOME_FAILED, EMBED_NONE_EMBEDDED = 1, 2


def cmd_embed(args: argparse.Namespace) -> int:
    _check_model_dir(args.model)
    files = _audio_files(args.audio)
    check_output(args.out, "embed", ".csv", files, args.force)
    space = _load_space(args.model)
    codes, kept, failed = [], [], []
    with tqdm(files, desc="embed", unit="file", disable=not args.progress, leave=False) as bar:
        for path in bar:
            try:
                codes.append(_encode_file(space, path))
                kept.append(path)
            except (AudioError, ValueError, RuntimeError) as error:
                failed.append(error)
    for error in failed:
        print(f"vts embed: error: {error}", file=sys.stderr)
    if not kept:
        print(f"vts embed: no file could be embedded ({len(failed)} failed); {args.out} not "
              "written", file=sys.stderr)
        return EMBED_NONE_EMBEDDED
    codes = np.stack(codes)
    pcs = np.asarray(space.to_pca(codes), dtype=np.float64)
    centroids = space.centroids
    dist = np.linalg.norm(codes[:, None, :].astype(np.float64)
                          - centroids.to_numpy(np.float64)[None, :, :], axis=2)
    table = pd.DataFrame(codes, columns=space.z_columns)
    table.insert(0, "path", [str(p) for p in kept])
    for i in range(pcs.shape[1]):
        table[f"pc{i + 1}"] = pcs[:, i]
    table["nearest_instrument"] = centroids.index[dist.argmin(axis=1)].astype(str)
    table["centroid_distance"] = dist.min(axis=1)
    try:
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
    except OSError as error:
        raise _write_error(args.out, "--out", error) from error
    counts = table["nearest_instrument"].value_counts()
    print(f"embedded {len(table)} file(s) in {space.name}: "
          + ", ".join(f"{name} {n}" for name, n in counts.items()))
    print(f"wrote {args.out}")
    if failed:
        print(f"vts embed: {len(failed)} of {len(files)} file(s) could not be embedded (listed "
              f"above); wrote the {len(kept)} other(s) to {args.out}", file=sys.stderr)
        return EMBED_SOME_FAILED
    return 0


def _parse_point(raw: str, model_dir, n_axes: int) -> list[float]:
    """PCA coordinates of ``--point``; the error names the option and the model."""

    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        raise ValueError(f"--point {raw!r}: not comma-separated numbers") from None
    if len(values) != n_axes:
        raise ValueError(f"--point {raw!r}: {len(values)} value(s), but the PCA of "
                         f"{model_dir} has {n_axes} axes (give PC1,...,PC{n_axes})")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"--point {raw!r}: coordinates must be finite")
    return values


def _pca_axes(model_dir) -> int:
    """PCA axes of a space from its config.json alone (3, or the latent size if smaller)."""

    try:
        latent_dim = int(json.loads((Path(model_dir) / "config.json").read_text())
                         ["model"]["latent_dim"])
    except (OSError, ValueError, KeyError, TypeError):
        return 3            # unreadable: TimbreSpace.load will say why
    return min(3, latent_dim)


def _endpoint(space, spec: str, trajectory: bool):
    """Code (and, for expressive paths, per-frame codes) of an audio file or an instrument."""

    path = Path(spec)
    if path.is_file():
        z = _encode_file(space, path)
        if not trajectory:
            return z, None
        try:
            return z, paths.note_trajectory(space, path)
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{path}: {error}") from error
    names = {str(n): str(n) for n in space.instruments}
    try:
        name = canonical(spec) or spec
    except KeyError:
        name = spec
    if name in names:
        if trajectory:
            raise ValueError(f"--path expressive needs audio files for --from and --to "
                             f"(their own frames); {spec!r} is an instrument name")
        return space.centroids.loc[name].to_numpy(), None
    if path.suffix.lower() in AUDIO_EXTENSIONS or os.sep in spec:
        raise AudioError(f"{path}: no such audio file")
    raise ValueError(f"{spec!r}: neither an audio file nor an instrument of {space.directory} "
                     f"(instruments: {', '.join(space.instruments)})")


def _check_synth_options(args: argparse.Namespace) -> float:
    """The numeric options of ``vts synth``, each error naming its option; the duration (s)."""
    if args.point is None and (args.start is None or args.end is None):
        raise ValueError("give --point PC1,PC2,PC3, or both --from and --to")
    if args.point is not None and (args.start is not None or args.end is not None):
        raise ValueError("give either --point or --from/--to, not both")
    seconds = args.seconds if args.seconds is not None else (1.0 if args.point is not None else 3.0)
    if not math.isfinite(seconds) or not seconds > 0:
        raise ValueError(f"--seconds must be a finite number > 0, got {seconds}")
    if args.reconstruction == "griffin-lim" and seconds > config.MAX_GRIFFIN_LIM_SECONDS:
        raise ValueError(f"--seconds {seconds:g}: Griffin-Lim renders at most "
                         f"{config.MAX_GRIFFIN_LIM_SECONDS:g} s (its memory grows with the duration, "
                         f"about 7 MB per second); use --reconstruction fast for longer sounds")
    if args.reconstruction == "fast" and seconds > config.MAX_FAST_SECONDS:
        raise ValueError(f"--seconds {seconds:g}: --reconstruction fast renders at most "
                         f"{config.MAX_FAST_SECONDS:g} s")
    if not 2 <= args.steps <= MAX_STEPS:
        raise ValueError(f"--steps must be an integer from 2 to {MAX_STEPS}, got {args.steps}")
    if not math.isfinite(args.scale) or args.scale < 0:
        raise ValueError(f"--scale must be a finite number >= 0, got {args.scale}")
    if args.n_iter < 0:
        raise ValueError(f"--n-iter must be an integer >= 0, got {args.n_iter}")
    return float(seconds)


def _synthesize(args: argparse.Namespace, space, seconds: float):
    """The audio of ``vts synth`` and its description."""
    tr = space.transform
    rate = int(tr.sample_rate)
    if args.point is not None:
        point = _parse_point(args.point, space.directory, int(space.pca.n_components_))
        z = space.from_pca(np.asarray(point, dtype=np.float64))
        audio = space.synthesize(z, seconds, method=args.reconstruction, n_iter=args.n_iter)
        return audio, f"point {args.point}"
    expressive = args.path == "expressive"
    z_a, frames_a = _endpoint(space, args.start, expressive)
    z_b, frames_b = _endpoint(space, args.end, expressive)
    if expressive:
        n_frames = int(tr.n_frames(max(1, round(seconds * rate))))
        path = paths.expressive_path(frames_a, frames_b, n_frames, scale=args.scale)
    else:
        path = paths.PATHS[args.path](z_a, z_b, args.steps)
    audio = paths.path_audio(space, path, seconds, method=args.reconstruction,
                             n_iter=args.n_iter)
    return audio, f"{args.path} path {args.start} -> {args.end} ({len(path)} points)"


def cmd_synth(args: argparse.Namespace) -> int:
    seconds = _check_synth_options(args)
    _check_model_dir(args.model)
    if args.point is not None:
        _parse_point(args.point, args.model, _pca_axes(args.model))
    inputs = [Path(spec) for spec in (args.start, args.end)
              if spec is not None and Path(spec).is_file()]
    check_output(args.out, "synth", ".wav", inputs, args.force)
    for path in inputs:
        _check_audio(path)
    space = _load_space(args.model)
    rate = int(space.transform.sample_rate)
    try:
        with np.errstate(over="ignore", invalid="ignore"):     # reported below, not warned
            audio, what = _synthesize(args, space, seconds)
    except ValueError as error:
        if not str(error).startswith("render: magnitudes must be finite"):
            raise
        cause = (f"--point {args.point} is too far from the notes" if args.point is not None
                 else f"--scale {args.scale:g} moves too far from the notes"
                 if args.path == "expressive" else "the path leaves the notes")
        raise ValueError(f"{cause} of {space.directory}: the decoded spectrum is not finite") \
            from error
    audio = np.asarray(audio, dtype=np.float32)
    if not np.all(np.isfinite(audio)):
        raise RuntimeError(f"{space.directory}: synthesis produced non-finite samples")
    try:
        write_wav(args.out, audio, rate)
    except OSError as error:
        raise _write_error(args.out, "--out", error) from error
    print(f"{what}: {len(audio) / rate:.2f} s ({args.reconstruction}) -> {args.out}")
    return 0


def space_info(space) -> dict:
    """What ``vts info`` prints, as a JSON-able dict."""
    cfg = space.config
    training = cfg.get("training", {})
    model = cfg.get("model", {})
    tr = space.transform
    counts = space.latents.groupby("split")["instrument"].value_counts()
    train_counts = counts.get("train", {})
    return {
        "directory": str(space.directory),
        "name": space.name,
        "transform": {"name": space.transform_name, "n_bins": int(space.n_bins),
                      "fmin_hz": float(tr.frequencies[0]), "fmax_hz": float(tr.frequencies[-1]),
                      "hop_seconds": float(tr.hop_seconds)},
        "regularized": space.regularized,
        "kind": space.kind,
        "listener_of": cfg.get("listener_of"),
        "model": {k: model.get(k) for k in ("latent_dim", "hidden_units", "n_hidden_layers",
                                            "likelihood")},
        "notes": {"total": len(space.latents),
                  "train": int((space.latents["split"] == "train").sum()),
                  "test": int((space.latents["split"] == "test").sum())},
        "instruments": {str(k): int(v) for k, v in dict(train_counts).items()},
        "pca_explained_variance": [float(v) for v in space.pca.explained_variance_ratio_],
        "training": {"profile": training.get("profile"),
                     **{k: training.get(k) for k in ("stage1_epochs", "stage2_epochs",
                                                     "batch_size", "lr", "beta", "alpha",
                                                     "seed")},
                     "train_seconds": cfg.get("train_seconds"), "device": cfg.get("device"),
                     "created": cfg.get("created"), "vts_version": cfg.get("vts_version"),
                     "data_key": cfg.get("data_key")},
        "metrics": {k: v for k, v in space.metrics.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)},
    }


def cmd_info(args: argparse.Namespace) -> int:

    info = space_info(_load_space(args.model))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    t, m, tr, n = info["transform"], info["model"], info["training"], info["notes"]
    lines = [
        f"space        {info['name']} ({info['directory']})",
        (f"transform    {t['name']}: {t['n_bins']} bins, {t['fmin_hz']:.0f}-{t['fmax_hz']:.0f} Hz, "
        f"hop {1e3 * t['hop_seconds']:.2f} ms"),
        f"kind         {info['kind']}"
        + (f" (the distance recipe of listener.json on {info['listener_of']})"
           if info["listener_of"] else ""),
        (f"model        latent {m['latent_dim']}, {m['n_hidden_layers']} x {m['hidden_units']} "
        f"hidden units, {m['likelihood']} likelihood"),
        f"notes        {n['total']} ({n['train']} train / {n['test']} test)",
        (f"training     profile {tr['profile']}: {tr['stage1_epochs']} + {tr['stage2_epochs']} "
        f"epochs, batch {tr['batch_size']}, lr {tr['lr']}, beta {tr['beta']}, alpha {tr['alpha']}, "
        f"seed {tr['seed']}; {tr['train_seconds']} s on {tr['device']} ({tr['created']})"),
        "PCA          explained variance "
        + ", ".join(f"{v:.1%}" for v in info["pca_explained_variance"]),
        f"instruments  {len(info['instruments'])}: "
        + ", ".join(f"{k} ({v})" for k, v in info["instruments"].items()),
        "metrics",
    ]
    lines += [f"  {k:<22} {v:.6g}" if isinstance(v, float) else f"  {k:<22} {v}"
              for k, v in info["metrics"].items()]
    print("\n".join(lines))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    for model in args.model:
        _check_model_dir(model)
    check_output(args.out, "evaluate", ".csv", (), args.force)
    models = args.model if len(args.model) > 1 else args.model[0]
    return main_evaluate(models, args.studies, args.out, protocol=args.protocol,
                         metric=args.metric, pooling=args.pooling, progress=args.progress)
