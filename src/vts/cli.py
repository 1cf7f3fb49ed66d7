"""The ``vts`` command line: one sub-command per step of the project.

Every sub-command prints ``vts <command>: error: <message>`` (naming the
file at fault) and exits with status 1 on bad input, instead of a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__, config


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import main_data

    return main_data(download=args.download)


def _cmd_features(args: argparse.Namespace) -> int:
    from .features import compute_all

    compute_all(transforms=args.transform or config.TRANSFORMS)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import train_all

    train_all(profile=args.profile, transforms=args.transform or config.TRANSFORMS)
    return 0


def _progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")


def _check_model_dir(model_dir) -> Path:
    """Fail fast (before importing torch) on a model path that is not a folder."""
    path = Path(model_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such timbre-space directory")
    return path


def _load_space(model_dir: str):
    _check_model_dir(model_dir)
    from .space import TimbreSpace

    return TimbreSpace.load(model_dir)


def _check_audio(path: Path) -> None:
    """Fail fast on a sound file that is missing, empty or not decodable (header check)."""
    import soundfile as sf

    from .audio import AudioError

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
    from .data import AUDIO_EXTENSIONS

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
    from .audio import AudioError

    try:
        return space.encode_audio(path)
    except AudioError:
        raise
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: {error}") from error


def _cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd
    from tqdm.auto import tqdm

    from ._io import atomic_path

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
    import math

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
    import json

    try:
        latent_dim = int(json.loads((Path(model_dir) / "config.json").read_text())
                         ["model"]["latent_dim"])
    except (OSError, ValueError, KeyError, TypeError):
        return 3            # unreadable: TimbreSpace.load will say why
    return min(3, latent_dim)


def _endpoint(space, spec: str, trajectory: bool):
    """Code (and, for expressive paths, per-frame codes) of an audio file or an instrument."""
    from .audio import AudioError
    from .data import AUDIO_EXTENSIONS
    from .instruments import canonical

    path = Path(spec)
    if path.exists():
        z = _encode_file(space, path)
        if not trajectory:
            return z, None
        from .synthesis import note_trajectory

        try:
            return z, note_trajectory(space, path)
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


def _cmd_synth(args: argparse.Namespace) -> int:
    import numpy as np

    from .audio import write_wav

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
    rate = int(getattr(tr, "sample_rate", config.SAMPLE_RATE))
    from . import synthesis

    if args.point is not None:
        seconds = args.seconds or 1.0
        point = _parse_point(args.point, space.directory, int(space.pca.n_components_))
        z = space.from_pca(np.asarray(point, dtype=np.float64))
        if args.reconstruction == "fast":
            from .widgets import FastRenderer

            audio = FastRenderer(tr, rate).render(space.decode_magnitude(z), seconds)
        else:
            audio = synthesis.point_audio(space, z, seconds, n_iter=args.n_iter)
        what = f"point {args.point}"
    else:
        seconds = args.seconds or 3.0
        expressive = args.path == "expressive"
        z_a, frames_a = _endpoint(space, args.start, expressive)
        z_b, frames_b = _endpoint(space, args.end, expressive)
        if expressive:
            n_frames = int(tr.n_frames(max(1, round(seconds * rate))))
            path = synthesis.expressive_path(frames_a, frames_b, n_frames, scale=args.scale)
        else:
            path = getattr(synthesis, f"{args.path}_path")(z_a, z_b, args.steps)
        if args.reconstruction == "fast":
            from .widgets import path_audio_fast

            frame_rate = 1.0 / float(tr.hop_seconds) if expressive else 25.0
            audio = path_audio_fast(space, path, seconds, frame_rate=frame_rate)
        else:
            audio = synthesis.path_audio(space, path, seconds, n_iter=args.n_iter)
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


def _cmd_info(args: argparse.Namespace) -> int:
    import json

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


def _cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        from .evaluate import main_evaluate
    except ImportError as error:
        raise RuntimeError(f"vts.evaluate is not available in this installation ({error})") \
            from error
    for model in args.model:
        _check_model_dir(model)
    models = args.model if len(args.model) > 1 else args.model[0]
    return main_evaluate(models, args.studies, args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vts", description="Generative variational timbre spaces (Esling et al., DAFx 2018).")
    parser.add_argument("--version", action="version", version=f"vts {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="index and validate the audio corpus -> data/catalog.csv")
    p.add_argument("--download", choices=["tinysol"],
                   help="first download a public data set with mirdata (needs internet)")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("features", help="compute the cached spectral frames of the corpus")
    p.add_argument("--transform", action="append", choices=config.TRANSFORMS,
                   help="only this transform (repeatable; default: all five)")
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser("train", help="train vanilla and regularised spaces -> models/")
    p.add_argument("--profile", default="default", choices=["smoke", "default", "paper"])
    p.add_argument("--transform", action="append", choices=config.TRANSFORMS,
                   help="only this transform (repeatable; default: all five)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "embed", help="latent codes, PCA coordinates and nearest instrument of sound files",
        description="Encode the sustained frame of each sound file (posterior mean) and write "
                    "one CSV row per file: path, z0..z{d-1}, pc1..pc3, nearest_instrument "
                    "(nearest instrument centroid) and centroid_distance.")
    p.add_argument("--model", required=True, metavar="DIR", help="timbre-space directory")
    p.add_argument("--out", required=True, metavar="OUT.csv", help="CSV to write")
    p.add_argument("audio", nargs="+", metavar="AUDIO",
                   help="sound files (folders: every audio file under them)")
    _progress_flag(p)
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser(
        "synth", help="render a sound from a PCA point or along a path between two sounds",
        description="Render the decoded note at a PCA point (--point), or one sound that moves "
                    "along a latent path from A to B (--from/--to: audio files, or instrument "
                    "names for their centroid).")
    p.add_argument("--model", required=True, metavar="DIR", help="timbre-space directory")
    p.add_argument("--from", dest="start", metavar="A", help="audio file or instrument name")
    p.add_argument("--to", dest="end", metavar="B", help="audio file or instrument name")
    p.add_argument("--path", default="spherical", choices=["linear", "spherical", "expressive"],
                   help="latent path from A to B (expressive: A and B audio files; default "
                        "spherical)")
    p.add_argument("--steps", type=int, default=8,
                   help="decoded points of a linear / spherical path (default 8)")
    p.add_argument("--scale", type=float, default=0.7,
                   help="weight of the notes' own motion on an expressive path (default 0.7)")
    p.add_argument("--point", metavar="PC1,PC2,PC3", help="PCA coordinates of one point")
    p.add_argument("--seconds", type=float, default=None,
                   help="duration in s (default: 1 for a point, 3 for a path)")
    p.add_argument("--reconstruction", default="griffin-lim", choices=["griffin-lim", "fast"],
                   help="phase retrieval through the transform, or the explorer's additive "
                        "rendering (default griffin-lim)")
    p.add_argument("--n-iter", type=int, default=64, help="Griffin-Lim iterations (default 64)")
    p.add_argument("--out", required=True, metavar="WAV", help="WAV file to write")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("info", help="describe a trained timbre space",
                       description="Transform, sizes, instruments, metrics and training profile "
                                   "of a space directory.")
    p.add_argument("--model", required=True, metavar="DIR", help="timbre-space directory")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("evaluate", help="agreement of spaces with the listeners of timbre studies",
                       description="Distances between the study stimuli in each space against "
                                   "the study's dissimilarities (Mantel tests), with baselines.")
    p.add_argument("--model", required=True, action="append", metavar="DIR",
                   help="timbre-space directory (repeatable)")
    p.add_argument("studies", nargs="*", metavar="STUDY_DIR",
                   help="study folders or names (default: every study)")
    p.add_argument("--out", required=True, metavar="CSV", help="table to write")
    p.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"vts {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        print(f"vts {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
