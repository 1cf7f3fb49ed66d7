"""Every interactive page of the notebooks: plotly figures, returned, never written.

The same colours as the static figures (:func:`vts.app.plots.instrument_color`);
:mod:`vts.app.figures` writes them as HTML beside a shared ``plotly.min.js``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .plots import instrument_color, relative_db


def timbre_space_html(space: pd.DataFrame, title: str = "combined timbre space"):
    """Interactive 3-D plotly view of an MDS timbre space."""

    coords = space.filter(like="dim").to_numpy()
    if coords.shape[1] < 3:
        coords = np.pad(coords, ((0, 0), (0, 3 - coords.shape[1])))
    names = [str(n) for n in space.index]
    fig = go.Figure(go.Scatter3d(
        x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], mode="markers+text", text=names,
        marker=dict(size=7, color=[instrument_color(n) for n in names]),
        hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(title=title, scene=dict(xaxis_title="dim 1", yaxis_title="dim 2",
                                              zaxis_title="dim 3"),
                      margin=dict(l=0, r=0, t=40, b=0))
    return fig


def latent_space_html(panels: Sequence[Mapping], title: str = ""):
    """Side-by-side interactive 3-D scatters (e.g. vanilla | regularised) of PCA codes.

    Each panel: ``title``, ``coords`` (n, 3), ``labels``, optional ``hover`` (n strings).
    """

    fig = make_subplots(rows=1, cols=len(panels), specs=[[{"type": "scene"}] * len(panels)],
                        subplot_titles=[p["title"] for p in panels])
    for j, panel in enumerate(panels, start=1):
        coords = np.asarray(panel["coords"])
        labels = np.asarray([str(x) for x in panel["labels"]])
        hover = np.asarray(panel.get("hover", labels))
        for name in sorted(set(labels)):
            m = labels == name
            fig.add_trace(go.Scatter3d(
                x=coords[m, 0], y=coords[m, 1], z=coords[m, 2], mode="markers", name=name,
                legendgroup=name, showlegend=j == 1, text=hover[m],
                marker=dict(size=3, color=instrument_color(name)),
                hovertemplate="%{text}<extra></extra>"), row=1, col=j)
    for j, panel in enumerate(panels, start=1):
        axes = panel.get("axes", ("PC1", "PC2", "PC3"))
        fig.layout["scene" if j == 1 else f"scene{j}"].update(
            xaxis_title=axes[0], yaxis_title=axes[1], zaxis_title=axes[2])
    fig.update_layout(title=title, margin=dict(l=0, r=0, t=50, b=0), height=550,
                      legend={"itemsizing": "constant"})
    return fig


def novel_instruments_html(views: Mapping[str, Mapping]):
    """Interactive version of :func:`vts.app.plots.plot_novel_instruments` (mixed view, one scene per space)."""

    fig = make_subplots(rows=1, cols=len(views), specs=[[{"type": "scene"}] * len(views)],
                        subplot_titles=list(views))
    for j, (title, v) in enumerate(views.items(), start=1):
        for coords, labels, size, symbol, suffix in (
                (v["train_coords"], v["train_labels"], 2, "circle", ""),
                (v["novel_coords"], v["novel_labels"], 4, "diamond", " (novel)"),
                (v["train_centroids"].to_numpy(), list(v["train_centroids"].index), 8, "circle",
                 " centroid"),
                (v["novel_centroids"].to_numpy(), list(v["novel_centroids"].index), 10, "cross",
                 " centroid (novel)")):
            coords = np.asarray(coords)
            labels = np.asarray([str(x) for x in labels])
            for name in sorted(set(labels)):
                m = labels == name
                fig.add_trace(go.Scatter3d(
                    x=coords[m, 0], y=coords[m, 1], z=coords[m, 2], mode="markers",
                    name=name + suffix, legendgroup=name + suffix, showlegend=j == 1,
                    marker=dict(size=size, symbol=symbol, color=instrument_color(name)),
                    hovertemplate=f"{name}{suffix}<extra></extra>"), row=1, col=j)
    fig.update_layout(margin=dict(l=0, r=0, t=50, b=0), height=550)
    return fig


def path_html(background: np.ndarray, background_labels: Sequence[str],
              paths: Mapping[str, np.ndarray], spectra: Mapping[str, np.ndarray],
              frequencies: np.ndarray, title: str = ""):
    """Interactive paths: 3-D space with the paths, a slider moving along them, and the
    decoded spectrum of the current step of each path.

    paths : name -> (m, 3) PCA coordinates; spectra : name -> (m, n_bins) magnitudes
    (every path has the same number of steps m).
    """

    names = list(paths)
    m = len(next(iter(paths.values())))
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "xy"}]],
                        column_widths=[0.55, 0.45], subplot_titles=["latent space (PCA)",
                                                                    "decoded spectrum"])
    bg = np.asarray(background)
    labels = np.asarray([str(x) for x in background_labels])
    for name in sorted(set(labels)):
        mk = labels == name
        fig.add_trace(go.Scatter3d(x=bg[mk, 0], y=bg[mk, 1], z=bg[mk, 2], mode="markers",
                                   name=name, marker=dict(size=2, color=instrument_color(name)),
                                   opacity=0.5, hoverinfo="name"), row=1, col=1)
    colors = ["black", "crimson", "royalblue", "darkorange"]
    for k, name in enumerate(names):
        p = np.asarray(paths[name])
        fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="lines", name=name,
                                   line=dict(color=colors[k % 4], width=4)), row=1, col=1)
    first_dynamic = len(fig.data)
    dbs = {name: relative_db(np.asarray(spectra[name]), 200) for name in names}
    for k, name in enumerate(names):
        p = np.asarray(paths[name])
        fig.add_trace(go.Scatter3d(x=p[:1, 0], y=p[:1, 1], z=p[:1, 2], mode="markers",
                                   name=f"{name} (step)", showlegend=False,
                                   marker=dict(size=6, color=colors[k % 4])), row=1, col=1)
        fig.add_trace(go.Scatter(x=np.asarray(frequencies), y=dbs[name][0], mode="lines",
                                 name=f"{name} spectrum", line=dict(color=colors[k % 4])),
                      row=1, col=2)
    dynamic = list(range(first_dynamic, len(fig.data)))
    frames = []
    for s in range(m):
        data = []
        for name in names:
            p = np.asarray(paths[name])
            data += [go.Scatter3d(x=p[s:s + 1, 0], y=p[s:s + 1, 1], z=p[s:s + 1, 2]),
                     go.Scatter(y=dbs[name][s])]
        frames.append(go.Frame(data=data, traces=dynamic, name=str(s)))
    fig.frames = frames
    top = max(d.max() for d in dbs.values())
    fig.update_xaxes(type="log", title="Hz", row=1, col=2)
    fig.update_yaxes(range=[top - 70, top + 3], title="dB", row=1, col=2)
    fig.update_layout(
        title=title, height=520, margin=dict(l=0, r=0, t=60, b=0),
        sliders=[dict(active=0, currentvalue=dict(prefix="step "), steps=[
            dict(method="animate", label=str(s + 1),
                 args=[[str(s)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                      transition=dict(duration=0))]) for s in range(m)])])
    return fig


def descriptor_slider_html(values: Mapping[str, np.ndarray], positions: Sequence[float],
                           descriptor: str, title: str = "", extent: float = 1.0):
    """Interactive descriptor map with a slider over (axis, position) of the sweeping plane.

    values : axis name ("X", "Y", "Z") -> (n_positions, n, n) maps.
    """

    positions = list(positions)
    allv = np.concatenate([np.asarray(v).ravel() for v in values.values()])
    lo, hi = np.nanpercentile(allv, [1, 99])
    steps, frames = [], []
    first = None
    for axis, v in values.items():
        n = np.asarray(v).shape[-1]
        ticks = np.linspace(-extent, extent, n)
        for pos, grid in zip(positions, np.asarray(v)):
            name = f"{axis}={pos:+.2f}"
            frames.append(go.Frame(data=[go.Heatmap(z=grid, x=ticks, y=ticks)], name=name))
            steps.append(dict(method="animate", label=name,
                              args=[[name], dict(mode="immediate", frame=dict(duration=0,
                                                                              redraw=True))]))
            if first is None:
                first = (grid, ticks)
    fig = go.Figure(go.Heatmap(z=first[0], x=first[1], y=first[1], zmin=lo, zmax=hi,
                               colorscale="Viridis", colorbar=dict(title=descriptor)),
                    frames=frames)
    fig.update_layout(title=title or descriptor, height=560, width=620,
                      xaxis_title="second free axis (Z, or Y for Z-planes)",
                      yaxis_title="first free axis (X, or Y for X-planes)",
                      sliders=[dict(active=0, currentvalue=dict(prefix="plane "), steps=steps)])
    return fig
