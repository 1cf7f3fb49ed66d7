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
from typing import NamedTuple

from vts import config, perception
from vts.app import figures, plots
from vts.checkpoints import STAGE1_CHECKPOINT
from vts.features import novel_features, training_features
from vts.metrics import collect_metrics, mse_vs_vanilla
from vts.plan import model_name, start_from_stage1
from vts.profiles import BALANCED_NOTES_PER_CLASS, PROFILES
from vts.train import load_target, train_space


class Variant(NamedTuple):
    """One regularised space of the study. ``within``: pairs of notes of one
    instrument at target 0 ("zero", the released code) or left out ("free"),
    :data:`vts.regularizers.WITHIN`; ``per_class``: R on a class-balanced draw of
    that many notes per rated instrument each step (None: the profile's; for the
    note-level kinds but ``l2`` 0, the minibatch), ``TrainConfig.reg_notes_per_class``."""

    kind: str
    alpha: float
    dims: str
    n_dims: int
    within: str = "zero"
    per_class: int | None = None

    @property
    def name(self) -> str:
        where = "all" if self.dims == "all" else f"{self.dims}{self.n_dims}"
        return (f"nsgt-erb-{self.kind}-a{self.alpha:g}-{where}"
                + ("-free" if self.within == "free" else "")
                + (f"-balanced{self.per_class}" if self.per_class else ""))


#: Every variant tried; the ``l2`` ones on the minibatch (``per_class = 0``, the
#: released code) beside two on the profile's class-balanced draw.
GRID = [
    Variant("class", 25.0, "all", 0),
    Variant("l2", 1.0, "first", 3, per_class=0), Variant("l2", 1.0, "first", 8, per_class=0),
    Variant("l2", 3.0, "first", 8, per_class=0), Variant("l2", 1.0, "all", 0, per_class=0),
    Variant("gaussian", 1.0, "first", 8), Variant("student", 1.0, "first", 8),
    Variant("student", 10.0, "first", 8), Variant("prior", 1.0, "first", 5),
    Variant("gaussian", 1.0, "all", 0), Variant("student", 1.0, "all", 0),
    Variant("l2", 3.0, "all", 0, per_class=0),
    Variant("l2", 1.0, "all", 0, "free", per_class=0),
    Variant("l2", 3.0, "all", 0, "free", per_class=0),
    Variant("gaussian", 1.0, "all", 0, "free"),
    Variant("l2", 1.0, "all", 0, per_class=BALANCED_NOTES_PER_CLASS),
    Variant("l2", 3.0, "all", 0, per_class=BALANCED_NOTES_PER_CLASS),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=config.PROFILE_NAMES)
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="train only the variants whose name contains TEXT (the vanilla "
                        "space and the variants already trained are scored too)")
    args = parser.parse_args()
    names = [variant.name for variant in GRID]
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
    train_space(features, target, profile.train, vanilla, False, save_stage1=True, **common)
    scored = [vanilla.name]
    for variant in GRID:
        name = variant.name
        cfg = dataclasses.replace(profile.config(variant.kind), alpha=variant.alpha,
                                  reg_dims=variant.dims, reg_n_dims=variant.n_dims,
                                  reg_within=variant.within)
        if variant.per_class is not None:
            cfg = dataclasses.replace(cfg, reg_notes_per_class=variant.per_class)
        directory = models / name
        finished = (directory / "config.json").is_file()
        if args.only not in name and not finished:
            continue   # left out by --only; a finished variant is still scored
        if not finished:
            start_from_stage1(directory, vanilla / STAGE1_CHECKPOINT, cfg, features)
        train_space(features, target, cfg, directory, True, **common)
        scored.append(name)
        print(f"{name}: {time.perf_counter() - t0:.0f} s")
    table = collect_metrics(models).set_index("model").loc[scored].reset_index()
    table = table.rename(columns={"model": "space"}).replace({"space": {vanilla.name: "vanilla"}})
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
