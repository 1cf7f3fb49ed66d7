"""The JupyterLab explorer of a timbre space, and a fast audio rendering of decoded frames.

:class:`Explorer` shows a trained :class:`vts.space.TimbreSpace` as three
linked views: sliders over the first three PCA axes (or over the raw latent
dimensions), a 3-D scatter of the corpus codes in PCA coordinates with a cursor,
and the decoded spectrum; the decoded note is played by an ``ipywidgets.Audio``.
Everything the widgets show is also reachable from Python without a browser::

    explorer = Explorer(space)
    explorer.set_pca(0.5, -0.2, 0.0)
    explorer.current_spectrum          # linear magnitudes (n_bins,)
    explorer.current_audio             # float32 at config.SAMPLE_RATE
    explorer.widget                    # the container to display

Fast reconstruction
-------------------
Griffin-Lim through the NSGT costs one forward and one inverse transform per
iteration, far too slow to follow a slider. ``reconstruction="fast"`` instead
renders the decoded magnitude frame additively: one sinusoid per bin, at the
bin's centre frequency (rounded to a 1-Hz grid so that one second of signal is
exactly periodic and can be tiled without a seam), with fixed random phases
(seeded: the same point always gives the same sound). The amplitudes are
calibrated against the transform itself: :func:`band_response` analyses unit
sinusoids once per transform to get how much each sinusoid shows in each bin,
and :func:`sinusoid_amplitudes` inverts that (non-negative, multiplicative
updates in the power domain), so that re-analysing the sound gives back the
decoded magnitude. A render is then one inverse real FFT.
``reconstruction="griffin-lim"`` uses phase retrieval; both come from the one
renderer, :func:`vts.dsp.render`.
``benchmarks/bench_explorer.py`` measures both (latency and spectral error).
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
from IPython.display import display

from ..dsp import METHODS, N_ITER, FastRenderer, render, to_db, wav_bytes
from ..dsp.render import FLOOR_DB
from ..paths import PATHS, path_audio
from .plots import instrument_color

#: Reconstruction methods of the explorer's audio (``vts.dsp.render``'s methods).
RECONSTRUCTIONS = tuple(reversed(METHODS))
#: Latent path kinds the explorer's path mode offers (expressive paths need notes' frames).
PATH_KINDS = ("spherical", "linear")


def latent_path(z_a, z_b, kind: str = "spherical", n_steps: int = 32) -> np.ndarray:
    """Codes ``(n_steps, latent_dim)`` from ``z_a`` to ``z_b``
    (:func:`vts.paths.linear_path` or :func:`vts.paths.spherical_path`)."""
    if kind not in PATH_KINDS:
        raise ValueError(f"path kind must be one of {PATH_KINDS}, got {kind!r}")
    return np.asarray(PATHS[kind](z_a, z_b, n_steps), dtype=np.float32)


# -- the explorer -------------------------------------------------------------------
class Explorer:
    """Interactive explorer of a timbre space (JupyterLab; the model works without one).

    Parameters
    ----------
    space : TimbreSpace
        A loaded space (``latents``, ``instruments``, ``centroids``,
        ``to_pca`` / ``from_pca``, ``decode_magnitude``, ``transform``).
    reconstruction : {"fast", "griffin-lim"}
        How the decoded frame becomes sound (see the module docstring).
    seconds : float
        Duration (s) of the note played at the cursor.
    path_seconds : float
        Duration (s) of a path between two instruments.
    path_steps : int
        Decoded points along a path.
    autoplay : bool
        Play every new sound as soon as it is ready (in the browser).
    axes : {"pca", "latent"}
        Sliders shown first: the three PCA axes or the raw latent dimensions
        (a toggle switches between them).
    continuous_update : bool
        Update while a slider is dragged (else on release).
    seed : int
        Phase seed of the fast reconstruction.
    n_iter : int
        Griffin-Lim iterations of ``reconstruction="griffin-lim"``.

    Notes
    -----
    Moving a PCA slider moves the current code along that PCA axis and keeps
    its part orthogonal to the PCA plane: from the start (the mean code, on the
    plane) the code is exactly ``space.from_pca(p)``; after
    :meth:`select_instrument` the centroid's off-plane part is kept. Updates
    are synchronous: when a setter returns, spectrum, audio and plots are
    current. ``last_timings`` gives the milliseconds of the last update.
    """

    def __init__(self, space, reconstruction: str = "fast", seconds: float = 1.0,
                 path_seconds: float = 3.0, path_steps: int = 32, autoplay: bool = False,
                 axes: str = "pca", continuous_update: bool = True, seed: int = 0,
                 n_iter: int = N_ITER):
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, "
                             f"got {reconstruction!r}")
        if axes not in ("pca", "latent"):
            raise ValueError(f"axes must be 'pca' or 'latent', got {axes!r}")
        if seconds <= 0 or path_seconds <= 0 or path_steps < 2:
            raise ValueError("seconds and path_seconds must be > 0 and path_steps >= 2")
        self.space = space
        self.reconstruction = reconstruction
        self.seconds = float(seconds)
        self.path_seconds = float(path_seconds)
        self.path_steps = int(path_steps)
        self.autoplay = bool(autoplay)
        self.continuous_update = bool(continuous_update)
        self.seed = int(seed)
        self.n_iter = int(n_iter)
        self.sample_rate = int(space.transform.sample_rate)
        self.frequencies = np.asarray(space.transform.frequencies, dtype=np.float64)
        self.instruments = [str(i) for i in space.instruments]
        self._centroids = space.centroids
        self._n_pca = int(space.pca.n_components_)
        self._renderer = FastRenderer(space.transform, self.sample_rate, self.seed) \
            if reconstruction == "fast" else None
        self._z = np.asarray(space.from_pca(np.zeros(self._n_pca)), dtype=np.float32)
        self._instrument: str | None = None
        self._spectrum = None
        self._audio = None
        self._path = None
        self._path_audio = None
        self._silent = False
        self.last_timings: dict[str, float] = {}
        self._build(axes)
        self._refresh()

    # -- state -----------------------------------------------------------------------
    @property
    def current_z(self) -> np.ndarray:
        """The code at the cursor, ``(latent_dim,)`` float32 (a copy)."""
        return self._z.copy()

    @property
    def current_pca(self) -> np.ndarray:
        """PCA coordinates of the cursor, ``(3,)``."""
        return np.asarray(self.space.to_pca(self._z), dtype=np.float64)

    @property
    def current_spectrum(self) -> np.ndarray:
        """Decoded linear magnitude at the cursor, ``(n_bins,)`` (``space.decode_magnitude``)."""
        return self._spectrum.copy()

    @property
    def current_audio(self) -> np.ndarray:
        """The note at the cursor, float32 at ``config.SAMPLE_RATE``, ``seconds`` long."""
        return self._audio.copy()

    @property
    def current_instrument(self) -> str | None:
        """Instrument last picked (None once a slider moved the cursor away)."""
        return self._instrument

    @property
    def nearest_instrument(self) -> str:
        """Instrument whose centroid is nearest to the cursor (Euclidean, full latent)."""
        d = np.linalg.norm(self._centroids.to_numpy(np.float64) - self._z[None, :], axis=1)
        return str(self._centroids.index[int(np.argmin(d))])

    @property
    def path_audio(self) -> np.ndarray | None:
        """Audio of the last :meth:`play_path` (None before)."""
        return None if self._path_audio is None else self._path_audio.copy()

    @property
    def path(self) -> np.ndarray | None:
        """Codes ``(path_steps, latent_dim)`` of the last :meth:`play_path`."""
        return None if self._path is None else self._path.copy()

    @property
    def widget(self):
        """The ipywidgets container to display."""
        return self._widget

    # -- setters ---------------------------------------------------------------------
    def set_pca(self, pc1: float, pc2: float = 0.0, pc3: float = 0.0) -> None:
        """Move the cursor to PCA coordinates (keeping the off-plane part of the code)."""
        p = np.array([pc1, pc2, pc3][: self._n_pca], dtype=np.float64)
        if not np.all(np.isfinite(p)):
            raise ValueError(f"PCA coordinates must be finite, got {p}")
        z = np.asarray(self._z, dtype=np.float64)
        residual = z - np.asarray(self.space.from_pca(self.space.to_pca(z)), dtype=np.float64)
        self._instrument = None
        self._set_z(np.asarray(self.space.from_pca(p), dtype=np.float64) + residual)

    def set_latent(self, z: Sequence[float]) -> None:
        """Move the cursor to a code ``(latent_dim,)``."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape != self._z.shape or not np.all(np.isfinite(z)):
            raise ValueError(f"code must be finite with shape {self._z.shape}, got {z.shape}")
        self._instrument = None
        self._set_z(z)

    def select_instrument(self, name: str) -> None:
        """Move the cursor to an instrument's centroid (its full code)."""
        if name not in self._centroids.index:
            raise KeyError(f"{name!r} is not an instrument of this space; "
                           f"choose from {self.instruments}")
        self._set_z(self._centroids.loc[name].to_numpy(np.float64))
        self._instrument = name
        self._sync_picker()

    def play_path(self, start: str, end: str, kind: str = "spherical") -> np.ndarray:
        """Render (and play) a path from one instrument's centroid to another's.

        Returns
        -------
        np.ndarray
            float32 audio, ``path_seconds`` long; the path is drawn in the scatter.
        """
        for name in (start, end):
            if name not in self._centroids.index:
                raise KeyError(f"{name!r} is not an instrument of this space; "
                               f"choose from {self.instruments}")
        z_a = self._centroids.loc[start].to_numpy(np.float32)
        z_b = self._centroids.loc[end].to_numpy(np.float32)
        path = latent_path(z_a, z_b, kind, self.path_steps)
        audio = path_audio(self.space, path, self.path_seconds, method=self.reconstruction,
                           n_iter=self.n_iter, seed=self.seed, renderer=self._renderer)
        self._path, self._path_audio = path, np.asarray(audio, dtype=np.float32)
        xyz = np.asarray(self.space.to_pca(path), dtype=np.float64)
        with self._scatter.batch_update():
            self._scatter.data[self._path_trace].update(
                x=xyz[:, 0], y=_col(xyz, 1), z=_col(xyz, 2), name=f"{kind} path")
        self._audio_widget.value = wav_bytes(self._path_audio, self.sample_rate)
        self._status.value = (f"path {start} &rarr; {end} ({kind}, {self.path_seconds:g} s, "
                              f"{self.reconstruction})")
        return self._path_audio.copy()

    # -- update -------------------------------------------------------------------------
    def _set_z(self, z) -> None:
        self._z = np.asarray(z, dtype=np.float32)
        self._refresh()

    def _refresh(self) -> None:
        t0 = time.perf_counter()
        spectrum = np.asarray(self.space.decode_magnitude(self._z), dtype=np.float32)
        t1 = time.perf_counter()
        audio = render(spectrum, self.space.transform, self.seconds, method=self.reconstruction,
                       n_iter=self.n_iter, seed=self.seed, renderer=self._renderer)
        t2 = time.perf_counter()
        self._spectrum, self._audio = spectrum, audio
        p = self.current_pca
        self._sync_sliders(p)
        with self._spectrum_fig.batch_update():
            self._spectrum_fig.data[0].y = to_db(spectrum)
        with self._scatter.batch_update():
            self._scatter.data[self._cursor_trace].update(x=[p[0]], y=[_at(p, 1)], z=[_at(p, 2)])
        self._audio_widget.value = wav_bytes(audio, self.sample_rate)
        t3 = time.perf_counter()
        self.last_timings = {"decode_ms": 1e3 * (t1 - t0), "audio_ms": 1e3 * (t2 - t1),
                             "display_ms": 1e3 * (t3 - t2), "total_ms": 1e3 * (t3 - t0)}
        label = self._instrument or f"near {self.nearest_instrument}"
        self._status.value = (f"{label} &middot; PCA ({', '.join(f'{v:+.2f}' for v in p)}) "
                              f"&middot; {self.last_timings['total_ms']:.0f} ms "
                              f"({self.reconstruction})")

    # -- widgets -------------------------------------------------------------------------
    def _build(self, axes: str) -> None:

        space = self.space
        codes = space.codes("train")
        labels = space.latents[space.latents["split"] == "train"]["instrument"].astype(str)
        labels = labels.to_numpy()
        xyz = np.asarray(space.to_pca(codes), dtype=np.float64)
        self._corpus_pca = xyz
        span = np.abs(xyz).max(axis=0) if len(xyz) else np.ones(self._n_pca)
        lim = 1.25 * np.maximum(span, 1e-3)

        # sliders over the PCA axes and the raw latent dimensions
        self._pca_sliders = [
            W.FloatSlider(value=0.0, min=-float(lim[i]), max=float(lim[i]),
                          step=float(lim[i]) / 200, description=f"PC{i + 1}",
                          continuous_update=self.continuous_update, readout_format=".2f",
                          layout=W.Layout(width="380px"))
            for i in range(self._n_pca)]
        zlim = np.maximum(3.0, 1.25 * np.abs(codes).max(axis=0)) if len(codes) else \
            np.full(len(self._z), 3.0)
        self._latent_sliders = [
            W.FloatSlider(value=float(self._z[i]), min=-float(zlim[i]), max=float(zlim[i]),
                          step=float(zlim[i]) / 200, description=f"z{i}",
                          continuous_update=self.continuous_update, readout_format=".2f",
                          layout=W.Layout(width="380px"))
            for i in range(len(self._z))]
        for s in self._pca_sliders:
            s.observe(self._on_pca_slider, names="value")
        for i, s in enumerate(self._latent_sliders):
            s.observe(lambda change, i=i: self._on_latent_slider(i, change), names="value")
        self._axes = W.ToggleButtons(options=[("PCA axes", "pca"), ("latent dims", "latent")],
                                     value=axes, description="sliders")
        pca_box = W.VBox(self._pca_sliders)
        latent_box = W.VBox(self._latent_sliders,
                            layout=W.Layout(max_height="320px", overflow="auto"))
        self._slider_stack = W.Stack([pca_box, latent_box], selected_index=0)
        self._axes.observe(lambda c: setattr(self._slider_stack, "selected_index",
                                             0 if c["new"] == "pca" else 1), names="value")
        self._slider_stack.selected_index = 0 if axes == "pca" else 1

        # instrument picker and path mode
        narrow = {"layout": W.Layout(width="190px"), "style": {"description_width": "40px"}}
        self._picker = W.Dropdown(options=[("—", None)] + [(n, n) for n in self.instruments],
                                  value=None, description="instrument",
                                  layout=W.Layout(width="380px"))
        self._picker.observe(self._on_pick, names="value")
        first = self.instruments[0] if self.instruments else None
        last = self.instruments[-1] if self.instruments else None
        self._path_from = W.Dropdown(options=self.instruments, value=first, description="from",
                                     **narrow)
        self._path_to = W.Dropdown(options=self.instruments, value=last, description="to",
                                   **narrow)
        self._path_kind = W.Dropdown(options=list(PATH_KINDS), value="spherical",
                                     description="path", **narrow)
        self._path_button = W.Button(description="play path", icon="play",
                                     layout=W.Layout(width="150px"))
        self._path_button.on_click(lambda _: self.play_path(self._path_from.value,
                                                            self._path_to.value,
                                                            self._path_kind.value))

        # 3-D scatter of the corpus, cursor and path
        traces = []
        for name in self.instruments:
            pts = xyz[labels == name]
            traces.append(go.Scatter3d(
                x=pts[:, 0], y=_col(pts, 1), z=_col(pts, 2), mode="markers", name=name,
                marker={"size": 2.5, "color": instrument_color(name), "opacity": 0.6},
                hovertext=[name] * len(pts), hoverinfo="text"))
        traces.append(go.Scatter3d(x=[], y=[], z=[], mode="lines+markers", name="path",
                                   line={"color": "black", "width": 4}, marker={"size": 2}))
        traces.append(go.Scatter3d(x=[0.0], y=[0.0], z=[0.0], mode="markers", name="cursor",
                                   marker={"size": 8, "color": "black", "symbol": "diamond"}))
        self._path_trace, self._cursor_trace = len(traces) - 2, len(traces) - 1
        self._scatter = go.FigureWidget(data=traces, layout=go.Layout(
            title="timbre space (PCA of the latent codes)", height=460,
            margin={"l": 0, "r": 0, "t": 40, "b": 0},
            legend={"itemsizing": "constant", "orientation": "h", "y": -0.05},
            scene={"xaxis_title": "PC1", "yaxis_title": "PC2", "zaxis_title": "PC3"}))

        # decoded spectrum
        self._spectrum_fig = go.FigureWidget(
            data=[go.Scatter(x=self.frequencies, y=np.full(len(self.frequencies), FLOOR_DB),
                             mode="lines", name="decoded", line={"color": "#1f77b4"})],
            layout=go.Layout(title="decoded spectrum", height=320,
                             margin={"l": 50, "r": 10, "t": 40, "b": 40},
                             xaxis={"title": "frequency (Hz)", "type": "log"},
                             yaxis={"title": "magnitude (dB)"}))

        self._audio_widget = W.Audio(value=b"", format="wav", autoplay=self.autoplay,
                                     loop=False, controls=True)
        self._status = W.HTML(value="")
        controls = W.VBox([self._axes, self._slider_stack, self._picker,
                           W.HBox([self._path_from, self._path_to]),
                           W.HBox([self._path_kind, self._path_button]),
                           self._audio_widget, self._status],
                          layout=W.Layout(width="400px", min_width="400px"))
        self._widget = W.VBox([W.HBox([controls, W.Box([self._scatter],
                                                       layout=W.Layout(flex="1 1 auto"))]),
                               self._spectrum_fig])

    def _sync_sliders(self, p) -> None:
        """Show the current state on the sliders without triggering updates."""
        self._silent = True
        try:
            for s, v in zip(self._pca_sliders, p):
                _set_slider(s, float(v))
            for s, v in zip(self._latent_sliders, self._z):
                _set_slider(s, float(v))
        finally:
            self._silent = False

    def _sync_picker(self) -> None:
        self._silent = True
        try:
            self._picker.value = self._instrument
        finally:
            self._silent = False

    def _on_pca_slider(self, change) -> None:
        if self._silent:
            return
        self.set_pca(*[s.value for s in self._pca_sliders])
        self._sync_picker()

    def _on_latent_slider(self, i: int, change) -> None:
        if self._silent:
            return
        z = self._z.astype(np.float64).copy()
        z[i] = change["new"]
        self.set_latent(z)
        self._sync_picker()

    def _on_pick(self, change) -> None:
        if self._silent or change["new"] is None:
            return
        self.select_instrument(change["new"])

    def _ipython_display_(self):    # pragma: no cover - display hook in a notebook

        display(self._widget)


def _col(a: np.ndarray, i: int) -> np.ndarray:
    return a[:, i] if a.shape[1] > i else np.zeros(len(a))


def _at(p: np.ndarray, i: int) -> float:
    return float(p[i]) if len(p) > i else 0.0


def _set_slider(slider, value: float) -> None:
    """Set a slider's value, widening its range first if needed (sliders clamp)."""
    slider.max = max(slider.max, value)
    slider.min = min(slider.min, value)
    slider.value = value
