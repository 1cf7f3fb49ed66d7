"""The plots of notebook 11: spaces and baselines against the listeners of each study,
the directions table and the leaderboard (figures returned, never written)."""
from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from ..listeners import alignment_matrix, study_order
from .plots import PALETTE


def plot_alignment(table: pd.DataFrame, value: str = "spearman", alpha: float = 0.05,
                   metric: str | None = None):
    """Heat map of agreement with listeners: representations x studies.

    Parameters
    ----------
    table : pandas.DataFrame
        The per-study table of :func:`vts.listeners.evaluate_models`.
    value : {"spearman", "pearson", "per_anchor", "triplet"}
        Cell value (colour and printed number).
    alpha : float
        Cells whose Mantel p-value is below ``alpha`` get a ``*`` (whole-matrix
        values only).
    metric : str, optional
        Distance shown (default cosine, see :func:`vts.listeners.alignment_matrix`).

    Returns
    -------
    matplotlib.figure.Figure
        Rows: the models (table order), then the baselines below a line.
        Columns: the independent studies, then (right of a dashed line) those
        whose ratings fed the regularisation target. Diverging colours centred
        on 0 (on 0.5 for the triplet agreement, a share).
    """
    if table.empty:
        raise ValueError("plot_alignment: empty table")
    values = alignment_matrix(table, value, metric).T            # labels x studies
    pvalues = alignment_matrix(table, "mantel_p", metric).T
    kinds = table.drop_duplicates("label").set_index("label")["kind"]
    studies = study_order(table)
    n_models = int(sum(kinds[lab] == "model" for lab in values.index))
    n_independent = sum(not t for _, t in studies)
    data = values.to_numpy(dtype=float)
    centre = 0.5 if value == "triplet" else 0.0
    bound = max(0.1, float(np.nanmax(np.abs(data - centre), initial=0.0)))
    stars = value in ("spearman", "pearson")

    fig = Figure(figsize=(3.0 + 0.95 * len(studies), 1.4 + 0.32 * len(values)),
                 layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(data), cmap="RdBu_r", aspect="auto",
                      norm=TwoSlopeNorm(centre, centre - bound, centre + bound))
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v, p = data[i, j], pvalues.iat[i, j]
            if not np.isfinite(v):
                continue
            star = "*" if stars and np.isfinite(p) and p < alpha else ""
            ax.text(j, i, f"{v:.2f}{star}", ha="center", va="center", fontsize=8,
                    color="white" if abs(v - centre) > 0.6 * bound else "black")
    ax.set_xticks(range(len(studies)), [s for s, _ in studies], rotation=30, ha="right")
    ax.set_yticks(range(len(values)), list(values.index))
    if 0 < n_models < len(values):
        ax.axhline(n_models - 0.5, color="black", linewidth=1.2)
    if 0 < n_independent < len(studies):
        ax.axvline(n_independent - 0.5, color="0.2", linestyle="--", linewidth=1.2)
    for lo, hi, text in ((0, n_independent, "independent studies"),
                         (n_independent, len(studies), "ratings in the training target")):
        if hi > lo:
            ax.text((lo + hi - 1) / 2, -0.6, text, ha="center", va="bottom", fontsize=9)
    names = {"spearman": "whole-matrix Spearman", "pearson": "whole-matrix Pearson",
             "per_anchor": "per-anchor Spearman", "triplet": "triplet agreement"}
    fig.colorbar(image, ax=ax, shrink=0.8,
                 label=names.get(value, value) + (f" (* Mantel p < {alpha:g})" if stars else ""))
    return fig


def plot_directions(summary: pd.DataFrame, reference: str = "time-averaged MFCC",
                    published: Mapping[str, float] | None = None):
    """Forest plot of the directions table (:func:`vts.listener_space.directions`).

    Two panels, per-anchor Spearman and whole-matrix Spearman, one row per
    space x direction x metric, the point and its 95 % interval, coloured by
    family; a dotted line at ``reference`` (same metric) and, on the
    per-anchor panel, grey ticks at the ``published`` values (label -> score).
    """
    rows = summary.reset_index(drop=True)
    labels = [f"{r.space}: {r.direction} ({r.metric})" if rows["space"].nunique() > 1
              else f"{r.direction} ({r.metric})" for r in rows.itertuples()]
    families = list(dict.fromkeys(rows["family"]))
    colours = {f: PALETTE[(2 * k) % len(PALETTE)] for k, f in enumerate(families)}
    fig = Figure(figsize=(13.0, 1.2 + 0.24 * len(rows)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, key, title in ((axes[0], "per_anchor", "per-anchor Spearman"),
                           (axes[1], "spearman", "whole-matrix Spearman (mean of studies)")):
        for fam in families:
            sel = (rows["family"] == fam).to_numpy()
            v = rows.loc[sel, key].to_numpy(float)
            lo = rows.loc[sel, f"{key}_lo"].to_numpy(float)
            hi = rows.loc[sel, f"{key}_hi"].to_numpy(float)
            ax.errorbar(v, y[sel], xerr=[np.nan_to_num(v - lo), np.nan_to_num(hi - v)], fmt="o",
                        ms=4, color=colours[fam], label=fam, capsize=2, lw=1)
        ref = rows[rows["direction"] == reference]
        for metric, style in (("cosine", ":"), ("euclidean", "--")):
            value = ref.loc[ref["metric"] == metric, key]
            if len(value):
                ax.axvline(float(value.iloc[0]), color="0.4", ls=style, lw=0.9)
        if key == "per_anchor" and published:
            for value in published.values():
                ax.axvline(value, color="0.75", lw=0.8)
            listed = ", ".join(f"{name} {value:.3f}" for name, value in
                               sorted(published.items(), key=lambda item: item[1]))
            ax.set_xlabel("grey: published on other studies (Tian et al., ISMIR 2025): "
                          + "\n".join(textwrap.wrap(listed, 90)), fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=7)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Directions x protocols, 95 % bootstrap intervals over stimuli "
                 f"(dotted / dashed: {reference}, cosine / Euclidean)", fontsize=10)
    return fig


def plot_leaderboard(board: pd.DataFrame):
    """Horizontal bars of :func:`vts.listener_space.leaderboard`: this run's rows (with their
    95 % intervals) coloured, the published ones grey and labelled with their source."""
    rows = board.reset_index(drop=True)
    fig = Figure(figsize=(9.0, 1.0 + 0.3 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    ours = ~rows["source"].str.contains("published")
    ax.barh(y[ours], rows.loc[ours, "per_anchor"], color=PALETTE[0], label=rows.loc[ours,
            "source"].iloc[0] if ours.any() else None)
    err = rows.loc[ours, ["per_anchor_lo", "per_anchor_hi"]].to_numpy(float)
    v = rows.loc[ours, "per_anchor"].to_numpy(float)
    ax.errorbar(v, y[ours], xerr=[np.nan_to_num(v - err[:, 0]), np.nan_to_num(err[:, 1] - v)],
                fmt="none", color="black", capsize=2, lw=0.8)
    ax.barh(y[~ours], rows.loc[~ours, "per_anchor"], color="0.75",
            label=rows.loc[~ours, "source"].iloc[0] if (~ours).any() else None)
    ax.set_yticks(y, rows["representation"], fontsize=7)
    ax.set_xlabel("per-anchor Spearman (cosine)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Leaderboard: this run beside the published figures (different studies)",
                 fontsize=10)
    return fig
