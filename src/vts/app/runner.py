"""Run the numbered notebooks headless with papermill (``vts figures``).

Every numbered notebook of ``notebooks/`` (``NN_name.ipynb``) runs
with papermill into ``build/notebooks/<name>.ipynb``, with the parameters
``profile``, ``models_dir``, ``figures_dir`` and ``seed`` injected; artefacts
go to ``<figures>/<name>/`` and ``<figures>/README.md`` indexes them (built from
``manifest.json``, see :mod:`vts.app.figures`), and the companion page
``<figures>/index.html`` (:func:`vts.app.page.write_page`, with the executed
notebooks rendered as HTML) presents them; both are rewritten at the end of every
run, ``--only`` included, from everything the manifest holds. A notebook that
raises stops the run with a :class:`NotebookError` naming the notebook and the
failing cell (index and page still list what was made). Notebooks run side by
side, one per CPU core, each kernel on one thread (they are independent; the
manifest takes one update at a time). Executed notebooks keep no
widget state (:func:`strip_widget_state`): a widget is live only in a kernel, and
its saved state (the explorer's: ~10 MB) would only show "model not found".
"""
from __future__ import annotations

import functools
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import papermill as pm
from jupyter_client.kernelspec import NoSuchKernel
from papermill.exceptions import PapermillExecutionError
from tqdm.auto import tqdm

from .. import config
from ..io import run_in_workers, write_json
from ..profiles import get_settings
from . import figures, page

#: Folder of the notebooks of the repository.
NOTEBOOKS_DIR = config.PROJECT_ROOT / "notebooks"
#: Jupyter kernel the notebooks run on (ipykernel's native kernel: the runner's
#: own interpreter, i.e. the project's venv).
KERNEL_NAME = "python3"
#: A notebook file name: two digits, underscore, name.
NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[A-Za-z0-9_]+\.ipynb$")
#: Thread-count variables set to 1 in the kernels of notebooks running side by side.
ONE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class NotebookError(RuntimeError):
    """A notebook failed; the message names the notebook, the cell and the error."""


@dataclass
class NotebookRun:
    name: str
    output: Path
    seconds: float
    artefacts: int


def list_notebooks(notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
                   only: Iterable[str] | str | None = None) -> list[Path]:
    """Numbered notebooks (``NN_name.ipynb``) in order, optionally only some.

    Parameters
    ----------
    only : "01,02", ["01", "07_interpolation_paths"] or None
        Numbers or names to keep.

    Raises
    ------
    ValueError
        If a selection matches no notebook (the available ones are listed).
    """
    folder = Path(notebooks_dir)
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if not found:
        raise FileNotFoundError(f"{folder}: no numbered notebook (NN_name.ipynb)")
    if only is None:
        return found
    wanted = [w.strip() for w in (only.split(",") if isinstance(only, str) else only) if w.strip()]
    chosen = []
    for w in wanted:
        hits = [p for p in found if p.stem == w or p.name[:2] == w.zfill(2)]
        if not hits:
            raise ValueError(f"no notebook matches {w!r}; available: "
                             f"{', '.join(p.stem for p in found)}")
        chosen += [h for h in hits if h not in chosen]
    return sorted(chosen)


def run_notebook(path: str | os.PathLike, output: str | os.PathLike, parameters: Mapping,
                 kernel_name: str = KERNEL_NAME) -> Path:
    """Execute one notebook with papermill; raise :class:`NotebookError` on failure.

    The executed notebook (with the traceback, on failure) is written to ``output``.
    """

    path, output = Path(path), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(path), str(output), parameters=dict(parameters),
                            kernel_name=kernel_name, progress_bar=False, log_output=False,
                            cwd=str(path.parent))
    except PapermillExecutionError as error:
        source = (error.source or "").strip()
        if len(source) > 600:
            source = source[:600] + " ..."
        raise NotebookError(
            f"notebook {path.stem} failed in cell {error.cell_index} (execution count "
            f"{error.exec_count}): {error.ename}: {error.evalue}\n--- cell source ---\n{source}"
            f"\n--- executed notebook with the traceback: {output}") from None
    except NoSuchKernel as error:
        raise NotebookError(f"notebook {path.stem}: no Jupyter kernel named {kernel_name!r} "
                            f"({error}); install ipykernel in this environment "
                            f"({sys.executable} -m pip install ipykernel)") from None
    return output


#: What an executed notebook shows instead of a live widget.
WIDGET_NOTE = ("[interactive widget: live only in a running kernel -- open the notebook in "
               "JupyterLab (make lab) and run it]")


def strip_widget_state(path: str | os.PathLike) -> int:
    """Drop ipywidgets state from an executed notebook (in place); returns outputs changed.

    The notebook-level ``metadata.widgets`` (every widget model's state) goes, and each
    widget view output keeps only a plain-text note (:data:`WIDGET_NOTE`).
    """
    path = Path(path)
    book = nbformat.read(path, as_version=4)
    changed = int(book.metadata.pop("widgets", None) is not None)
    for cell in book.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                output["data"] = {"text/plain": WIDGET_NOTE}
                changed += 1
    if changed:
        nbformat.write(book, path)
    return changed


