"""Peak memory of long renders -> results/render_memory.json.

Usage::

    .venv/bin/python benchmarks/bench_render_memory.py [--seconds 60 600] [--n-iter 4]

Griffin-Lim through an NSGT holds the coefficients of the whole sound, so its
memory grows with the duration; :data:`vts.config.MAX_GRIFFIN_LIM_SECONDS`
is the longest render :func:`vts.dsp.render` accepts, and additive rendering
(``method="fast"``) is the way to longer sounds. This measures both, each
render in a fresh subprocess (nothing is trained): the real ``nsgt-erb``
transform, one synthetic magnitude frame (a harmonic spectrum of 220 Hz with a
-6 dB/octave slope) held for ``seconds``.

Per render: ``ru_maxrss`` of the subprocess before and after the render (MiB;
the peak resident memory of the whole process), the ``tracemalloc`` peak of the
render (MiB; what numpy allocated), wall time, and the peak per output second.
Memory does not depend on the number of iterations beyond the first (the
iteration keeps three coefficient arrays), so a few iterations suffice
(``--n-iter``, default 4; a full render uses
:data:`vts.config.GRIFFIN_LIM_ITERATIONS`). It also checks that a render just
above the limit is refused at once, without allocating.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

RESULT = HERE / "results" / "render_memory.json"
TRANSFORM = "nsgt-erb"

#: Run in a fresh interpreter: render, then print one JSON line of measurements.
CHILD = r"""
import json, resource, sys, time, tracemalloc
import numpy as np
from vts.dsp import get_transform
from vts.dsp.render import render

seconds, method, n_iter, transform = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
tr = get_transform(transform)
f = np.asarray(tr.frequencies, dtype=np.float64)
frame = np.zeros(tr.n_bins)
for k in range(1, 40):                         # partials of 220 Hz, -6 dB/octave
    frame += np.exp(-0.5 * ((f - 220.0 * k) / (0.03 * 220.0 * k)) ** 2) / k
frame += 1e-4
render(frame, tr, 0.2, method=method, n_iter=1)   # warm-up: transform tables, calibration
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracemalloc.start()
t0 = time.perf_counter()
try:
    audio = render(frame, tr, seconds, method=method, n_iter=n_iter)
    refused = None
except ValueError as error:
    audio, refused = None, str(error)
elapsed = time.perf_counter() - t0
_, traced = tracemalloc.get_traced_memory()
tracemalloc.stop()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({
    "seconds": seconds, "method": method, "n_iter": n_iter, "transform": transform,
    "refused": refused, "samples": None if audio is None else int(audio.shape[0]),
    "finite": None if audio is None else bool(np.isfinite(audio).all()),
    "rss_before_mib": round(before, 1), "rss_peak_mib": round(after, 1),
    "rss_growth_mib": round(after - before, 1), "tracemalloc_peak_mib": round(traced / 2**20, 1),
    "wall_s": round(elapsed, 2),
    "peak_mib_per_output_second": round(traced / 2**20 / seconds, 2),
}))
"""


def measure(seconds: float, method: str, n_iter: int) -> dict:
    """One render in a subprocess; its measurements."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(seconds), method, str(n_iter),
                          TRANSFORM], capture_output=True, text=True, check=False,
                         env={"PYTHONPATH": str(HERE.parent / "src"),
                              "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    if out.returncode != 0:
        return {"seconds": seconds, "method": method, "error": out.stderr.strip()[-2000:],
                "returncode": out.returncode}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0],
                        help="Griffin-Lim durations (s; default 60 600)")
    parser.add_argument("--fast-seconds", type=float, nargs="+", default=[600.0, 3600.0],
                        help="additive-rendering durations (s; default 600 3600)")
    parser.add_argument("--n-iter", type=int, default=4, help="Griffin-Lim iterations")
    args, _ = parser.parse_known_args(argv)   # benchmarks/run.py passes its own arguments

    from vts.config import MAX_FAST_SECONDS, MAX_GRIFFIN_LIM_SECONDS

    runs = []
    for seconds in args.seconds:
        runs.append(measure(seconds, "griffin-lim", args.n_iter))
        print(json.dumps(runs[-1]), flush=True)
    for seconds in args.fast_seconds:
        runs.append(measure(seconds, "fast", 0))
        print(json.dumps(runs[-1]), flush=True)
    above = measure(MAX_GRIFFIN_LIM_SECONDS + 1, "griffin-lim", args.n_iter)
    print(json.dumps(above), flush=True)
    result = {
        "transform": TRANSFORM, "max_griffin_lim_seconds": MAX_GRIFFIN_LIM_SECONDS,
        "max_fast_seconds": MAX_FAST_SECONDS, "n_iter": args.n_iter,
        "python": platform.python_version(), "machine": platform.machine(),
        "renders": runs, "above_limit": above,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULT}")
    failed = [r for r in runs if "error" in r or r.get("refused")]
    return 1 if failed or not above.get("refused") else 0


if __name__ == "__main__":
    sys.exit(main())
