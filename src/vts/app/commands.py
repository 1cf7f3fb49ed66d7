"""What each ``vts`` sub-command does (the parser lives in :mod:`vts.app.cli`)."""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from .. import config, paths
from ..data import AUDIO_EXTENSIONS, main_data
from ..features import compute_all
from ..instruments import canonical
from ..io import AudioError, atomic_path, write_wav
from ..listeners import main_evaluate
from ..space import TimbreSpace
from ..train import train_all
from .runner import NotebookError, run_notebooks


def cmd_data(args: argparse.Namespace) -> int:

    return main_data(download=args.download)


def cmd_features(args: argparse.Namespace) -> int:

    compute_all(transforms=args.transform or config.TRANSFORMS)
    return 0


def cmd_train(args: argparse.Namespace) -> int:

    train_all(profile=args.profile, transforms=args.transform or config.TRANSFORMS)
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    try:
        runs = run_notebooks(args.profile, args.only, args.output_dir, args.models_dir,
                             args.build_dir, args.seed, kernel_name=args.kernel)
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
    """Fail fast on a sound file that is missing, empty or not decodable (header check)."""


    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        sf.info(str(path))
    except Exception as error:
        raise AudioError(f"{path}: cannot decode audio ({error})") from error


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
    """Posterior mean of a file's sustained frame; every failure names the file."""

    try:
        return space.encode_audio(path)
    except AudioError:
        raise
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: {error}") from error


def cmd_embed(args: argparse.Namespace) -> int:


    _check_model_dir(args.model)
    files = _audio_files(args.audio)
    for path in files:
        _check_audio(path)
    space = _load_space(args.model)
    with tqdm(files, desc="embed", unit="file", disable=not args.progress, leave=False) as bar:
        codes = np.stack([_encode_file(space, path) for path in bar])
    pcs = np.asarray(space.to_pca(codes), dtype=np.float64)
    centroids = space.centroids
    dist = np.linalg.norm(codes[:, None, :].astype(np.float64)
                          - centroids.to_numpy(np.float64)[None, :, :], axis=2)
    table = pd.DataFrame(codes, columns=space.z_columns)
    table.insert(0, "path", [str(p) for p in files])
    for i in range(pcs.shape[1]):
        table[f"pc{i + 1}"] = pcs[:, i]
    table["nearest_instrument"] = centroids.index[dist.argmin(axis=1)].astype(str)
    table["centroid_distance"] = dist.min(axis=1)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    counts = table["nearest_instrument"].value_counts()
    print(f"embedded {len(table)} file(s) in {space.name}: "
          + ", ".join(f"{name} {n}" for name, n in counts.items()))
    print(f"wrote {args.out}")
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
    if path.exists():
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


def cmd_synth(args: argparse.Namespace) -> int:
    if args.point is None and (args.start is None or args.end is None):
        raise ValueError("give --point PC1,PC2,PC3, or both --from and --to")
    if args.point is not None and (args.start is not None or args.end is not None):
        raise ValueError("give either --point or --from/--to, not both")
    if args.seconds is not None and not args.seconds > 0:
        raise ValueError(f"--seconds must be > 0, got {args.seconds}")
    _check_model_dir(args.model)
    if args.point is not None:
        _parse_point(args.point, args.model, _pca_axes(args.model))
    for spec in (args.start, args.end):
        if spec is not None and Path(spec).exists():
            _check_audio(Path(spec))
    space = _load_space(args.model)
    tr = space.transform
    rate = int(tr.sample_rate)
    if args.point is not None:
        seconds = args.seconds or 1.0
        point = _parse_point(args.point, space.directory, int(space.pca.n_components_))
        z = space.from_pca(np.asarray(point, dtype=np.float64))
        audio = space.synthesize(z, seconds, method=args.reconstruction, n_iter=args.n_iter)
        what = f"point {args.point}"
    else:
        seconds = args.seconds or 3.0
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
        what = f"{args.path} path {args.start} -> {args.end} ({len(path)} points)"
    audio = np.asarray(audio, dtype=np.float32)
    if not np.all(np.isfinite(audio)):
        raise RuntimeError(f"{space.directory}: synthesis produced non-finite samples")
    write_wav(args.out, audio, rate)
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
        f"kind         {'regularized' if info['regularized'] else 'vanilla'}",
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
    models = args.model if len(args.model) > 1 else args.model[0]
    return main_evaluate(models, args.studies, args.out)