def _run_one(path: Path, output: Path, parameters: Mapping, kernel_name: str,
             one_thread: bool) -> float:
    """Run one notebook (its widget state stripped); the seconds it took. With
    ``one_thread`` its kernel computes on one thread (it shares the CPU with others)."""
    if one_thread:
        os.environ.update(dict.fromkeys(ONE_THREAD_VARIABLES, "1"))
    t0 = time.perf_counter()
    try:
        run_notebook(path, output, parameters, kernel_name)
    finally:
        if output.is_file():
            strip_widget_state(output)
    return time.perf_counter() - t0


def run_notebooks(profile: str = "default", only=None, output_dir=None, models_dir=None,
                  build_dir=None, seed: int = config.DEFAULT_SEED,
                  notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
                  kernel_name: str = KERNEL_NAME, progress: bool = True,
                  jobs: int | None = None) -> list[NotebookRun]:
    """Run the notebooks, then write the figures index and the page.

    Parameters
    ----------
    profile : str
        Key of :data:`vts.profiles.PROFILES`.
    only : see :func:`list_notebooks`
    output_dir, models_dir, build_dir : path, optional
        Figures root (default :func:`vts.config.figures_dir`), trained spaces
        (:func:`vts.config.models_dir`), and the folder whose ``notebooks/``
        receives the executed notebooks (:func:`vts.config.build_dir`).
    seed : int
    kernel_name : str
        Jupyter kernel (default ``python3``: ipykernel in this interpreter).
    jobs : int, optional
        Notebooks run at once (default: the CPU cores, :func:`vts.config.worker_count`),
        each kernel on one thread when more than one runs. They are independent
        of one another (each writes its own artefacts; the manifest takes one
        update at a time; a notebook that needs a space another is training
        waits for it, :func:`vts.app.notebook.ensure_models`), so the artefacts
        do not depend on ``jobs``.

    Returns
    -------
    list of NotebookRun (name, executed notebook, seconds, artefacts registered),
    in notebook order.

    Raises
    ------
    NotebookError
        For the first notebook that raises; no notebook starts after it (those
        running are let finish), and the index still lists what was made.
    """
    get_settings(profile)
    paths = list_notebooks(notebooks_dir, only)
    jobs = config.worker_count(jobs, len(paths))
    out = Path(output_dir).resolve() if output_dir else config.figures_dir()
    models = Path(models_dir).resolve() if models_dir else config.models_dir()
    executed = (Path(build_dir).resolve() if build_dir else config.build_dir()) / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    figures.set_run_info(out, profile=profile, seed=int(seed))
    params = {"profile": profile, "models_dir": str(models), "figures_dir": str(out),
              "seed": int(seed)}
    runs: dict[str, NotebookRun] = {}
    titles = {p.stem: page.notebook_title(p) or p.stem for p in list_notebooks(notebooks_dir)}
    bar = tqdm(total=len(paths), desc="notebooks", unit="notebook", disable=not progress)

    def finished(path: Path, seconds: float) -> None:
        made = sum(1 for e in figures.read_manifest(out)["artefacts"].values()
                   if e.get("notebook") == path.stem)
        runs[path.stem] = NotebookRun(path.stem, executed / path.name, seconds, made)
        bar.update(1)
        if made == 0:
            print(f"warning: notebook {path.stem} registered no artefact", file=sys.stderr)

    try:
        if jobs == 1:
            for path in paths:
                bar.set_postfix_str(path.stem)
                finished(path, _run_one(path, executed / path.name, params, kernel_name, False))
        else:
            _run_side_by_side(paths, executed, params, kernel_name, jobs, bar, finished)
    finally:
        bar.close()
        figures.write_index(out, titles)
        page.write_page(out, titles, executed)
        if runs:
            write_json(executed / "timings.json",
                       {"profile": profile, "seed": int(seed), "jobs": jobs,
                        "notebooks": [{**asdict(r), "output": str(r.output)}
                                      for r in sorted(runs.values(), key=lambda r: r.name)]})
    return [runs[p.stem] for p in paths]


def _run_in_worker(path: Path, executed: Path, params: Mapping, kernel_name: str) -> float:
    """:func:`_run_one` in a worker process, its kernel on one thread."""
    return _run_one(path, executed / path.name, params, kernel_name, True)


def _run_side_by_side(paths, executed: Path, params: Mapping, kernel_name: str, jobs: int,
                      bar, finished) -> None:
    """Run ``paths`` in ``jobs`` worker processes, in notebook order; at the first
    failure start no more, let the running ones finish, then raise it."""
    def failure(path: Path, error: Exception) -> NotebookError:
        if isinstance(error, NotebookError):
            return error
        return NotebookError(f"notebook {path.stem} failed: {type(error).__name__}: {error}")

    run_in_workers(functools.partial(_run_in_worker, executed=executed, params=params,
                                     kernel_name=kernel_name),
                   paths, jobs, done=finished, failure=failure,
                   show=lambda running: bar.set_postfix_str(", ".join(p.stem for p in running)))
