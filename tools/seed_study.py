"""Seed study: are differences between spaces larger than the spread between training seeds?

Trains the spaces of one transform (vanilla and the kinds of
``vts.plan.space_kinds``) once per seed, evaluates every
space on every study of the data mirror (``vts.listeners.evaluate_models``) and
writes, under ``<build>/seeds/``:

* ``seed-<k>/``: the spaces and their Table 1;
* ``perceptual_eval_seeds.csv``: the evaluation rows of every seed;
* ``table1_seeds.csv``: every seed's Table 1 rows;
* ``summary.md``: per kind of space, the mean and standard deviation over seeds
  of the Table 1 clustering columns (silhouette, nearest-centroid accuracy,
  centroid Spearman, test MSE over the vanilla twin) and, per seed, where the
  held-out bass clarinet and contrabassoon land; per study, the mean and
  standard deviation over seeds of each space's Spearman correlation with the
  listeners, and, per seed, the independent studies each regularised space
  wins against its vanilla twin and against MFCC (``vts.listeners.versus_vanilla``).

Usage::

    python tools/seed_study.py [--profile default] [--transform nsgt-erb] [--seeds 0 1 2]

(``make seeds``; about 4 minutes per seed on the default profile, 2 cores.)
"""
from __future__ import annotations

import argparse

import pandas as pd

from vts import config
from vts import listeners as evaluate
from vts.app import figures
from vts.metrics import collect_metrics, mse_vs_vanilla
from vts.plan import model_plan, train_all

#: Table 1 columns summarised over seeds (the clustering targets of the spaces).
CLUSTERING = ["silhouette_pca", "centroid_accuracy", "spearman", "spearman_test",
              "mse_vs_vanilla", "listeners_spearman"]
#: Held-out instruments whose nearest training instrument is listed per seed.
NOVEL = ["bass-clarinet", "contrabassoon"]


def clustering_over_seeds(table1: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean and std over seeds of :data:`CLUSTERING` per kind, nearest instrument per seed)."""
    table1 = table1.assign(mse_vs_vanilla=mse_vs_vanilla(table1, by="seed"))
    stats = table1.groupby("kind", sort=False)[CLUSTERING].agg(["mean", "std"])
    stats.columns = [f"{col} {stat}" for col, stat in stats.columns]
    nearest = table1.pivot_table(index="kind", columns="seed", sort=False, aggfunc="first",
                                 values=[f"nearest_{name}" for name in NOVEL])
    nearest.columns = [f"{col.removeprefix('nearest_')}, seed {seed}" for col, seed in nearest.columns]
    return stats, nearest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--transform", default="nsgt-erb")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--permutations", type=int, default=99,
                        help="Mantel permutations (the p-values are not summarised)")
    args = parser.parse_args(argv)

    out = config.build_dir() / "seeds"
    tables, wins, table1 = [], [], []
    for seed in args.seeds:
        root = out / f"seed-{seed}"
        train_all(args.profile, transforms=(args.transform,), out_root=root, table_dir=root,
                  seed=seed)
        table1.append(collect_metrics(root).assign(seed=seed))
        plan = model_plan((args.transform,), args.profile, seed=seed)
        table = evaluate.evaluate_models([root / name for name, *_ in plan], progress=True,
                                         n_permutations=args.permutations, seed=seed)
        tables.append(table.assign(seed=seed))
        wins.append(evaluate.versus_vanilla(table, baselines=["MFCC mean"]).assign(seed=seed))
    table = pd.concat(tables, ignore_index=True)
    wins = pd.concat(wins, ignore_index=True)
    rows = table.drop_duplicates(["seed", "study", "label"])
    stats = rows.groupby(["in_target", "study", "label"])["spearman"].agg(["mean", "std"])
    spread = stats.unstack("label")
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "perceptual_eval_seeds.csv", index=False)
    table1 = pd.concat(table1, ignore_index=True)
    table1.to_csv(out / "table1_seeds.csv", index=False)
    clustering, nearest = clustering_over_seeds(table1)
    text = [f"# Seed study: {args.transform}, profile {args.profile}, seeds {args.seeds}", "",
            "Table 1 clustering columns, mean and standard deviation over seeds:", "",
            figures.markdown_table(clustering.round(3), index=True), "",
            "Nearest training instrument of the held-out instruments, per seed:", "",
            figures.markdown_table(nearest, index=True), "",
            "Spearman correlation with the listeners, mean over seeds:", "",
            figures.markdown_table(spread["mean"].round(3), index=True), "",
            "Standard deviation over seeds:", "",
            figures.markdown_table(spread["std"].round(3), index=True), "",
            "Independent studies won, per seed:", "",
            figures.markdown_table(wins[["seed", "model", "rival", "wins", "n_studies",
                                         "mean_difference", "won"]], digits=3), ""]
    (out / "summary.md").write_text("\n".join(text))
    print("\n".join(text))
    print(f"wrote {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
