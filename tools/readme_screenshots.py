"""The README's two screenshots, taken in headless Chromium from what ``make figures`` built.

* ``docs/img/explorer_showcase.png``: the explorer on the showcase space
  (``--model``), opened in JupyterLab as ``make test-browser`` does on the smoke
  space, with ``--instrument`` picked so that the spectrum is the one decoded
  at its centroid and the 3-D map marks it;
* ``docs/img/page_synthesis_paths.png``: the companion page
  ``figures/index.html``, opened from ``file://``, at its section 2 (the
  featured videos and the same-pitch table).

Debian's Chromium driven by Playwright (``tools/install-browser.sh``)::

    .venv/bin/python tools/readme_screenshots.py [--model models/nsgt-erb-l2]
        [--instrument clarinet] [--out docs/img]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_FLAGS,
    explorer_notebook,
    explorer_output,
    jupyterlab,
    open_explorer,
    probe,
)

from vts import config  # noqa: E402
from vts.io import atomic_path  # noqa: E402
from vts.space import SpaceError, TimbreSpace  # noqa: E402

#: The page section shown (its heading's text starts with this).
PAGE_SECTION = "2. Synthesis paths"


def explorer_shot(space: TimbreSpace, instrument: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="explorer-shot-") as tmp:
        scratch = Path(tmp)
        (scratch / "lab").mkdir()
        notebook = explorer_notebook(scratch / "lab", space.directory)
        with jupyterlab(scratch / "lab", scratch) as (base, token), sync_playwright() as p:
            context, page = open_explorer(p, (base, token, notebook.name), scratch / "chromium",
                                          viewport=(1500, 1500))
            try:
                page.locator(".widget-dropdown", has_text="instrument").locator(
                    "select").select_option(label=instrument)
                page.wait_for_timeout(1500)
                state = probe(page)
                if state["instrument"] != instrument:
                    raise RuntimeError(f"the explorer did not take {instrument!r}: {state}")
                page.wait_for_timeout(1500)                   # let plotly finish drawing
                with atomic_path(out) as part:
                    explorer_output(page).screenshot(path=str(part), type="png")
            finally:
                context.close()


def page_shot(index: Path, out: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(index.resolve().as_uri())
            heading = page.locator("h2", has_text=PAGE_SECTION).first
            page.evaluate("(y) => window.scrollTo(0, y)",
                          heading.evaluate("h => h.getBoundingClientRect().top + window.scrollY"))
            page.wait_for_timeout(1500)                       # videos show their first frame
            with atomic_path(out) as part:
                page.screenshot(path=str(part), type="png")
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "nsgt-erb-l2")
    parser.add_argument("--instrument", default="clarinet")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    try:
        space = TimbreSpace.load(args.model)
    except SpaceError as err:
        parser.error(f"{err} (make figures trains it)")
    if args.instrument not in space.instruments:
        parser.error(f"{args.model} has no instrument {args.instrument!r}; it has "
                     + ", ".join(space.instruments))
    index = config.figures_dir() / "index.html"
    if not index.is_file():
        parser.error(f"{index} is missing: run make figures first")
    explorer_shot(space, args.instrument, args.out / "explorer_showcase.png")
    print(f"wrote {args.out / 'explorer_showcase.png'} ({space.name}, {args.instrument})")
    page_shot(index, args.out / "page_synthesis_paths.png")
    print(f"wrote {args.out / 'page_synthesis_paths.png'} ({index})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
