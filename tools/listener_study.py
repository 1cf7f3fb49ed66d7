"""The directions table of issue 14: which recipe makes a space agree with listeners?

Runs :func:`vts.listener_space.directions` -- every direction of
:data:`vts.listener_space.DIRECTIONS` under both protocols, baselines in the same
run, learned metrics scored leave-one-study-out -- on one or more trained
spaces and the nine mirror studies, and writes

* ``<out>/directions.csv``: one row per space x direction x metric, with 95 %
  bootstrap intervals over stimuli;
* ``<out>/directions_per_study.csv``: the same per study (and the ridge
  strength each learned metric's fold chose from its training folds);
* ``<out>/directions.md``: the table in Markdown, with the leaderboard and the targets;
* ``<out>/by_space/``: each space's part, kept so that a later run only measures
  the spaces that are new or retrained (``--force``: all again).

Usage::

    .venv/bin/python tools/listener_study.py [SPACE_DIR ...] [--out build/listeners]
        [--n-boot 1000] [--all]

Default space: ``build/regularizers/models/nsgt-erb-vanilla``; ``--all`` adds
every other complete space found beside it (the regularised ones).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from vts import config
from vts import listener_space as L
from vts.agreement import N_BOOT
from vts.app.figures import markdown_table
from vts.space import TimbreSpace
from vts.stimuli import load_studies

DEFAULT_SPACE = config.PROJECT_ROOT / "build" / "regularizers" / "models" / "nsgt-erb-vanilla"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spaces", nargs="*", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=config.PROJECT_ROOT / "build" / "listeners")
    parser.add_argument("--n-boot", type=int, default=N_BOOT)
    parser.add_argument("--all", action="store_true",
                        help="also every other complete space beside the first one")
    parser.add_argument("--studies", nargs="*", default=None, help="study folders or names")
    parser.add_argument("--force", action="store_true",
                        help="measure again the spaces measured already (<out>/by_space/)")
    args = parser.parse_args(argv)
    spaces = list(args.spaces) or [DEFAULT_SPACE]
    if args.all:
        spaces += sorted(p for p in spaces[0].parent.iterdir()
                         if p not in spaces and (p / "config.json").is_file())
    studies = load_studies(args.studies)
    done = args.out / "by_space"
    done.mkdir(parents=True, exist_ok=True)
    summaries, per_study = [], []
    for directory in spaces:
        a, b = done / f"{directory.name}.csv", done / f"{directory.name}_per_study.csv"
        fresh = a.is_file() and b.is_file() and \
            a.stat().st_mtime > (directory / "config.json").stat().st_mtime
        if fresh and not args.force:           # measured already (resumable)
            summaries.append(pd.read_csv(a))
            per_study.append(pd.read_csv(b))
            print(f"{directory.name}: measured already ({a})", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        space = TimbreSpace.load(directory)
        summary, rows = L.directions(space, studies, n_boot=args.n_boot, progress=True)
        summary["test_mse"] = space.metrics.get("test_mse")
        print(f"{space.name}: {time.perf_counter() - t0:.0f} s, active dims "
              f"{summary.attrs.get('active_dims')}, skipped {summary.attrs.get('skipped')}",
              file=sys.stderr)
        summary.to_csv(a, index=False)
        rows.to_csv(b, index=False)
        summaries.append(summary)
        per_study.append(rows)
    summary, per_study = pd.concat(summaries, ignore_index=True), pd.concat(per_study)
    args.out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.out / "directions.csv", index=False)
    per_study.to_csv(args.out / "directions_per_study.csv", index=False)
    first = summary[summary["space"] == summary["space"].iloc[0]]
    board = L.leaderboard(first)
    check = L.target_check(first)
    text = ["# Directions x protocols", "",
            (f"{len(studies)} studies ({', '.join(s.name for s in studies)}); 95 % bootstrap "
            f"intervals over stimuli ({args.n_boot} draws); learned metrics scored "
            "leave-one-study-out (related studies together), their ridge strength chosen "
            "on the training folds only; 'studies > MFCC': whole-matrix Spearman above the "
            "time-averaged MFCC's (same metric; Euclidean for posterior distances)."), "",
            L.directions_markdown(summary), "", "## Leaderboard (per-anchor Spearman, cosine)",
            "", markdown_table(board, digits=3), "",
            (f"## Targets ({first['space'].iloc[0]}, {L.LISTENER_DIRECTION}, "
             f"{L.LISTENER_METRIC})"), "", markdown_table(check, digits=3), ""]
    (args.out / "directions.md").write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
