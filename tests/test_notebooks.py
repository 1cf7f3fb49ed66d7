"""The notebook runner, the notebook helpers, and every notebook run on the smoke profile."""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import synthetic
from vts import config
from vts.app import cli, figures, pairs, runner
from vts.app import notebook as nb
from vts.metrics import family_distances
from vts.plan import model_plan
from vts.profiles import PROFILES, get_settings

REPO_NOTEBOOKS = config.PROJECT_ROOT / "notebooks"
#: The notebooks of this module's owner (10_explorer belongs to the widgets; it is run too).
OURS = ("01_perceptual_spaces", "02_transforms", "03_training", "04_latent_spaces",
        "05_generative_quality", "06_novel_instruments", "07_interpolation_paths",
        "08_descriptor_topology", "09_descriptor_synthesis", "11_perceptual_evaluation")


# --------------------------------------------------------------------------- the notebooks
@pytest.mark.parametrize("name", OURS)
def test_notebook_is_committed_clean_with_a_parameters_cell(name):
    book = nbformat.read(REPO_NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for variable in ("profile", "models_dir", "figures_dir", "seed"):
        assert re.search(rf"^{variable} = ", tagged[0].source, re.MULTILINE)
    assert f'nb.setup("{name}"' in "".join(c.source for c in code)
    assert book.cells[0].cell_type == "markdown" and book.cells[0].source.startswith("# ")


# --------------------------------------------------------------------------- runner
def _write_notebook(folder: Path, name: str, *sources: str) -> Path:
    params = new_code_cell("profile = 'default'\nmodels_dir = None\nfigures_dir = None\nseed = 0")
    params.metadata["tags"] = ["parameters"]
    book = new_notebook(cells=[new_markdown_cell(f"# Title of {name}"), params,
                               *[new_code_cell(s) for s in sources]])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                   "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(book, path)
    return path


def test_list_notebooks_selects_by_number_or_name(tmp_path):
    for name in ("01_a", "02_b", "10_c"):
        _write_notebook(tmp_path, name, "pass")
    (tmp_path / "scratch.ipynb").write_text("{}")
    assert [p.stem for p in runner.list_notebooks(tmp_path)] == ["01_a", "02_b", "10_c"]
    assert [p.stem for p in runner.list_notebooks(tmp_path, "10,1")] == ["01_a", "10_c"]
    assert [p.stem for p in runner.list_notebooks(tmp_path, ["02_b"])] == ["02_b"]
    with pytest.raises(ValueError, match="no notebook matches '7'.*01_a, 02_b, 10_c"):
        runner.list_notebooks(tmp_path, "7")


def test_runner_injects_parameters_and_writes_the_index(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _write_notebook(folder, "01_ok",
                    "from vts.app import figures, notebook as nb\n"
                    "ctx = nb.setup('01_ok', profile, models_dir, figures_dir, seed)\n"
                    "figures.save_text(f'{ctx.profile} {ctx.seed} {ctx.settings.grid_size}', "
                    "'params.txt', 'What the notebook received')")
    runs = runner.run_notebooks("smoke", output_dir=tmp_path / "fig", models_dir=tmp_path / "m",
                            build_dir=tmp_path / "build", seed=7, notebooks_dir=folder,
                            progress=False)
    assert [(r.name, r.artefacts) for r in runs] == [("01_ok", 1)]
    assert (tmp_path / "fig" / "01_ok" / "params.txt").read_text() == "smoke 7 8"
    assert (tmp_path / "build" / "notebooks" / "01_ok.ipynb").is_file()
    index = (tmp_path / "fig" / "README.md").read_text()
    assert "## Title of 01_ok" in index and "What the notebook received" in index
    timings = json.loads((tmp_path / "build" / "notebooks" / "timings.json").read_text())
    assert timings["profile"] == "smoke" and timings["notebooks"][0]["name"] == "01_ok"


def test_runner_names_the_failing_notebook_and_cell(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _write_notebook(folder, "01_fine", "x = 1")
    _write_notebook(folder, "02_broken", "y = 2", "raise RuntimeError('boom in cell')")
    _write_notebook(folder, "03_never", "raise SystemExit('must not run')")
    with pytest.raises(runner.NotebookError) as error:
        runner.run_notebooks("smoke", output_dir=tmp_path / "fig", models_dir=tmp_path / "m",
                         build_dir=tmp_path / "build", notebooks_dir=folder, progress=False,
                         jobs=1)
    message = str(error.value)
    assert "notebook 02_broken failed in cell" in message
    assert "RuntimeError: boom in cell" in message and "raise RuntimeError" in message
    assert str(tmp_path / "build" / "notebooks" / "02_broken.ipynb") in message
    assert not (tmp_path / "build" / "notebooks" / "03_never.ipynb").exists()
    assert (tmp_path / "fig" / "README.md").is_file()   # the index is written anyway


def test_notebooks_side_by_side_stop_starting_at_a_failure(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _write_notebook(folder, "01_broken", "raise RuntimeError('boom early')")
    _write_notebook(folder, "02_slow",
                    "import os, time\n"
                    "from vts.app import figures, notebook as nb\n"
                    "ctx = nb.setup('02_slow', profile, models_dir, figures_dir, seed)\n"
                    "time.sleep(8)\n"
                    "figures.save_text(os.environ['OMP_NUM_THREADS'], 'threads.txt', 'Its threads')")
    _write_notebook(folder, "03_never", "raise SystemExit('must not run')")
    with pytest.raises(runner.NotebookError, match="notebook 01_broken failed in cell"):
        runner.run_notebooks("smoke", output_dir=tmp_path / "fig", models_dir=tmp_path / "m",
                             build_dir=tmp_path / "build", notebooks_dir=folder,
                             progress=False, jobs=2)
    # the notebook running beside the failure was let finish (on one thread); none started after
    assert (tmp_path / "fig" / "02_slow" / "threads.txt").read_text() == "1"
    assert "02_slow/threads.txt" in figures.read_manifest(tmp_path / "fig")["artefacts"]
    assert not (tmp_path / "build" / "notebooks" / "03_never.ipynb").exists()
    assert (tmp_path / "fig" / "README.md").is_file()


def test_manifest_updates_from_processes_side_by_side_are_all_kept(tmp_path):
    code = ("import sys\nfrom pathlib import Path\nfrom vts.app import figures\n"
            "root, k = Path(sys.argv[1]), sys.argv[2]\n"
            "for i in range(40):\n"
            "    p = root / f'nb{k}' / f'{i}.txt'\n    p.parent.mkdir(exist_ok=True)\n"
            "    p.write_text('x')\n"
            "    figures.register(p, f'artefact {i}', root, f'nb{k}')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(k)])
             for k in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    assert len(figures.read_manifest(tmp_path)["artefacts"]) == 120


def test_main_reports_errors_without_traceback(tmp_path, capsys):
    assert cli.main(["figures", "--profile", "smoke", "--only", "99",
                     "--output-dir", str(tmp_path)]) == 1
    assert "no notebook matches '99'" in capsys.readouterr().err


def test_settings_are_defined_once_per_profile():
    assert set(PROFILES) == {"smoke", "default", "paper"}
    assert get_settings("default").grid_size == 50
    assert get_settings("default").planes == (-0.75, -0.45, -0.15, 0.15, 0.45, 0.75)
    assert get_settings("smoke").grid_size < get_settings("default").grid_size
    with pytest.raises(KeyError, match="unknown profile 'huge'"):
        get_settings("huge")


# --------------------------------------------------------------------------- helpers
_catalog = synthetic.catalog


def test_pick_note_exact_and_nearest(capsys):
    catalog = _catalog([
        ("a", "a.mp3", "clarinet", "G4", 67, "ff", "P"),
        ("b", "b.mp3", "clarinet", "A4", 69, "p", "P"),
        ("c", "c.mp3", "clarinet", "A4", 69, "f", "P"),
        ("d", "d.mp3", "oboe", "G#4", 68, "ff", "P")])
    assert nb.pick_note(catalog, nb.NoteSpec("oboe", "G#4", "ff"))["note_id"] == "d"
    assert capsys.readouterr().out == ""
    # G#4 (68) is one semitone from both G4 and A4: G4 has the wanted dynamic (ff) -> a
    assert nb.pick_note(catalog, nb.NoteSpec("clarinet", "G#4", "ff"))["note_id"] == "a"
    assert "using the nearest available note, clarinet G4 ff" in capsys.readouterr().out
    # A#4 (70): A4 is nearest; among A4 notes, f is nearer to ff than p -> c
    assert nb.pick_note(catalog, nb.NoteSpec("clarinet", "A#4", "ff"))["note_id"] == "c"
    with pytest.raises(LookupError, match="no piccolo note"):
        nb.pick_note(catalog, nb.NoteSpec("piccolo", "E5"))


def test_slug_and_label():
    row = pd.Series({"instrument": "clarinet", "note": "G#4", "dynamics": "ff"})
    assert nb.note_label(row) == "clarinet G#4 ff"
    assert nb.slug(nb.note_label(row)) == "clarinet-Gs4-ff"


class _FakeSpace:
    """Centroids on a line: flute 0, oboe 1, trumpet 4, cello 10 (latent dim 2)."""

    def __init__(self):
        self.centroids = pd.DataFrame({"z0": [0.0, 1.0, 4.0, 10.0], "z1": 0.0},
                                      index=["flute", "oboe", "trumpet", "cello"])
        self.instruments = ["cello", "flute", "oboe", "trumpet"]


def test_family_distances_by_hand():
    codes = np.array([[3.0, 0.0], [3.0, 0.0], [9.0, 0.0]])
    table = family_distances(_FakeSpace(), codes, ["bass-clarinet", "bass-clarinet",
                                                      "double-bass"]).set_index("instrument")
    # median distance between the 4 centroids: pairs 1,4,10,3,9,6 -> median 5.0
    bc = table.loc["bass-clarinet"]
    assert bc["nearest_instrument"] == "trumpet" and bc["nearest_distance"] == pytest.approx(1.0)
    assert bc["nearest_distance_rel"] == pytest.approx(0.2)
    assert bc["own_family_instrument"] == "oboe" and bc["own_family_distance"] == pytest.approx(2)
    assert bc["own_family_rank"] == 2 and not bc["family_match"]
    db = table.loc["double-bass"]
    assert db["nearest_instrument"] == "cello" and db["family_match"]
    assert db["own_family_rank"] == 1 and not db["seen_in_training"]


def test_table1_with_paper_puts_paper_values_on_the_right_rows():
    table = pd.DataFrame({"model": ["stft-vanilla", "stft-regularized"], "transform": "stft",
                          "regularized": [False, True]})
    both = nb.table1_with_paper(table)
    assert both["paper_mse"].iloc[0] == pytest.approx(0.2412)
    assert np.isnan(both["paper_mse"].iloc[1])
    assert both["paper_kl"].tolist() == pytest.approx([834.15, 423.45])


def test_topology_summary_roughness():
    ramp = np.broadcast_to(np.arange(5.0), (2, 5, 5))      # +1 per column, 0 per row
    sweeps = {"m": {"X": {"centroid": ramp}}}
    row = nb.topology_summary(sweeps).iloc[0]
    # |diff| along rows 0 (20 pairs x2 planes), along columns 1 (20 x2): mean 0.5; range p01..p99
    lo, hi = np.percentile(ramp, [1, 99])
    assert row["roughness"] == pytest.approx(0.5 / (hi - lo))


def test_traversal_positions():
    np.testing.assert_allclose(nb.traversal_positions(3), [-0.9, 0.0, 0.9])
    np.testing.assert_allclose(nb.traversal_positions(1), [0.0])


def test_novel_notes_spread_and_skip_absent(capsys):
    catalog = _catalog([(f"g{k}", "", "guitar", "", 40 + k, "", "") for k in range(7)])
    notes = nb.novel_notes(catalog, ["guitar", "banjo"], 3)
    assert notes["note_id"].tolist() == ["g0", "g3", "g6"]
    assert "banjo: no note in the corpus" in capsys.readouterr().out
    with pytest.raises(LookupError, match="none of banjo, mandolin"):
        nb.novel_notes(catalog, ["banjo", "mandolin"], 3)


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, synthetic_root):
    """Every notebook of notebooks/ (ours and any other, e.g. 10_explorer) run once on the
    smoke profile in an isolated project layout."""
    root = tmp_path_factory.mktemp("smoke-notebooks")
    folders = {name: root / name.lower() for name in ("DATA", "FEATURES", "MODELS", "FIGURES",
                                                      "BUILD")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VTS_DATA", str(synthetic_root))
        for name, folder in folders.items():
            folder.mkdir()
            mp.setenv(f"VTS_{name}_DIR", str(folder))
        runs = runner.run_notebooks("smoke", output_dir=folders["FIGURES"],
                                models_dir=folders["MODELS"], build_dir=folders["BUILD"],
                                progress=False)
        yield {"runs": runs, **folders}


def _artefacts(figures_dir: Path) -> dict[str, dict]:
    return figures.read_manifest(figures_dir)["artefacts"]


@pytest.mark.slow
def test_every_notebook_runs_and_registers_artefacts(smoke_run):
    names = [r.name for r in smoke_run["runs"]]
    assert set(OURS) <= set(names) and names == sorted(names)
    for run in smoke_run["runs"]:
        assert run.artefacts > 0 or run.name not in OURS, run.name
        executed = nbformat.read(run.output, as_version=4)
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


@pytest.mark.slow
def test_index_lists_every_artefact_and_files_are_real(smoke_run):
    root = smoke_run["FIGURES"]
    index = (root / "README.md").read_text()
    artefacts = _artefacts(root)
    for rel, entry in artefacts.items():
        path = root / rel
        assert path.is_file() and path.stat().st_size > 0, rel
        assert f"[`{rel}`]({rel})" in index and entry["caption"] in index
    for name in OURS:
        assert f"notebooks/{name}.ipynb" in index


@pytest.mark.slow
def test_sounds_are_22050_hz_and_never_clip(smoke_run):
    root = smoke_run["FIGURES"]
    wavs = [rel for rel in _artefacts(root) if rel.endswith(".wav")]
    assert len(wavs) >= 6 + 4 * 3 + 3
    for rel in wavs:
        audio, rate = sf.read(root / rel)
        assert rate == 22050, rel
        assert audio.ndim == 1 and 0 < np.max(np.abs(audio)) <= 1.0, rel


@pytest.mark.slow
def test_declared_artefacts_of_each_notebook(smoke_run):
    root = smoke_run["FIGURES"]
    names = set(_artefacts(root))
    settings = get_settings("smoke")
    expected = [
        "01_perceptual_spaces/study_mds.png", "01_perceptual_spaces/cooccurrence_all.png",
        "01_perceptual_spaces/cooccurrence_top14.png",
        "01_perceptual_spaces/figure2_timbre_space.png",
        "01_perceptual_spaces/figure2_timbre_space.html",
        "02_transforms/transforms_roundtrip.png",
        *[f"02_transforms/reconstruction_{t}.wav" for t in config.TRANSFORMS],
        "03_training/learning_curves.png", "03_training/training_summary.csv",
        "04_latent_spaces/figure3_latent_spaces.png", "04_latent_spaces/figure3_kinds.png",
        "04_latent_spaces/figure3_test_reconstructions.png",
        *[f"04_latent_spaces/latent_space_{t}.html" for t in settings.transforms],
        "05_generative_quality/table1.csv", "05_generative_quality/table1.md",
        "05_generative_quality/table1_vs_paper.png",
        "06_novel_instruments/novel_instruments.png", "06_novel_instruments/novel_instruments.html",
        "06_novel_instruments/novel_family_distances.csv",
        "07_interpolation_paths/linear_vs_spherical.csv",
        *[f"08_descriptor_topology/planes_{d}.png" for d in ("centroid", "flatness", "bandwidth",
                                                             "loudness", "rolloff")],
        "08_descriptor_topology/topology_roughness.csv",
        "09_descriptor_synthesis/descriptor_synthesis.png",
        "09_descriptor_synthesis/centroid_path.wav", "09_descriptor_synthesis/bandwidth_path.wav",
        "perceptual_eval.csv", "11_perceptual_evaluation/head_to_head.csv",
        "perceptual_eval.png",
    ]
    missing = [e for e in expected if e not in names]
    assert not missing
    assert not any(n.endswith("_answer.md") for n in names)      # no verdict written by code
    # 07: per pair, the two notes and three paths as sound, 8-point spectra, an HTML, a
    # comparison; videos of the featured pair (spherical, expressive) and the paper's pair
    n_pairs = len(pairs.INTERPOLATION_PAIRS)
    for suffix in ("_origin.wav", "_end.wav", "_linear.wav", "_spherical.wav", "_expressive.wav",
                   "_spherical_spectra.png", "_paths.html", "_linear_vs_spherical.png"):
        found = [n for n in names if n.startswith("07_") and n.endswith(suffix)
                 and "/experimental" not in n]
        assert len(found) == n_pairs, (suffix, len(found))
    videos = sorted(n for n in names if n.startswith("07_") and n.endswith(".mp4"))
    assert [v.split("/")[1].split("_")[0] for v in videos] == \
        ["featured1", "featured1", "paper-and-project1"]
    # expressive and experimental: the translation scaled, per experimental pair
    for factor in pairs.TRANSLATION_FACTORS:
        assert sum(n.endswith(f"_translation-{factor:g}x.wav") for n in names) == \
            len(pairs.EXPERIMENTAL_PAIRS)
    table = pd.read_csv(root / "07_interpolation_paths" / "linear_vs_spherical.csv")
    assert len(table) == n_pairs and set(table["group"]) == set(pairs.PATH_GROUPS)
    assert {"mean_db", "endpoints_db", "mean_over_endpoints", "linear_loudness_range_db",
            "spherical_loudness_range_db"} <= set(table.columns)
    translations = [n for n in names if n.endswith("_translations.csv")]
    assert len(translations) == len(pairs.EXPERIMENTAL_PAIRS)
    assert len(pd.read_csv(root / translations[0])) == 1 + len(pairs.TRANSLATION_FACTORS)
    # 08: vanilla vs regularised along X and the regularised X/Y/Z topology, per descriptor;
    # 5 descriptors x 3 models sliders
    descriptors = ("centroid", "flatness", "bandwidth", "loudness", "rolloff")
    mp4s = sorted(n for n in names if n.startswith("08_") and n.endswith(".mp4"))
    assert mp4s == sorted([f"08_descriptor_topology/along_X_vanilla_vs_l2_{d}.mp4"
                           for d in descriptors]
                          + [f"08_descriptor_topology/topology_l2_{d}.mp4" for d in descriptors])
    assert not any(n.endswith(".gif") for n in names)
    assert sum(n.startswith("08_") and n.endswith(".html") for n in names) == 15
    import imageio_ffmpeg

    for rel in videos + mp4s:
        width, height = figures.video_size(root / rel)
        assert width >= 800 and width % 2 == 0 and height % 2 == 0, rel
    reader = imageio_ffmpeg.read_frames(str(root / mp4s[0]))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    assert meta["codec"] == "h264" and frames == settings.traversal_positions
    # the page plays every pair's notes beside its paths, and links the MP4s in <video>
    html = (root / "index.html").read_text()
    for rel in videos + mp4s:
        assert f'<video controls preload="metadata" muted loop playsinline src="{rel}"' in html
    for group in ("featured", "same-pitch", "changing-pitch", "more-pairs", "experimental"):
        heading = group.replace("-", " ").capitalize()
        assert f"<h3>{heading}</h3>" in html, heading


@pytest.mark.slow
def test_smoke_results_make_sense(smoke_run):
    root = smoke_run["FIGURES"]
    # synthetic studies replace the nine: both toy studies are plotted
    eval_table = pd.read_csv(root / "perceptual_eval.csv")
    assert set(eval_table["study"]) == {"Toy2024", "Toy2025"}
    transforms = get_settings("smoke").transforms
    plan = model_plan(transforms, "smoke")
    assert {name for name, *_ in plan} >= {"nsgt-erb-banded", "nsgt-erb-l2", "stft-l2"}
    assert set(eval_table.loc[eval_table["kind"] == "model", "model"]) == {
        name for name, *_ in plan}
    # head to head: every regularised space against its vanilla twin and MFCC
    wins = pd.read_csv(root / "11_perceptual_evaluation" / "head_to_head.csv")
    assert set(wins["model"]) == {name for name, _, regularized, _ in plan if regularized}
    assert set(wins["rival"]) == {f"{t}-vanilla" for t in transforms} | {"MFCC mean"}
    assert (wins["n_studies"] == 2).all() and wins["wins"].between(0, 2).all()
    # novel instruments of the synthetic corpus: bass clarinet and guitar (no contrabassoon)
    novel = pd.read_csv(root / "06_novel_instruments" / "novel_family_distances.csv")
    assert set(novel["instrument"]) == {"bass-clarinet", "guitar"}
    assert set(novel["space"]) == {"vanilla", "l2", "gaussian"}
    # Algorithm 1: tables start at the origin with zero error, targets move the right way
    centroid = pd.read_csv(root / "09_descriptor_synthesis" / "centroid_path.csv")
    bandwidth = pd.read_csv(root / "09_descriptor_synthesis" / "bandwidth_path.csv")
    assert centroid["error"].iloc[0] == 0
    assert len(centroid) == get_settings("smoke").synthesis_steps + 1
    assert centroid["target"].is_monotonic_decreasing
    assert bandwidth["target"].is_monotonic_increasing
    # path sounds last path_seconds
    s = get_settings("smoke")
    wav = next(p for p in (root / "07_interpolation_paths").glob("*_linear.wav"))
    assert sf.info(wav).frames == round(s.path_seconds * 22050)


@pytest.mark.slow
def test_a_notebook_is_deterministic_for_a_seed(smoke_run, tmp_path, monkeypatch, synthetic_root):
    monkeypatch.setenv("VTS_DATA", str(synthetic_root))
    for name in ("DATA", "FEATURES", "BUILD"):
        monkeypatch.setenv(f"VTS_{name}_DIR", str(smoke_run[name]))
    again = tmp_path / "figures"
    runner.run_notebooks("smoke", only="09", output_dir=again, models_dir=smoke_run["MODELS"],
                     build_dir=tmp_path / "build", progress=False)
    first = smoke_run["FIGURES"] / "09_descriptor_synthesis"
    for name in ("centroid_path.csv", "bandwidth_path.csv", "centroid_path.wav"):
        second = again / "09_descriptor_synthesis" / name
        assert second.read_bytes() == (first / name).read_bytes(), name


def test_synthetic_corpus_lacks_the_paper_origin_note():
    # the smoke run relies on the fallback: Clarinet G#4 ff is not in the synthetic corpus
    assert ("G#4", 68) not in synthetic.NOTES


def test_unknown_kernel_is_a_clear_error(tmp_path):
    path = _write_notebook(tmp_path, "01_x", "x = 1")
    with pytest.raises(runner.NotebookError, match="no Jupyter kernel named 'no-such-kernel'"):
        runner.run_notebook(path, tmp_path / "out.ipynb", {}, kernel_name="no-such-kernel")
