"""Benchmark of the spectral transforms on the mirror corpus -> results/transforms.json.

Usage::

    .venv/bin/python benchmarks/bench_transforms.py [--limit N] [--jobs J]

1. Decode every note of the corpus (Philharmonia MP3 + tonejs FLAC of the
   mirror; ``vts.data.load_catalog()`` when available, else a glob) and cut it
   to its analysis window (:func:`vts.dsp.analysis_window`, 2 s).
2. Per transform, time the sustained-frame extraction (magnitude + frame
   selection, what :mod:`vts.features` does per note) over the decoded corpus
   with ``J`` worker processes (default: every core), plus a single-process
   rate on a subset; ``librosa.cqt`` (same bins: 64 Hz, 24 bins/octave, 168
   bins, hop 64 samples) on the same audio, through the same harness, is the peer.
3. Fast Griffin-Lim spectral convergence per transform after 10/50/100
   iterations on a real note.
4. Peak memory: ``ru_maxrss`` of this process and of its workers, and the
   ``tracemalloc`` peak of one note's extraction per transform.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from vts import config
from vts import dsp as T
from vts.io import load_audio, write_json

RESULT = HERE / "results" / "transforms.json"
CHUNK = 64
GL_ITERATIONS = (10, 50, 100)
GL_NOTE = "clarinet_A4_1_forte_normal.mp3"
TARGET_SECONDS = 90.0
LIBROSA_HOP = 64


def corpus_paths() -> list[str]:
    """Audio files of the mirror corpus (Philharmonia + tonejs)."""
    try:
        from vts.data import load_catalog

        catalog = load_catalog(progress=False)
        if "source" in catalog.columns:
            catalog = catalog[catalog["source"].isin(["philharmonia", "tonejs"])]
        paths = catalog["path"].astype(str).tolist()
        if paths:
            return paths
    except Exception as error:  # noqa: BLE001 - fall back to the files themselves
        print(f"vts.data.load_catalog unavailable ({error}); globbing the mirror", flush=True)
    root = config.MIRROR_DIR
    return sorted(str(p) for p in (*root.glob("philharmonia/*/*.mp3"), *root.glob("tonejs/*/*.flac")))


def subset(paths: list[str], limit: int | None) -> list[str]:
    if not limit or limit >= len(paths):
        return paths
    keep = np.unique(np.linspace(0, len(paths) - 1, limit).round().astype(int))
    return [paths[i] for i in keep]


def decode_chunk(paths: list[str]) -> tuple[np.ndarray, list[bool]]:
    """Analysis windows (float32, (n, window)) of ``paths``; failed files give zeros."""
    n = round(T.ANALYSIS_SECONDS * config.SAMPLE_RATE)
    out = np.zeros((len(paths), n), dtype=np.float32)
    ok = []
    for i, path in enumerate(paths):
        try:
            out[i] = T.analysis_window(load_audio(path))
            ok.append(True)
        except Exception:  # noqa: BLE001
            ok.append(False)
    return out, ok


def _with_rss(frames: np.ndarray) -> tuple[np.ndarray, float]:
    return frames, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB -> MB


def extract_chunk(block: np.ndarray, transform: str) -> tuple[np.ndarray, float]:
    """Sustained frames of a block of analysis windows, (n, n_bins) float32, and the peak RSS (MB)."""
    tr = T.get_transform(transform)
    frames = np.empty((block.shape[0], tr.n_bins), dtype=np.float32)
    for i, x in enumerate(block):
        mag = tr.magnitude(x)
        frames[i] = mag[:, T.sustained_frame_index(mag, tr.hop_seconds)]
    return _with_rss(frames)


def librosa_chunk(block: np.ndarray, _: str = "") -> tuple[np.ndarray, float]:
    """The peer: |librosa.cqt| on the same bins, then the same frame selection."""
    import librosa

    hop_s = LIBROSA_HOP / config.SAMPLE_RATE
    frames = np.empty((block.shape[0], 168), dtype=np.float32)
    for i, x in enumerate(block):
        mag = np.abs(librosa.cqt(x.astype(np.float64), sr=config.SAMPLE_RATE, hop_length=LIBROSA_HOP,
                                 fmin=config.FMIN_HZ, n_bins=168,
                                 bins_per_octave=config.CQT_BINS_PER_OCTAVE))
        frames[i] = mag[:, T.sustained_frame_index(mag, hop_s)]
    return _with_rss(frames)


def timed_parallel(function, audio: np.ndarray, name: str, n_jobs: int) -> dict:
    from joblib import Parallel, delayed

    blocks = [audio[i:i + CHUNK] for i in range(0, audio.shape[0], CHUNK)]
    start = time.perf_counter()
    if n_jobs == 1:
        results = [function(block, name) for block in blocks]
    else:
        results = Parallel(n_jobs=n_jobs)(delayed(function)(block, name) for block in blocks)
    seconds = time.perf_counter() - start
    frames = np.concatenate([f for f, _ in results])
    assert frames.shape[0] == audio.shape[0] and np.all(np.isfinite(frames))
    return {"notes": int(audio.shape[0]), "seconds": round(seconds, 3), "n_jobs": n_jobs,
            "notes_per_second": round(audio.shape[0] / seconds, 1),
            "peak_worker_rss_mb": round(max(rss for _, rss in results), 1)}


def timed_serial(function, audio: np.ndarray, name: str, n_notes: int) -> dict:
    block = audio[:n_notes]
    function(block[:1], name)  # warm-up: builds (and caches) the NSGT object
    start = time.perf_counter()
    function(block, name)
    seconds = time.perf_counter() - start
    return {"notes": int(block.shape[0]), "seconds": round(seconds, 3),
            "notes_per_second": round(block.shape[0] / seconds, 1)}


def tracemalloc_peak_mb(function, note: np.ndarray, name: str) -> float:
    function(note[None], name)
    tracemalloc.start()
    function(note[None], name)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(peak / 2**20, 2)


def griffin_lim_convergence(note: np.ndarray) -> dict:
    out = {}
    for name in T.TRANSFORM_NAMES:
        tr = T.get_transform(name)
        target = tr.magnitude(note)
        row = {"n_frames": int(target.shape[1])}
        for n_iter in GL_ITERATIONS:
            start = time.perf_counter()
            audio = T.griffin_lim(target, tr, n_iter=n_iter, length=note.size)
            row[f"sc_{n_iter}"] = round(T.spectral_convergence(target, audio, tr), 4)
            row[f"seconds_{n_iter}"] = round(time.perf_counter() - start, 2)
        out[name] = row
        print(f"  GL {name}: " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return out


def max_rss_mb(who: int) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux: kB


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="notes (evenly spread); all by default")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--serial-notes", type=int, default=300,
                        help="notes for the single-process rate")
    parser.add_argument("--skip-librosa", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    n_jobs = args.jobs or len(os.sched_getaffinity(0))

    all_paths = corpus_paths()
    paths = subset(all_paths, args.limit)
    print(f"corpus: {len(paths)} of {len(all_paths)} notes; {n_jobs} worker(s)", flush=True)

    from joblib import Parallel, delayed

    start = time.perf_counter()
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    decoded = Parallel(n_jobs=n_jobs)(delayed(decode_chunk)(c) for c in chunks)
    ok = np.concatenate([flags for _, flags in decoded])
    audio = np.concatenate([block for block, _ in decoded])
    del decoded  # keep one copy of the decoded corpus in memory
    decode_seconds = time.perf_counter() - start
    if not ok.all():
        audio = audio[ok]
    print(f"decoded {audio.shape[0]} notes ({int((~ok).sum())} failed) in {decode_seconds:.1f} s "
          f"-> {audio.nbytes / 2**20:.0f} MB", flush=True)

    results = {}
    for name in T.TRANSFORM_NAMES:
        tr = T.get_transform(name)
        row = {"n_bins": tr.n_bins, "hop_ms": round(1e3 * tr.hop_seconds, 3),
               "frames_per_note": tr.n_frames(audio.shape[1])}
        row["parallel"] = timed_parallel(extract_chunk, audio, name, n_jobs)
        row["serial"] = timed_serial(extract_chunk, audio, name, args.serial_notes)
        row["tracemalloc_peak_mb_per_note"] = tracemalloc_peak_mb(extract_chunk, audio[0], name)
        row["full_corpus_seconds_estimate"] = round(
            len(all_paths) / row["parallel"]["notes_per_second"], 1)
        results[name] = row
        print(f"  {name}: {row['parallel']['notes_per_second']} notes/s with {n_jobs} job(s), "
              f"{row['serial']['notes_per_second']} notes/s in one process, "
              f"full corpus ~{row['full_corpus_seconds_estimate']} s", flush=True)

    peer = None
    if not args.skip_librosa:
        import librosa

        peer = {"function": f"librosa.cqt (librosa {librosa.__version__}), hop {LIBROSA_HOP} "
                            f"samples, fmin {config.FMIN_HZ} Hz, 168 bins, 24 bins/octave"}
        peer["parallel"] = timed_parallel(librosa_chunk, audio, "", n_jobs)
        peer["serial"] = timed_serial(librosa_chunk, audio, "", min(args.serial_notes, 100))
        peer["tracemalloc_peak_mb_per_note"] = tracemalloc_peak_mb(librosa_chunk, audio[0], "")
        peer["full_corpus_seconds_estimate"] = round(
            len(all_paths) / peer["parallel"]["notes_per_second"], 1)
        print(f"  librosa.cqt: {peer['parallel']['notes_per_second']} notes/s with {n_jobs} job(s), "
              f"{peer['serial']['notes_per_second']} notes/s in one process", flush=True)

    gl_path = next((p for p in all_paths if Path(p).name == GL_NOTE), all_paths[0])
    gl_note = T.analysis_window(load_audio(gl_path))
    print(f"Griffin-Lim on {Path(gl_path).name} ({gl_note.size / config.SAMPLE_RATE:.1f} s)", flush=True)
    gl = griffin_lim_convergence(gl_note)

    report = {
        "machine": {"cores": len(os.sched_getaffinity(0)), "platform": platform.platform(),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "note": "shared machine: other jobs may have run concurrently"},
        "corpus": {"notes_in_corpus": len(all_paths), "notes_benchmarked": int(audio.shape[0]),
                   "decode_failed": int((~ok).sum()), "decode_seconds": round(decode_seconds, 2),
                   "analysis_seconds_per_note": T.ANALYSIS_SECONDS,
                   "decoded_mb": round(audio.nbytes / 2**20, 1)},
        "feature_extraction": results,
        "peer_librosa_cqt": peer,
        "griffin_lim": {"note": Path(gl_path).name, "momentum": 0.99, "seed": config.DEFAULT_SEED,
                        "transforms": gl},
        "peak_memory_mb": {"this_process_rss": max_rss_mb(resource.RUSAGE_SELF),
                           "largest_worker_rss": max(
                               [r["parallel"]["peak_worker_rss_mb"] for r in results.values()]
                               + ([peer["parallel"]["peak_worker_rss_mb"]] if peer else []))},
        "target": {"seconds_per_transform_full_corpus": TARGET_SECONDS,
                   "met": {name: row["full_corpus_seconds_estimate"] <= TARGET_SECONDS
                           for name, row in results.items()}},
        "args": {"limit": args.limit, "jobs": n_jobs, "serial_notes": args.serial_notes},
    }
    write_json(args.output, report)
    print(f"wrote {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
