"""The regularisers tried on NSGT-ERB: clustering against listener agreement (``make regularizers``).

Trains, on the default profile's NSGT-ERB features, the vanilla space and one
regularised space per (kind, alpha, regularised dimensions) of :data:`GRID`
(stage 1 is shared, so each variant costs its stage 2 only), scores each with
the Table 1 metrics (:func:`vts.metrics.evaluate_space`: silhouette, nearest-
centroid accuracy, centroid Spearman, held-out placement, test MSE, listener
agreement on the nine studies) and writes::

    build/regularizers/study.csv     one row per space
    build/regularizers/tradeoff.png  listener agreement against clustering

The spaces land in ``build/regularizers/models/``; a rerun skips finished ones.

    .venv/bin/python tools/regularizer_study.py [--profile default] [--only TEXT]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import pandas as pd

from vts import config, perception
from vts.app import figures, plots
from vts.checkpoints import STAGE1_CHECKPOINT
from vts.features import novel_features, training_features
from vts.metrics import mse_vs_vanilla
from vts.plan import model_name, start_from_stage1
from vts.profiles import PROFILES
from vts.train import load_target, train_space

#: (kind, alpha, dims rule, number of dims, within) of every variant tried;
#: within: pairs of notes of one instrument at target 0 ("zero", the released
#: code) or left out ("free"), :data:`vts.regularizers.WITHIN`.
GRID = [
    ("class", 25.0, "all", 0, "zero"),
    ("l2", 1.0, "first", 3, "zero"), ("l2", 1.0, "first", 8, "zero"),
    ("l2", 3.0, "first", 8, "zero"), ("l2", 1.0, "all", 0, "zero"),
    ("gaussian", 1.0, "first", 8, "zero"), ("student", 1.0, "first", 8, "zero"),
    ("student", 10.0, "first", 8, "zero"), ("prior", 1.0, "first", 5, "zero"),
    ("gaussian", 1.0, "all", 0, "zero"), ("student", 1.0, "all", 0, "zero"),
    ("l2", 3.0, "all", 0, "zero"),
    ("l2", 1.0, "all", 0, "free"), ("l2", 3.0, "all", 0, "free"),
    ("gaussian", 1.0, "all", 0, "free"),
]


def variant_name(kind: str, alpha: float, dims: str, n_dims: int, within: str) -> str:
    where = "all" if dims == "all" else f"{dims}{n_dims}"
    return f"nsgt-erb-{kind}-a{alpha:g}-{where}" + ("-free" if within == "free" else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=config.PROFILE_NAMES)
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="train only the variants whose name contains TEXT (the vanilla "
                        "space and the variants already trained are scored too)")
    args = parser.parse_args()
    names = [variant_name(*variant) for variant in GRID]
    if not any(args.only in name for name in names):
        parser.error(f"--only {args.only!r} matches no variant; the variants are "
                     + ", ".join(names))
    profile = PROFILES[args.profile]
    out = config.build_dir() / "regularizers"
    models = out / "models"
    features = training_features(config.DEFAULT_TRANSFORM)
    novel = novel_features(config.DEFAULT_TRANSFORM, progress=False)
    target = load_target(profile.train)
    common = {"dissimilarity": perception.combined_dissimilarity(),
              "pairs": perception.pair_summary(), "novel": novel,
              "studies": perception.list_studies()}
    vanilla = models / model_name(config.DEFAULT_TRANSFORM, "vanilla")
    t0 = time.perf_counter()
    spaces = {"vanilla": train_space(features, target, profile.train, vanilla, False,
                                     save_stage1=True, **common)}
    for kind, alpha, dims, n_dims, within in GRID:
        name = variant_name(kind, alpha, dims, n_dims, within)
        cfg = dataclasses.replace(profile.config(kind), alpha=alpha, reg_dims=dims,
                                  reg_n_dims=n_dims, reg_within=within)
        directory = models / name
        finished = (directory / "config.json").is_file()
        if args.only not in name and not finished:
            continue   # left out by --only; a finished variant is still scored
        if not finished:
            start_from_stage1(directory, vanilla / STAGE1_CHECKPOINT, cfg, features)
        spaces[name] = train_space(features, target, cfg, directory, True, **common)
        print(f"{name}: {time.perf_counter() - t0:.0f} s")
    rows = []
    for name, space in spaces.items():
        training = space.config["training"]
        rows.append({"space": name, "kind": space.kind,
                     "alpha": training["alpha"] if space.regularized else 0.0,
                     "dims": (training["reg_dims"] if training["reg_dims"] == "all"
                              else f"{training['reg_dims']} {training['reg_n_dims']}")
                     if space.regularized else "",
                     "within": training.get("reg_within", "zero") if space.regularized else "",
                     **space.metrics})
    table = pd.DataFrame(rows)
    table["mse_vs_vanilla"] = mse_vs_vanilla(table)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "study.csv", index=False)
    cols = ["space", "silhouette_pca", "centroid_accuracy", "spearman_test",
            "mse_vs_vanilla", "nearest_bass-clarinet", "nearest_contrabassoon", "listeners_spearman"]
    print(figures.markdown_table(table[cols].round(3)))
    fig = plots.plot_tradeoff(table)
    fig.savefig(out / "tradeoff.png", dpi=110)
    print(f"wrote {out / 'study.csv'} and {out / 'tradeoff.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
