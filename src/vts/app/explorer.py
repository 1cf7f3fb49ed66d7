"""The JupyterLab explorer of a timbre space.

:class:`Explorer` shows a trained :class:`vts.space.TimbreSpace` as linked views:
sliders over the first three PCA axes (or the raw latent dimensions), a 3-D map
of the corpus codes with a cursor, the decoded spectrum on a fixed dB axis, and
a path mode (a sound gliding from one instrument to another, its spectra as a
heat map with a moving cursor). Every view is reachable from Python::

    explorer = Explorer(space)
    explorer.set_pca(0.5, -0.2, 0.0)
    explorer.current_spectrum          # linear magnitudes (n_bins,)
    explorer.current_audio             # float32 at config.SAMPLE_RATE
    explorer.widget                    # the container to display

In the browser: sliders span the 1st-99th percentile of the training codes
(:attr:`Explorer.slider_ranges`; a cursor beyond is shown clamped and named in
:attr:`Explorer.outside_corpus`). The browser rounds every value the kernel
writes to a slider to its step and sends it back; such an echo is ignored, so
a pick stays picked, switching slider modes changes nothing and a path sound is
not replaced. The kernel never writes back to the slider being moved, and
redraws are coalesced (one per burst, with the last value). The dB axis is
fixed (:attr:`Explorer.db_range`). The plots are :class:`vts.app.plot_view.PlotView`
widgets: plotly.js travels once per page and a move sends only the new
spectrum and the cursor. Sound goes through the one renderer,
:func:`vts.dsp.render` (``"fast"``: additive; ``"griffin-lim"``: phase
retrieval); ``benchmarks/bench_explorer.py`` measures both and the latency.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence

import ipywidgets as W
import numpy as np
import plotly.offline
from IPython.display import display

from ..dsp import METHODS, N_ITER, FastRenderer, render, to_db, wav_bytes
from ..paths import PATHS, path_audio
from .plot_view import PlotView, floats, heat_figure, map_figure, points_3d, spectrum_figure

#: Reconstruction methods of the explorer's audio (``vts.dsp.render``'s methods).
RECONSTRUCTIONS = tuple(reversed(METHODS))
#: Latent path kinds the explorer's path mode offers (expressive paths need notes' frames).
PATH_KINDS = ("spherical", "linear")
#: Percentiles of the training codes spanned by the sliders.
PERCENTILES = (1.0, 99.0)
#: Steps across a slider's range.
SLIDER_STEPS = 200
#: Dynamic range (dB) of the spectrum axis, and the margin above the corpus' peaks.
DB_SPAN, DB_MARGIN = 80.0, 6.0
#: Training codes decoded to set the dB axis.
DB_SAMPLE = 512
#: The picker's entry for "no instrument picked".
NO_PICK = "— none —"
#: Values a slider remembers having been shown (a late echo of one is not a move).
ECHO_MEMORY = 8
#: Width (px) of the controls column; the map takes the rest, the spectra the full width.
CONTROLS_PX = 400


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
        A loaded space (``latents``, ``instruments``, ``centroids``, ``codes``,
        ``pca``, ``to_pca`` / ``from_pca``, ``decode_magnitude``, ``transform``).
    reconstruction : {"fast", "griffin-lim"}
        How the decoded frame becomes sound (see the module docstring).
    seconds : float
        Duration (s) of the note played at the cursor.
    path_seconds : float
        Duration (s) of a path between two instruments.
    path_steps : int
        Decoded points along a path (columns of its heat map).
    autoplay : bool
        Play every new sound as soon as it is ready (in the browser); a path
        then also starts its moving cursor.
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
    :meth:`select_instrument` the centroid's off-plane part is kept. Setters
    called from Python are synchronous: when they return, spectrum, audio and
    plots are current. ``last_timings`` gives the milliseconds of the last
    redraw; ``counts`` how many redraws and sound swaps there have been.
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
        self._corpus()
        self._z = np.asarray(space.from_pca(np.zeros(self._n_pca)), dtype=np.float32)
        self._instrument: str | None = None
        self._spectrum = self._audio = self._path = self._path_audio = self._path_db = None
        self._silent = False
        self._pending = False
        self.last_timings: dict[str, float] = {}
        #: ``last_timings["total_ms"]`` of the last redraws (benchmarks read them).
        self.timings: deque[float] = deque(maxlen=256)
        self.counts = {"redraws": 0, "audio": 0, "path_audio": 0}
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
    def slider_ranges(self) -> dict[str, np.ndarray]:
        """``{"pca": (3, 2), "latent": (latent_dim, 2)}``: [low, high] of each slider, the
        1st and 99th percentiles of the training codes on that axis."""
        return {"pca": self._pca_box.copy(), "latent": self._z_box.copy()}

    @property
    def db_range(self) -> tuple[float, float]:
        """The fixed [low, high] of the spectrum's dB axis (and of the path heat map)."""
        return self._db_lo, self._db_hi

    @property
    def outside_corpus(self) -> list[str]:
        """Axes (``PC1``.., ``z0``..) on which the cursor is outside the sliders' box."""
        def beyond(v, lo, hi):                       # by more than half a slider step
            tol = (hi - lo) / SLIDER_STEPS / 2
            return v < lo - tol or v > hi + tol

        p = self.current_pca
        out = [f"PC{i + 1}" for i, (lo, hi) in enumerate(self._pca_box) if beyond(p[i], lo, hi)]
        return out + [f"z{i}" for i, (lo, hi) in enumerate(self._z_box)
                      if beyond(self._z[i], lo, hi)]

    @property
    def shown_spectrum_db(self) -> np.ndarray:
        """The spectrum the browser draws: dB, floored at the axis' low end, ``(n_bins,)``."""
        return floats(self._spectrum_view.spectrum).copy()

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
        self._instrument = None
        self._z = self._pca_move(p)
        self._refresh()

    def set_latent(self, z: Sequence[float]) -> None:
        """Move the cursor to a code ``(latent_dim,)``."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape != self._z.shape or not np.all(np.isfinite(z)):
            raise ValueError(f"code must be finite with shape {self._z.shape}, got {z.shape}")
        self._instrument = None
        self._z = z.astype(np.float32)
        self._refresh()

    def select_instrument(self, name: str) -> None:
        """Move the cursor to an instrument's centroid (its full code)."""
        if name not in self._centroids.index:
            raise KeyError(f"{name!r} is not an instrument of this space; "
                           f"choose from {self.instruments}")
        self._z = self._centroids.loc[name].to_numpy(np.float32)
        self._instrument = name
        self._refresh()

    def play_path(self, start: str, end: str, kind: str = "spherical") -> np.ndarray:
        """Render (and play) a path from one instrument's centroid to another's.

        The path is drawn in the map, its decoded spectra in the heat map (time
        along x); the path position slider (and its play button) moves a cursor
        along both and shows that step's spectrum. The cursor's own note is kept.

        Returns
        -------
        np.ndarray
            float32 audio, ``path_seconds`` long.
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
        self._path_db = to_db(np.asarray(self.space.decode_magnitude(path), dtype=np.float64),
                              self._db_lo)
        self._path_xyz = np.asarray(self.space.to_pca(path), dtype=np.float64)
        db = self._path_db.astype(np.float32).tobytes()
        self._heat.title = f"{start} → {end}: {kind} path, decoded spectra (dB)"
        self._heat.path_db = self._spectrum_view.path_db = db
        self._map.path_xyz = points_3d(self._path_xyz)
        self._path_audio_widget.value = wav_bytes(self._path_audio, self.sample_rate)
        self._path_audio_widget.autoplay = self.autoplay
        self._path_audio_widget.layout.display = None
        self.counts["path_audio"] += 1
        self._play.playing = False
        self._set_silently(self._path_position, "value", 0)
        self._show_path_step(0, force=True)
        if self.autoplay:
            self._play.playing = True
        self._path_status.value = (f"path {start} &rarr; {end} ({kind}, {self.path_seconds:g} s, "
                                   f"{self.reconstruction})")
        return self._path_audio.copy()

    def show_path_step(self, k: int) -> None:
        """Move the path cursor to step ``k`` (heat map, map and spectrum)."""
        if self._path is None:
            raise RuntimeError("no path yet: call play_path first")
        self._path_position.value = int(k)

    # -- update -------------------------------------------------------------------------
    def _pca_move(self, p) -> np.ndarray:
        z = np.asarray(self._z, dtype=np.float64)
        residual = z - np.asarray(self.space.from_pca(self.space.to_pca(z)), dtype=np.float64)
        return (np.asarray(self.space.from_pca(p), dtype=np.float64) + residual).astype(
            np.float32)

    def _request_refresh(self) -> None:
        """Redraw now, or -- in a kernel with an event loop -- once the messages already
        queued have been read (a burst of slider moves gives one redraw, with the last)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._refresh()
            return
        if not self._pending:
            self._pending = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._pending = False
        try:
            self._refresh()
        except Exception as error:  # noqa: BLE001 - shown, not lost in the kernel log
            self._status.value = f"<b>error</b>: {type(error).__name__}: {error}"

    def _refresh(self) -> None:
        t0 = time.perf_counter()
        spectrum = np.asarray(self.space.decode_magnitude(self._z), dtype=np.float32)
        # what the eye waits for first, sent before the sound is rendered: the spectrum;
        # then the sound, the map, the sliders
        self._spectrum_view.spectrum = np.maximum(to_db(spectrum), self._db_lo).astype(
            np.float32).tobytes()
        t1 = time.perf_counter()
        audio = render(spectrum, self.space.transform, self.seconds, method=self.reconstruction,
                       n_iter=self.n_iter, seed=self.seed, renderer=self._renderer)
        t2 = time.perf_counter()
        self._spectrum, self._audio = spectrum, audio
        p = self.current_pca
        self._audio_widget.value = wav_bytes(audio, self.sample_rate)
        self.counts["audio"] += 1
        self._map.cursor = points_3d(p[None, :])[0]
        self._sync_controls(p)
        t3 = time.perf_counter()
        self.counts["redraws"] += 1
        self.last_timings = {"decode_ms": 1e3 * (t1 - t0), "audio_ms": 1e3 * (t2 - t1),
                             "display_ms": 1e3 * (t3 - t2), "total_ms": 1e3 * (t3 - t0)}
        self.timings.append(self.last_timings["total_ms"])
        label = self._instrument or f"near {self.nearest_instrument}"
        self._status.value = (f"{label} &middot; PCA ({', '.join(f'{v:+.2f}' for v in p)}) "
                              f"&middot; {self.last_timings['total_ms']:.0f} ms "
                              f"({self.reconstruction})")
        outside = self.outside_corpus
        self._note.value = "" if not outside else (
            '<span style="color:#b35900"><b>outside the corpus</b> on '
            f"{', '.join(outside[:6])}{' ...' if len(outside) > 6 else ''} (beyond the "
            "1st&ndash;99th percentile of the training codes): the decoder extrapolates</span>")

    def _show_path_step(self, k: int, force: bool = False) -> None:
        if self._path is None:
            return
        k = int(np.clip(k, 0, len(self._path) - 1))
        for view in (self._heat, self._spectrum_view, self._map):
            if force and view.path_step == k:
                view.path_step = -1                      # a new path: redraw step k
            view.path_step = k

    # -- the corpus: slider box and dB axis ----------------------------------------------
    def _corpus(self) -> None:
        space = self.space
        codes = np.asarray(space.codes("train"), dtype=np.float64)
        train = space.latents[space.latents["split"] == "train"]
        self._labels = train["instrument"].astype(str).to_numpy()
        self._corpus_pca = np.asarray(space.to_pca(codes), dtype=np.float64).reshape(
            len(codes), self._n_pca)
        self._pca_box = _box(self._corpus_pca, self._n_pca)
        self._z_box = _box(codes, len(space.z_columns) if hasattr(space, "z_columns")
                           else codes.shape[1])
        rng = np.random.default_rng(self.seed)
        sample = codes if len(codes) <= DB_SAMPLE else codes[rng.choice(len(codes), DB_SAMPLE,
                                                                          replace=False)]
        if len(sample):
            peaks = to_db(np.asarray(space.decode_magnitude(sample.astype(np.float32)),
                                     dtype=np.float64)).reshape(len(sample), -1).max(axis=1)
            top = float(np.percentile(peaks, 99.0)) + DB_MARGIN
        else:
            top = 0.0
        self._db_hi = float(np.ceil(top / 5.0) * 5.0)
        self._db_lo = self._db_hi - DB_SPAN
        self._path_times = np.linspace(0.0, self.path_seconds, self.path_steps)

    # -- widgets -------------------------------------------------------------------------
    def _slider(self, lo: float, hi: float, value: float, label: str):
        step = float(hi - lo) / SLIDER_STEPS
        s = W.FloatSlider(value=_on_grid(value, lo, hi, step), min=float(lo), max=float(hi),
                          step=step, description=label,
                          continuous_update=self.continuous_update, readout_format=".2f",
                          layout=W.Layout(width=f"{CONTROLS_PX - 20}px"))
        s._vts_shown = deque([s.value], maxlen=ECHO_MEMORY)   # values the kernel showed
        return s

    def _build(self, axes: str) -> None:
        p0 = self.space.to_pca(self._z)
        self._pca_sliders = [self._slider(*self._pca_box[i], p0[i], f"PC{i + 1}")
                             for i in range(self._n_pca)]
        self._latent_sliders = [self._slider(*self._z_box[i], self._z[i], f"z{i}")
                                for i in range(len(self._z))]
        for i, s in enumerate(self._pca_sliders):
            s.observe(lambda change, i=i: self._on_slider("pca", i, change), names="value")
        for i, s in enumerate(self._latent_sliders):
            s.observe(lambda change, i=i: self._on_slider("latent", i, change), names="value")
        self._axes = W.ToggleButtons(options=[("PCA axes", "pca"), ("latent dims", "latent")],
                                     value=axes, description="sliders",
                                     style={"button_width": "120px"})
        latent_box = W.VBox(self._latent_sliders,
                            layout=W.Layout(max_height="300px", overflow="auto"))
        self._slider_stack = W.Stack([W.VBox(self._pca_sliders), latent_box],
                                     selected_index=0 if axes == "pca" else 1)
        self._axes.observe(self._on_axes, names="value")
        self._picker = W.Dropdown(options=[(NO_PICK, "")] + [(n, n) for n in self.instruments],
                                  value="", description="instrument",
                                  layout=W.Layout(width=f"{CONTROLS_PX - 20}px"))
        self._picker.observe(self._on_pick, names="value")
        self._note = W.HTML(value="")
        self._status = W.HTML(value="")
        self._audio_widget = W.Audio(value=b"", format="wav", autoplay=self.autoplay,
                                     loop=False, controls=True)

        # path mode
        narrow = {"layout": W.Layout(width="185px"), "style": {"description_width": "40px"}}
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
        # hidden until there is a path (holding a few samples of silence: an empty value
        # is a failed request in the browser)
        silence = wav_bytes(np.zeros(64, dtype=np.float32), self.sample_rate)
        self._path_audio_widget = W.Audio(value=silence, format="wav", autoplay=False,
                                          loop=False, controls=True,
                                          layout=W.Layout(display="none"))
        self._path_position = W.IntSlider(value=0, min=0, max=self.path_steps - 1,
                                          description="step", continuous_update=True,
                                          layout=W.Layout(width="420px"))
        self._path_position.observe(lambda c: self._show_path_step(c["new"]), names="value")
        interval = max(20, round(1e3 * self.path_seconds / (self.path_steps - 1)))
        self._play = W.Play(value=0, min=0, max=self.path_steps - 1, interval=interval,
                            description="move the cursor along the path")
        W.jslink((self._play, "value"), (self._path_position, "value"))
        self._path_status = W.HTML(value="<i>pick two instruments and press play path</i>")

        cents = np.asarray(self.space.to_pca(self._centroids.to_numpy(np.float64)),
                           dtype=np.float64).reshape(len(self._centroids), self._n_pca)
        centroids = dict(zip(self._centroids.index, cents, strict=True))
        fig, dynamic = map_figure(self._corpus_pca, self._labels, self.instruments, centroids,
                                  self.space.pca.explained_variance_ratio_)
        self._map = PlotView.of("map", fig, dynamic, plotly_js=plotly.offline.get_plotlyjs())
        freqs = self.frequencies.tolist()
        self._spectrum_view = PlotView.of("spectrum", spectrum_figure(freqs, self.db_range),
                                          {"line": 0, "step_line": 1}, n_bins=len(freqs))
        times = self._path_times.tolist()
        self._heat = PlotView.of("heat", heat_figure(times, freqs, self.db_range),
                                 {"heat": 0, "heat_cursor": 1}, n_bins=len(freqs),
                                 path_times=times)

        controls = W.VBox([self._axes, self._slider_stack, self._note, self._picker,
                           self._audio_widget, self._status],
                          layout=W.Layout(width=f"{CONTROLS_PX}px",
                                          min_width=f"{CONTROLS_PX}px"))
        full = W.Layout(width="100%")
        path_controls = W.VBox([
            W.HBox([self._path_from, self._path_to, self._path_kind, self._path_button]),
            W.HBox([self._path_audio_widget, self._play, self._path_position]),
            self._path_status])
        self._widget = W.VBox(
            [W.HBox([controls, W.Box([self._map], layout=W.Layout(flex="1 1 auto",
                                                                  min_width="0"))],
                    layout=full),
             W.Box([self._spectrum_view], layout=full),
             path_controls,
             W.Box([self._heat], layout=full)], layout=full)

    def _set_silently(self, widget, name: str, value) -> None:
        self._silent = True
        try:
            setattr(widget, name, value)
        finally:
            self._silent = False

    def _on_axes(self, change) -> None:
        """PCA <-> latent sliders: show the other set, brought up to the cursor first (no
        redraw, no sound: nothing moved)."""
        self._sync_controls(self.current_pca, axes=change["new"])
        self._slider_stack.selected_index = 0 if change["new"] == "pca" else 1

    def _sync_controls(self, p, axes: str | None = None) -> None:
        """Show the cursor on the sliders shown (``axes``: the toggle's) and the picker.

        A slider is written only when its value is more than half a step from the
        cursor: the slider being moved keeps the user's value (no stale write-back).
        Values written are on the slider's grid (``min + k step``, clamped), which the
        browser's rounding leaves alone, and are remembered so that an echo of one of
        them, even a late one, is not taken for a move. The hidden set is brought up to
        date when it is shown (16 latent sliders written at every PCA move would be 16
        more messages to the browser in the way of the next one)."""
        axes = axes or self._axes.value
        shown = ((self._pca_sliders, p) if axes == "pca" else (self._latent_sliders, self._z),)
        self._silent = True
        try:
            for sliders, values in shown:
                for s, v in zip(sliders, values):
                    if abs(float(np.clip(v, s.min, s.max)) - s.value) > s.step / 2:
                        s.value = _on_grid(v, s.min, s.max, s.step)
                        s._vts_shown.append(s.value)
            if self._picker.value != (self._instrument or ""):
                self._picker.value = self._instrument or ""
        finally:
            self._silent = False

    def _on_slider(self, kind: str, i: int, change) -> None:
        if self._silent:
            return
        slider = (self._pca_sliders if kind == "pca" else self._latent_sliders)[i]
        new = float(change["new"])
        if any(abs(new - v) <= slider.step / 2 + 1e-12 for v in slider._vts_shown):
            return                   # the browser's rounding of what the kernel showed
        slider._vts_shown.clear()
        slider._vts_shown.append(new)
        self._instrument = None
        if kind == "pca":
            p = self.current_pca
            p[i] = new
            self._z = self._pca_move(p)
        else:
            z = self._z.copy()
            z[i] = new
            self._z = z
        self._request_refresh()

    def _on_pick(self, change) -> None:
        if self._silent or not change["new"]:
            return
        self.select_instrument(change["new"])

    def _ipython_display_(self):    # pragma: no cover - display hook in a notebook
        display(self._widget)


def _on_grid(value: float, lo: float, hi: float, step: float) -> float:
    """``value`` clamped to [lo, hi] and rounded to the slider grid ``lo + k step``."""
    k = round((float(np.clip(value, lo, hi)) - lo) / step)
    return float(min(hi, lo + k * step))


def _box(values: np.ndarray, n: int) -> np.ndarray:
    """``(n, 2)`` [1st, 99th] percentile of each column (a unit box without data)."""
    if len(values) == 0:
        return np.tile([-1.0, 1.0], (n, 1))
    lo, hi = np.percentile(values, PERCENTILES, axis=0)
    wide = np.maximum(hi - lo, 1e-3)
    mid = (lo + hi) / 2
    return np.stack([np.minimum(lo, mid - wide / 2), np.maximum(hi, mid + wide / 2)], axis=1)
