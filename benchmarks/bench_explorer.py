"""Latency and quality of the explorer's audio: slider change -> new spectrum and audio ready.

Writes ``benchmarks/results/explorer.json`` (atomically)::

    {"machine": {...}, "space": {...}, "seconds": 1.0, "target_ms": 150,
     "latency_ms": {"fast": {"median", "p90", "max", "n", "breakdown_median"},
                    "griffin-lim-8": {...}, "griffin-lim-32": {...}},
     "quality": {"fast": {"spectral_convergence": {"median", "max"},
                          "log_spectral_distance_db": {"median", "max"}, "n_points"}, ...},
     "explorer_init_seconds": {...}}

Latency: one :class:`vts.app.explorer.Explorer` per reconstruction; the value of
the PC1 (or PC2, PC3 in turn) slider is changed as the browser would and the
wall time until the observer returns is taken (decode, audio, WAV encoding,
plot and widget updates; the comm round trip to a browser is not included).
``griffin-lim-N`` uses :func:`vts.dsp.render_frame` with N iterations.

Quality: the decoded magnitude at every instrument centroid and at random PCA
points is rendered (1 s) by each reconstruction, re-analysed by the transform,
and compared after a least-squares gain (:func:`vts.dsp.render.spectrum_distance`).

Space: ``--model DIR``, else the showcase space ``models/nsgt-erb-l2`` when trained, else
a stand-in trained for two epochs with the ``default`` profile's network size
on the cached ``nsgt-erb`` features (latency barely depends on the weights;
its decoded spectra are smoother than a trained model's).

In the browser (``--browser``; needs ``tools/install-browser.sh``): JupyterLab runs
``notebooks/10_explorer.ipynb`` on the space, headless Chromium clicks the PC1
slider's track at random places, and the page itself times each click, from the
``pointerdown`` to the spectrum redrawn (plotly's restyle done; and the next
animation frame, when it is on screen): the whole round trip, browser -> kernel
(decode, sound, messages) -> browser. Writes ``benchmarks/results/explorer_browser.json``::

    {"clicks": n, "target_ms": 150, "click_to_spectrum_ms": {"median", "p90", "max", ...},
     "click_to_next_frame_ms": {...}, "click_to_spectrum_received_ms": {...},
     "kernel_redraws": n, "kernel_redraw_ms": {...}, "space": {...}, "machine": {...}}

(``received``: the new spectrum reached the page; ``kernel_redraw_ms``: the kernel's
part, :attr:`vts.app.explorer.Explorer.last_timings`.)

Usage: ``python benchmarks/bench_explorer.py [--quick] [--model DIR] [--browser]``
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vts import config
from vts.io import write_json
from vts.plan import model_name
from vts.profiles import PROFILES

RESULTS = Path(__file__).resolve().parent / "results" / "explorer.json"
BROWSER_RESULTS = RESULTS.with_name("explorer_browser.json")
ROOT = Path(__file__).resolve().parents[1]

#: JavaScript: time every click from pointerdown to the spectrum view's next redraw.
WATCH = """() => {
  const div = document.querySelector('.vts-spectrum');
  window.__vtsLat = []; window.__vtsFrame = []; window.__vtsRecv = []; let t0 = null, d0 = 0;
  document.addEventListener('pointerdown', () => {
    t0 = performance.now(); d0 = Number(div.dataset.draws || 0);
  }, true);
  new MutationObserver(() => {
    if (t0 === null || Number(div.dataset.draws || 0) <= d0) return;
    const start = t0;
    t0 = null;
    window.__vtsLat.push(Number(div.dataset.drawn) - start);
    window.__vtsRecv.push(Number(div.dataset.received) - start);
    requestAnimationFrame(() => window.__vtsFrame.push(performance.now() - start));
  }).observe(div, {attributes: true, attributeFilter: ['data-draws']});
}"""
TARGET_MS = 150.0
SECONDS = 1.0


def _space(model: str | None):
    from vts.space import TimbreSpace

    if model:
        return TimbreSpace.load(model), "given"
    profile = PROFILES["default"]
    showcase = model_name(config.DEFAULT_TRANSFORM, profile.showcase)
    trained = config.models_dir() / showcase
    if (trained / "config.json").is_file():
        return TimbreSpace.load(trained), "trained"
    from vts.features import load_features
    from vts.train import train_space

    out = config.build_dir() / "bench-explorer" / showcase
    cfg = dataclasses.replace(profile.config(profile.showcase), stage1_epochs=1,
                              stage2_epochs=1, iwae_samples=8, profile="bench-standin")
    print(f"no trained space; stand-in (trained unless current) in {out}", flush=True)
    return train_space(load_features(config.DEFAULT_TRANSFORM), None, cfg, out, True,
                       progress=True), \
        "stand-in (2 epochs)"


def _summary(times_ms: list[float]) -> dict:
    ordered = sorted(times_ms)
    return {"median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
            "max": ordered[-1], "min": ordered[0], "n": len(ordered)}


def bench_latency(space, reconstruction: str, n_changes: int, n_iter: int = 32) -> tuple[dict, float]:
    from vts.app.explorer import Explorer

    t0 = time.perf_counter()
    explorer = Explorer(space, reconstruction=reconstruction, seconds=SECONDS, n_iter=n_iter)
    init_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    sliders = explorer._pca_sliders            # what the browser moves
    times, breakdown = [], []
    for k in range(n_changes + 2):
        slider = sliders[k % len(sliders)]
        value = float(rng.uniform(0.8 * slider.min, 0.8 * slider.max))
        t = time.perf_counter()
        slider.value = value                   # observe('value') -> synchronous update
        elapsed = 1e3 * (time.perf_counter() - t)
        if k >= 2:                             # first two: warm-up
            times.append(elapsed)
            breakdown.append(explorer.last_timings)
    out = _summary(times)
    out["breakdown_median"] = {key: statistics.median(b[key] for b in breakdown)
                               for key in breakdown[0]}
    return out, init_s


def quality_points(space, n_random: int, seed: int = 0) -> np.ndarray:
    """Codes: every instrument centroid, then random points of the PCA box of the corpus."""
    centroids = space.centroids.to_numpy(np.float32)
    xyz = np.asarray(space.to_pca(space.codes("train")))
    rng = np.random.default_rng(seed)
    random = rng.uniform(xyz.min(axis=0), xyz.max(axis=0), size=(n_random, xyz.shape[1]))
    return np.concatenate([centroids, np.asarray(space.from_pca(random), np.float32)])


def bench_quality(space, codes: np.ndarray, methods: dict) -> dict:
    from vts.dsp.render import spectrum_distance

    mags = np.asarray(space.decode_magnitude(codes), dtype=np.float64)
    result = {}
    for name, render in methods.items():
        sc, lsd, ms = [], [], []
        for mag in mags:
            t = time.perf_counter()
            audio = render(mag)
            ms.append(1e3 * (time.perf_counter() - t))
            d = spectrum_distance(audio, mag, space.transform)
            sc.append(d["spectral_convergence"])
            lsd.append(d["log_spectral_distance_db"])
        result[name] = {
            "spectral_convergence": {"median": statistics.median(sc), "max": max(sc)},
            "log_spectral_distance_db": {"median": statistics.median(lsd), "max": max(lsd)},
            "render_ms_median": statistics.median(ms), "n_points": len(mags)}
    return result


def run(model: str | None, quick: bool) -> dict:
    from vts import dsp as transforms
    from vts.dsp.render import _RESPONSES, FastRenderer, band_response

    space, origin = _space(model)
    tr = space.transform
    _RESPONSES.clear()
    t = time.perf_counter()
    band_response(tr, tr.sample_rate)
    response_s = time.perf_counter() - t
    n_fast, n_gl = (20, 4) if quick else (60, 12)
    latency, init = {}, {}
    latency["fast"], init["fast"] = bench_latency(space, "fast", n_fast)
    for n_iter in (8, 32):
        key = f"griffin-lim-{n_iter}"
        latency[key], init[key] = bench_latency(space, "griffin-lim", n_gl, n_iter)

    renderer = FastRenderer(tr, tr.sample_rate)
    methods = {"fast": lambda m: renderer.render(m, SECONDS)}
    for n_iter in ((8, 32) if quick else (8, 32, 100)):
        methods[f"griffin-lim-{n_iter}"] = (
            lambda m, n=n_iter: transforms.render_frame(m, tr, SECONDS, n_iter=n))
    codes = quality_points(space, 2 if quick else 8)
    quality = bench_quality(space, codes, methods)
    return {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "python": sys.version.split()[0], "torch": torch.__version__,
                    "numpy": np.__version__, "torch_threads": torch.get_num_threads()},
        "space": {"directory": str(space.directory), "origin": origin,
                  "transform": space.transform_name, "n_bins": int(space.n_bins),
                  "latent_dim": int(space.latent_dim),
                  "hidden_units": int(space.model.config.hidden_units),
                  "n_hidden_layers": int(space.model.config.n_hidden_layers)},
        "seconds": SECONDS, "target_ms": TARGET_MS,
        "latency_ms": latency,
        "meets_target": {k: v["median"] <= TARGET_MS for k, v in latency.items()},
        "quality": quality,
        "explorer_init_seconds": init, "band_response_seconds": response_s,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def bench_browser(model: str | None, n_clicks: int) -> dict:
    """Click -> redrawn spectrum in headless Chromium driving JupyterLab (see the docstring)."""
    import subprocess
    import tempfile

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser import CHROMIUM, explorer_notebook, jupyterlab, open_explorer, probe

    space, origin = _space(model)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-explorer-") as tmp:
        scratch = Path(tmp)
        (scratch / "lab").mkdir()
        notebook = explorer_notebook(scratch / "lab", space.directory)
        with jupyterlab(scratch / "lab", scratch) as (base, token), sync_playwright() as p:
            context, page = open_explorer(p, (base, token, notebook.name), scratch / "chromium")
            try:
                page.evaluate(WATCH)
                start = probe(page)["counts"]["redraws"]
                track = page.locator(".widget-slider .noUi-target").first      # PC1
                handle = page.locator(".widget-slider .noUi-handle").first
                track.scroll_into_view_if_needed()
                box = track.bounding_box()
                for k in range(n_clicks + 2):                                # 2 warm-up
                    at = handle.bounding_box()
                    while True:           # on the track, off the handle (a click there is no move)
                        x = box["x"] + box["width"] * float(rng.uniform(0.05, 0.95))
                        if abs(x - (at["x"] + at["width"] / 2)) > at["width"]:
                            break
                    page.mouse.click(x, box["y"] + box["height"] / 2)
                    page.wait_for_function("(n) => window.__vtsFrame.length > n", arg=k,
                                           timeout=20_000)
                    page.wait_for_timeout(250)
                lat = page.evaluate("() => window.__vtsLat")[2:]
                frame = page.evaluate("() => window.__vtsFrame")[2:]
                received = page.evaluate("() => window.__vtsRecv")[2:]
                state = probe(page)
                redraws = state["counts"]["redraws"] - start
            finally:
                context.close()
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                              check=False).stdout
    return {"clicks": n_clicks, "target_ms": TARGET_MS,
            "click_to_spectrum_ms": _summary(lat), "click_to_next_frame_ms": _summary(frame),
            "click_to_spectrum_received_ms": _summary(received),
            "meets_target": statistics.median(lat) <= TARGET_MS, "kernel_redraws": redraws,
            "kernel_redraw_ms": _summary(state["timings"][-n_clicks:]),
            "space": {"directory": str(space.directory), "origin": origin,
                      "transform": space.transform_name, "latent_dim": int(space.latent_dim)},
            "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                        "chromium": chromium.strip(), "cpus": os.cpu_count()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and points")
    parser.add_argument("--model", default=None, help="timbre-space directory")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--browser", action="store_true",
                        help="click -> spectrum latency in headless Chromium + JupyterLab")
    args = parser.parse_args(argv)
    if args.browser:
        result = bench_browser(args.model, 10 if args.quick else 30)
        out = args.out or BROWSER_RESULTS
        write_json(out, result)
        print(f"click -> spectrum: median {result['click_to_spectrum_ms']['median']:.0f} ms, "
              f"p90 {result['click_to_spectrum_ms']['p90']:.0f} ms (next frame: median "
              f"{result['click_to_next_frame_ms']['median']:.0f} ms); wrote {out}")
        return 0
    args.out = args.out or RESULTS
    result = run(args.model, args.quick)
    write_json(args.out, result)
    print(json.dumps({k: round(v["median"], 1) for k, v in result["latency_ms"].items()}),
          "ms median;",
          json.dumps({k: round(v["spectral_convergence"]["median"], 4)
                      for k, v in result["quality"].items()}), "spectral convergence")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
