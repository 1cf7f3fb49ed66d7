"""Training throughput and encode / decode latency of the VAE on this machine.

Writes ``benchmarks/results/train.json`` (atomically)::

    {"machine": {...}, "input_dim": 168,
     "train": {"default": {"samples_per_s": ..., ...}, "paper": {...}},
     "latency_ms": {"default": {"encode": ..., "decode": ...}, "paper": {...}}}

Training samples/second are measured on a few timed optimiser steps (after
warm-up, median step time) on random frames, for the model sizes of the
``default`` and ``paper`` profiles: ``stage1`` = ELBO step; ``stage2`` = the
step of a regularised model in stage 2 (ELBO plus R on the profile's
class-balanced regulariser batch of 12 x ``reg_notes_per_class`` notes, or on
the minibatch when that is 0). Samples = frames of the ELBO minibatch;
``*_epoch_seconds`` extrapolates to the 5,869 training frames of the corpus.
``samples_per_s`` repeats the stage-1 figure. Latencies are for one frame
(batch of 1), median of repeated calls, in milliseconds. ``side_by_side``
compares, for the default size, the stage-1 throughput of one process on every
core with that of one process per core on one thread each, all training at once
(what ``vts train`` does on the CPU): samples/s summed over the processes.

Usage: ``python benchmarks/bench_train.py [--quick]``
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before torch loads OpenMP

import numpy as np
import torch

from vts import config
from vts.config import available_cores
from vts.io import write_json
from vts.model import VAE
from vts.profiles import get_profile
from vts.regularizers import regularizer_from_points

RESULTS = Path(__file__).resolve().parent / "results" / "train.json"
N_CLASSES = 12
#: Training frames of the real corpus (90 % of 6,522 notes).
N_TRAIN = 5869


def _train_step(model, optimizer, x, reg_x, target, regularized, beta=2.0, alpha=0.1):
    out = model(x)
    loss = -model.log_likelihood(x, out.x_mean).mean() + \
        beta * model.kl_divergence(out.mu, out.logvar).mean()
    if regularized:
        if reg_x is None:   # R on the minibatch's class centroids (paper profile)
            n = (len(x) // N_CLASSES) * N_CLASSES
            mu = out.mu[:n]
        else:               # class-balanced regulariser batch
            mu, _ = model.encode(reg_x)
        centroids = mu.view(N_CLASSES, -1, mu.shape[1]).mean(1)
        loss = loss + alpha * regularizer_from_points(centroids, target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def bench_training(profile: str, input_dim: int, steps: int, warmup: int = 3,
                   n_train: int = N_TRAIN) -> dict:
    cfg = get_profile(profile)
    torch.manual_seed(0)
    model = VAE(cfg.model_config(input_dim))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x = torch.randn(cfg.batch_size, input_dim)
    k = cfg.reg_notes_per_class
    reg_x = torch.randn(N_CLASSES * k, input_dim) if k > 0 else None
    target = torch.randn(N_CLASSES, cfg.target_components)
    result = {"hidden_units": cfg.hidden_units, "n_hidden_layers": cfg.n_hidden_layers,
              "latent_dim": cfg.latent_dim, "batch_size": cfg.batch_size,
              "reg_notes_per_class": k,
              "n_parameters": int(sum(p.numel() for p in model.parameters())),
              "timed_steps": steps}
    for stage, regularized in (("stage1", False), ("stage2", True)):
        for _ in range(warmup):
            _train_step(model, optimizer, x, reg_x, target, regularized)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            _train_step(model, optimizer, x, reg_x, target, regularized)
            times.append(time.perf_counter() - t0)
        step_s = statistics.median(times)
        result[f"{stage}_step_seconds_median"] = step_s
        result[f"{stage}_samples_per_s"] = cfg.batch_size / step_s
        result[f"{stage}_epoch_seconds"] = n_train / (cfg.batch_size / step_s)
    result["samples_per_s"] = result["stage1_samples_per_s"]
    return result


def _one_thread_steps(args: tuple[str, int, int]) -> tuple[float, float]:
    """Wall-clock start and end (s) of ``steps`` stage-1 steps of ``profile`` on one
    thread (a worker)."""
    profile, input_dim, steps = args
    torch.set_num_threads(1)
    cfg = get_profile(profile)
    torch.manual_seed(0)
    model = VAE(cfg.model_config(input_dim))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x = torch.randn(cfg.batch_size, input_dim)
    for _ in range(3):
        _train_step(model, optimizer, x, None, None, False)
    t0 = time.time()
    for _ in range(steps):
        _train_step(model, optimizer, x, None, None, False)
    return t0, time.time()


def bench_side_by_side(profile: str, input_dim: int, steps: int, processes: int) -> dict:
    """Stage-1 samples/s of ``processes`` one-thread trainings at once: all their
    samples over the wall time from the first start to the last end (so windows
    that do not overlap are not counted as parallel)."""
    batch = get_profile(profile).batch_size
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        windows = pool.map(_one_thread_steps, [(profile, input_dim, steps)] * processes)
    wall = max(end for _, end in windows) - min(start for start, _ in windows)
    return {"processes": processes, "threads_each": 1, "timed_steps": steps,
            "wall_seconds": wall, "samples_per_s": processes * steps * batch / wall}


@torch.no_grad()
def bench_latency(profile: str, input_dim: int, repeats: int) -> dict:
    cfg = get_profile(profile)
    torch.manual_seed(0)
    model = VAE(cfg.model_config(input_dim)).eval()
    x = torch.randn(1, input_dim)
    z = torch.randn(1, cfg.latent_dim)

    def median_ms(fn):
        for _ in range(5):
            fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 1000 * statistics.median(times)

    return {"encode": median_ms(lambda: model.encode(x)),
            "decode": median_ms(lambda: model.decode(z))}


def run(quick: bool = False, input_dim: int = config.ERB_BINS) -> dict:
    threads = available_cores()
    torch.set_num_threads(threads)
    steps = {"smoke": 20, "default": 10 if quick else 30, "paper": 3 if quick else 10}
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "python": sys.version.split()[0], "torch": torch.__version__,
                    "numpy": np.__version__, "torch_threads": threads},
        "input_dim": input_dim,
        "train": {p: bench_training(p, input_dim, steps[p]) for p in ("default", "paper")},
        "latency_ms": {p: bench_latency(p, input_dim, 50 if quick else 200)
                       for p in ("default", "paper")},
        "side_by_side": {"default": bench_side_by_side("default", input_dim,
                                                       100 if quick else 300, threads)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    write_json(args.out, result)
    print(json.dumps({p: {s: round(r[f"{s}_samples_per_s"]) for s in ("stage1", "stage2")}
                      for p, r in result["train"].items()}))
    side = result["side_by_side"]["default"]
    print(f"default, {side['processes']} processes x 1 thread at once: "
          f"{side['samples_per_s']:.0f} samples/s in all")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
