"""One plotly figure in the browser, updated in place: the explorer's views.

The browser side is ``plot_view.js`` (anywidget ESM) beside this file.
plotly.js comes once per page, from the one view that carries it (the map);
the others wait for it. The spectrum is redrawn as soon as it arrives (its SVG
path rewritten in place, plotly's full redraw once the updates pause); the
other views at most once per frame (the 3-D map after the next paint, at most
every 100 ms), always with the latest state.
"""
from __future__ import annotations

from pathlib import Path

import anywidget
import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import traitlets as T

from .plots import instrument_color

#: The JavaScript of :class:`PlotView`.
ESM_FILE = Path(__file__).with_name("plot_view.js")


class PlotView(anywidget.AnyWidget):
    """One plotly figure in the browser, drawn by plotly.js and updated in place.

    Only what changes travels: the spectrum as float32 bytes, the cursor and path
    coordinates, the path's spectra and the path step. Replaces plotly's
    ``FigureWidget``, whose every instance ships (and makes the browser evaluate)
    the 4.9 MB plotly bundle, and which anywidget gives up on after 2 s: on a loaded
    machine the map then stays empty. Here plotly.js travels once, with the map.
    """

    _esm = T.Unicode(ESM_FILE.read_text(encoding="utf-8")).tag(sync=True)
    kind = T.Unicode("").tag(sync=True)
    plotly_js = T.Unicode("").tag(sync=True)
    #: The static figure: ``{"data": [...], "layout": {...}}`` (plotly JSON).
    figure = T.Dict().tag(sync=True)
    #: Trace indices of what moves: line, step_line, heat, heat_cursor, cursor, path...
    dynamic = T.Dict().tag(sync=True)
    n_bins = T.Int(0).tag(sync=True)
    spectrum = T.Bytes(b"").tag(sync=True)
    cursor = T.List([0.0, 0.0, 0.0]).tag(sync=True)
    path_xyz = T.List([]).tag(sync=True)
    path_db = T.Bytes(b"").tag(sync=True)
    path_times = T.List([]).tag(sync=True)
    path_step = T.Int(-1).tag(sync=True)
    title = T.Unicode("").tag(sync=True)

    @classmethod
    def of(cls, kind: str, fig, dynamic: dict, **traits) -> PlotView:
        return cls(kind=kind, figure=fig.to_plotly_json(), dynamic=dynamic,
                   layout=W.Layout(width="100%"), **traits)


def floats(data: bytes, n: int = 0) -> np.ndarray:
    """Float32 bytes sent to the browser, as an array (``n`` columns when given)."""
    a = np.frombuffer(data, dtype=np.float32)
    return a.reshape(-1, n) if n else a


def points_3d(a: np.ndarray) -> list[list[float]]:
    """Rows of PCA coordinates as ``[x, y, z]`` lists (zeros for missing axes)."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    return np.pad(a[:, :3], ((0, 0), (0, max(0, 3 - a.shape[1])))).tolist()


def map_figure(xyz, labels, instruments, centroids: dict, explained_ratio) -> tuple:
    """The explorer's 3-D map: corpus codes ``xyz (n, 3)`` per instrument, labelled
    centroids (``{name: (3,)}``), then the path, its step marker and the cursor.

    Returns the figure and the indices of those last three traces.
    """
    labels, traces = np.asarray(labels), []
    for name in instruments:
        pts = points_3d(np.asarray(xyz)[labels == name])
        colour = instrument_color(name)
        traces.append(go.Scatter3d(
            x=[q[0] for q in pts], y=[q[1] for q in pts], z=[q[2] for q in pts],
            mode="markers", name=name, legendgroup=name, hoverinfo="text",
            marker={"size": 2.5, "color": colour, "opacity": 0.55},
            hovertext=[name] * len(pts)))
        (c,) = points_3d(np.asarray(centroids[name])[None, :])
        traces.append(go.Scatter3d(
            x=[c[0]], y=[c[1]], z=[c[2]], mode="markers+text", text=[name],
            name=f"{name} centroid", legendgroup=name, showlegend=False,
            textfont={"size": 10, "color": colour}, textposition="top center",
            marker={"size": 6, "color": colour, "symbol": "diamond",
                    "line": {"color": "black", "width": 1}}, hoverinfo="text"))
    traces.append(go.Scatter3d(x=[], y=[], z=[], mode="lines", name="path",
                               line={"color": "black", "width": 4}))
    traces.append(go.Scatter3d(x=[], y=[], z=[], mode="markers", name="path step",
                               showlegend=False,
                               marker={"size": 6, "color": "#d62728", "symbol": "circle"}))
    traces.append(go.Scatter3d(x=[0.0], y=[0.0], z=[0.0], mode="markers", name="cursor",
                               marker={"size": 8, "color": "black", "symbol": "cross"}))
    ratio = np.asarray(explained_ratio, dtype=np.float64)
    names = [f"PC{i + 1} ({100 * r:.0f} %)" for i, r in enumerate(ratio)] + ["", "", ""]
    layout = go.Layout(
        title=f"timbre space: PCA of the training codes ({100 * ratio.sum():.0f} % of "
              "the variance)", height=480, autosize=True,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        legend={"itemsizing": "constant", "font": {"size": 11}},
        scene={"xaxis_title": names[0], "yaxis_title": names[1], "zaxis_title": names[2]},
        uirevision="keep")
    n = len(traces)
    return go.Figure(traces, layout), {"path": n - 3, "step_marker": n - 2, "cursor": n - 1}


def spectrum_figure(freqs: list, db_range: tuple[float, float]) -> go.Figure:
    """The decoded spectrum (cursor, path step) over ``freqs`` (Hz) on a fixed dB axis."""
    lo = db_range[0]
    return go.Figure(
        [go.Scatter(x=freqs, y=[lo] * len(freqs), mode="lines", name="cursor",
                    line={"color": "#1f77b4"}),
         go.Scatter(x=freqs, y=[lo] * len(freqs), mode="lines", name="path step",
                    visible=False, line={"color": "#d62728", "dash": "dot"})],
        go.Layout(title="decoded spectrum", height=300, autosize=True,
                  margin={"l": 60, "r": 20, "t": 40, "b": 45},
                  legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
                  xaxis={"title": "frequency (Hz)", "type": "log"},
                  yaxis={"title": "magnitude (dB)", "range": list(db_range),
                         "autorange": False, "fixedrange": True}))


def heat_figure(times: list, freqs: list, db_range: tuple[float, float]) -> go.Figure:
    """The path's decoded spectra as a heat map (``times`` s x ``freqs`` Hz), and its cursor."""
    return go.Figure(
        [go.Heatmap(x=times, y=freqs, z=[[None] * len(times)] * len(freqs), zmin=db_range[0],
                    zmax=db_range[1], colorscale="Magma", colorbar={"title": {"text": "dB"}},
                    hovertemplate="%{x:.2f} s, %{y:.0f} Hz: %{z:.1f} dB<extra></extra>"),
         go.Scatter(x=[0.0, 0.0], y=[freqs[0], freqs[-1]], mode="lines",
                    line={"color": "white", "width": 2}, showlegend=False, hoverinfo="skip")],
        go.Layout(title="path: decoded spectra (dB)", height=300, autosize=True,
                  margin={"l": 60, "r": 20, "t": 40, "b": 45},
                  xaxis={"title": "time along the path (s)"},
                  yaxis={"title": "frequency (Hz)", "type": "log"}))
