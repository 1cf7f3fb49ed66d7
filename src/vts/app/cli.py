"""The ``vts`` command line: one sub-command per step of the project.

Every sub-command prints ``vts <command>: error: <message>`` (naming the
file or the option at fault) and exits with status 1 on bad input, instead of
a traceback; ``vts embed`` also has status 2 (see its ``--help``). Outputs are
never one of the inputs and never replace a file unless ``--force``.
This module holds the parser only; :mod:`vts.app.commands` (which pulls in
torch, papermill and librosa) is imported once the arguments are parsed, so
that ``vts --help`` and bad arguments answer at once.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__, config


def _progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")


def _force_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="replace --out if it exists (it is never one of the inputs)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vts", description="Generative variational timbre spaces (Esling et al., DAFx 2018).")
    parser.add_argument("--version", action="version", version=f"vts {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="index and validate the audio corpus -> data/catalog.csv")
    p.add_argument("--download", choices=["tinysol"],
                   help="first download a public data set with mirdata (needs internet)")
    p.set_defaults(command="data")

    p = sub.add_parser("features", help="compute the cached spectral frames of the corpus")
    p.add_argument("--transform", action="append", choices=config.TRANSFORMS,
                   help="only this transform (repeatable; default: all five)")
    p.set_defaults(command="features")

    p = sub.add_parser("train", help="train vanilla and regularised spaces -> models/")
    p.add_argument("--profile", default="default", choices=config.PROFILE_NAMES)
    p.add_argument("--transform", action="append", choices=config.TRANSFORMS,
                   help="only this transform (repeatable; default: all five)")
    p.add_argument("--jobs", type=_positive_int, default=None,
                   help="spaces trained at once, one process and one thread each "
                        "(default: the CPU cores; 1 on a GPU)")
    p.set_defaults(command="train")

    p = sub.add_parser("figures", help="run every notebook headless -> figures/",
                       description="Execute the numbered notebooks with papermill; their "
                                   "figures, tables and sounds go to figures/, indexed in "
                                   "figures/README.md, the executed notebooks to build/.")
    p.add_argument("--profile", default="default", choices=config.PROFILE_NAMES)
    p.add_argument("--only", help="comma-separated notebook numbers or names (e.g. 01,02)")
    p.add_argument("--output-dir", help="figures root (default: figures/)")
    p.add_argument("--models-dir", help="trained spaces (default: models/)")
    p.add_argument("--build-dir", help="executed notebooks go to <build-dir>/notebooks")
    p.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    p.add_argument("--jobs", type=_positive_int, default=None,
                   help="notebooks run at once, each kernel on one thread (default: the CPU cores)")
    p.set_defaults(command="figures")

    p = sub.add_parser(
        "embed", help="latent codes, PCA coordinates and nearest instrument of sound files",
        description="Encode the sustained frame of each sound file (posterior mean) and write "
                    "one CSV row per file: path, z0..z{d-1}, pc1..pc3, nearest_instrument "
                    "(nearest instrument centroid) and centroid_distance. A file that "
                    "vts data would reject (undecodable, empty, silent, too short) is "
                    "listed on stderr with its reason and left out; the others are written.",
        epilog="exit status: 0 every file embedded; 1 some files could not be embedded (each "
               "listed on stderr, the others written to OUT.csv), or an error before any file "
               "was read (nothing written); 2 no file could be embedded (nothing written).")
    p.add_argument("--model", required=True, metavar="DIR", help="timbre-space directory")
    p.add_argument("--out", required=True, metavar="OUT.csv", help="CSV to write (.csv)")
    _force_flag(p)
    p.add_argument("audio", nargs="+", metavar="AUDIO",
                   help="sound files (folders: every audio file under them)")
    _progress_flag(p)
    p.set_defaults(command="embed")

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
                   help="decoded points of a linear / spherical path (2..10000, default 8)")
    p.add_argument("--scale", type=float, default=0.7,
                   help="weight (>= 0) of the notes' own motion on an expressive path "
                        "(default 0.7)")
    p.add_argument("--point", metavar="PC1,PC2,PC3", help="PCA coordinates of one point")
    p.add_argument("--seconds", type=float, default=None,
                   help="duration in s (default: 1 for a point, 3 for a path); griffin-lim "
                        f"renders at most {config.MAX_GRIFFIN_LIM_SECONDS:g} s, longer sounds need "
                        "--reconstruction fast")
    p.add_argument("--reconstruction", default="griffin-lim", choices=["griffin-lim", "fast"],
                   help="phase retrieval through the transform, or the explorer's additive "
                        "rendering (default griffin-lim)")
    p.add_argument("--n-iter", type=int, default=config.GRIFFIN_LIM_ITERATIONS,
                   help=f"Griffin-Lim iterations (default {config.GRIFFIN_LIM_ITERATIONS})")
    p.add_argument("--out", required=True, metavar="WAV", help="WAV file to write (.wav)")
    _force_flag(p)
    p.set_defaults(command="synth")

    p = sub.add_parser("info", help="describe a trained timbre space",
                       description="Transform, sizes, instruments, metrics and training profile "
                                   "of a space directory.")
    p.add_argument("--model", required=True, metavar="DIR", help="timbre-space directory")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(command="info")

    p = sub.add_parser("evaluate", help="agreement of spaces with the listeners of timbre studies",
                       description="Distances between the study stimuli in each space against "
                                   "the study's dissimilarities (Mantel tests), with baselines.")
    p.add_argument("--model", required=True, action="append", metavar="DIR",
                   help="timbre-space directory (repeatable)")
    p.add_argument("studies", nargs="*", metavar="STUDY_DIR",
                   help="study folders or names (default: every study)")
    p.add_argument("--out", required=True, metavar="CSV", help="table to write (.csv)")
    p.add_argument("--protocol", choices=("both", "whole-matrix", "per-anchor"), default="both",
                   help="whole-matrix Spearman/Pearson with Mantel p, per-anchor Spearman "
                        "(Tian et al. 2025) with triplet agreement, or both (default)")
    p.add_argument("--metric", choices=("cosine", "euclidean"), action="append", default=None,
                   help="distance between embeddings (repeatable; default: both)")
    p.add_argument("--pooling", default=None,
                   choices=("sustained", "mean", "mean-std", "attack", "mean-attack", "thirds"),
                   help="how a stimulus' frame codes become one point (default: each space's "
                        "own recipe: listener.json for a listener space, the sustained frame "
                        "otherwise)")
    _progress_flag(p)
    _force_flag(p)
    p.set_defaults(command="evaluate")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        commands = importlib.import_module("vts.app.commands")
        return getattr(commands, f"cmd_{args.command}")(args)
    except KeyboardInterrupt:
        print(f"vts {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"vts {args.command}: error: out of memory", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        print(f"vts {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
