"""The ``vts`` command line: one sub-command per step of the project.

Every sub-command prints ``vts <command>: error: <message>`` (naming the
file at fault) and exits with status 1 on bad input, instead of a traceback.
"""
from __future__ import annotations

import argparse
import sys

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
