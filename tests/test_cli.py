"""The ``vts`` command line, run as a user would (a subprocess), on a real smoke-trained space."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

SR = 22050
COMMANDS = ("data", "features", "train", "embed", "synth", "info", "evaluate")


def vts(*args, check: bool = True, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -m vts.app.cli ARGS``; with ``check`` assert it succeeded."""
    result = subprocess.run([sys.executable, "-m", "vts.app.cli", *map(str, args)],
                            capture_output=True, text=True, cwd=cwd, timeout=600,
                            check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def assert_clean_error(result: subprocess.CompletedProcess, command: str, *named: str) -> str:
    """Non-zero exit, no traceback, and a last stderr line ``vts CMD: error: ...`` naming ``named``."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith(f"vts {command}: error: "), result.stderr
    for text in named:
        assert str(text) in last, last
    return last


def steady_db(audio, transform):
    mag = transform.magnitude(audio)
    n = mag.shape[1]
    return 20 * np.log10(np.sqrt((mag[:, n // 5: n - n // 5] ** 2).mean(axis=1)) + 1e-12)


# -- help ---------------------------------------------------------------------------------
def test_help_lists_every_command_and_each_has_help():
    out = vts("--help").stdout
    for command in COMMANDS:
        assert command in out
    for command in COMMANDS:
        result = vts(command, "--help")
        assert result.stdout.startswith(f"usage: vts {command}")


def test_parser_imports_nothing_heavy():
    code = ("import sys, vts.app.cli; vts.app.cli.build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'plotly', 'ipywidgets') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- embed --------------------------------------------------------------------------------
def test_embed_writes_codes_pca_and_nearest_centroid(space, space_dir, synthetic_root, tmp_path):
    files = sorted((synthetic_root / "philharmonia" / "oboe").glob("*.mp3"))[:2]
    folder = synthetic_root / "tonejs"                          # a folder: all its audio files
    files += sorted(folder.rglob("*.flac"))
    out = tmp_path / "embedding.csv"
    vts("embed", "--model", space_dir, "--out", out, *files[:2], folder)
    table = pd.read_csv(out)
    d = space.latent_dim
    assert list(table.columns) == (["path"] + [f"z{i}" for i in range(d)] + ["pc1", "pc2", "pc3"]
                                   + ["nearest_instrument", "centroid_distance"])
    assert table["path"].tolist() == [str(f) for f in files]
    z = table[[f"z{i}" for i in range(d)]].to_numpy()
    np.testing.assert_allclose(z, space.encode_audio([str(f) for f in files]), atol=1e-5)
    pcs = (z - space.pca.mean_) @ space.pca.components_.T
    np.testing.assert_allclose(table[["pc1", "pc2", "pc3"]].to_numpy(), pcs, atol=1e-5)
    train = space.latents[space.latents["split"] == "train"]
    cents = train.groupby("instrument")[space.z_columns].mean()
    dist = np.linalg.norm(z[:, None, :] - cents.to_numpy()[None], axis=2)
    assert table["nearest_instrument"].tolist() == cents.index[dist.argmin(1)].tolist()
    np.testing.assert_allclose(table["centroid_distance"], dist.min(1), atol=1e-5)


# -- synth --------------------------------------------------------------------------------
def test_synth_point_renders_the_decoded_spectrum(space, space_dir, tmp_path):
    wav = tmp_path / "point.wav"
    p = np.array([0.1, -0.05, 0.02])
    vts("synth", "--model", space_dir, "--point", ",".join(map(str, p)), "--seconds", "0.8",
        "--reconstruction", "fast", "--out", wav)
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == SR and len(audio) == round(0.8 * SR)
    assert np.abs(audio).max() == pytest.approx(0.95, abs=1e-3)          # peak-normalised
    z = p @ space.pca.components_ + space.pca.mean_
    want = 20 * np.log10(space.decode_magnitude(z.astype(np.float32)))
    got = steady_db(audio, space.transform)
    got -= np.mean(got - want)
    assert np.sqrt(np.mean((got - want) ** 2)) < 0.5                       # dB


@pytest.mark.parametrize("path, reconstruction", [("linear", "griffin-lim"),
                                                  ("spherical", "fast")])
def test_synth_path_between_instruments(space_dir, tmp_path, path, reconstruction, space):
    wav = tmp_path / f"{path}.wav"
    a, b = space.instruments[0], space.instruments[-1]
    result = vts("synth", "--model", space_dir, "--from", a, "--to", b, "--path", path,
                 "--seconds", "1.2", "--n-iter", "4", "--reconstruction", reconstruction,
                 "--out", wav)
    assert f"{path} path {a} -> {b}" in result.stdout
    audio, rate = sf.read(wav)
    assert rate == SR and len(audio) == round(1.2 * SR) and np.isfinite(audio).all()


def test_synth_expressive_path_between_files(space_dir, synthetic_root, tmp_path):
    a = synthetic_root / "tonejs" / "violin" / "violin_C4.flac"
    b = synthetic_root / "philharmonia" / "oboe" / "oboe_E4_1_forte_normal.mp3"
    wav = tmp_path / "expressive.wav"
    vts("synth", "--model", space_dir, "--from", a, "--to", b, "--path", "expressive",
        "--seconds", "1.0", "--reconstruction", "fast", "--out", wav)
    audio, _ = sf.read(wav)
    assert len(audio) == SR and np.isfinite(audio).all()


# -- info, evaluate -------------------------------------------------------------------------
def test_info(space, space_dir):
    text = vts("info", "--model", space_dir).stdout
    for needle in ("nsgt-erb", "regularized", "smoke", "latent 8", *space.instruments):
        assert needle in text
    info = json.loads(vts("info", "--model", space_dir, "--json").stdout)
    assert info["transform"]["name"] == "nsgt-erb" and info["transform"]["n_bins"] == 168
    assert info["model"]["latent_dim"] == 8 and info["training"]["profile"] == "smoke"
    assert set(info["instruments"]) == set(space.instruments)
    assert info["notes"]["train"] + info["notes"]["test"] == info["notes"]["total"] == 100
    assert "test_mse" in info["metrics"]


def test_evaluate_writes_a_table(space_dir, synthetic_root, tmp_path):
    out = tmp_path / "evaluation.csv"
    study = synthetic_root / "timbre" / "studies" / "Toy2024"
    vts("evaluate", "--model", space_dir, study, "--out", out)
    table = pd.read_csv(out)
    latent = table[table["representation"] == "latent"]
    per_metric = latent["metric"].nunique() if "metric" in latent else 1   # one row per metric
    assert len(latent) == per_metric and (latent["model"] == space_dir.name).all()
    assert (latent["n_stimuli"] == 5).all()


# -- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("command, extra", [
    ("info", []), ("embed", ["--out", "x.csv", "a.wav"]),
    ("synth", ["--point", "0,0,0", "--out", "x.wav"]), ("evaluate", ["--out", "x.csv"]),
])
def test_missing_model_dir(tmp_path, command, extra):
    missing = tmp_path / "no-such-space"
    result = vts(command, "--model", missing, *extra, check=False, cwd=tmp_path)
    assert_clean_error(result, command, missing)


def test_incomplete_model_dir_names_the_missing_file(tmp_path, space_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(space_dir, broken)
    (broken / "model.safetensors").unlink()
    assert_clean_error(vts("info", "--model", broken, check=False), "info",
                       broken, "model.safetensors")


def test_unreadable_audio_is_named(space_dir, synthetic_root, tmp_path):
    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"this is not a sound file" * 20)
    good = min((synthetic_root / "tonejs").rglob("*.flac"))
    out = tmp_path / "e.csv"
    result = vts("embed", "--model", space_dir, "--out", out, bad, good, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr    # some files failed
    assert f"vts embed: error: {bad}: cannot decode audio" in result.stderr
    assert "1 of 2 file(s) could not be embedded" in result.stderr
    assert pd.read_csv(out)["path"].tolist() == [str(good)]             # the good row is kept
    missing = tmp_path / "missing.flac"
    result = vts("embed", "--model", space_dir, "--out", tmp_path / "m.csv", missing,
                 check=False)
    assert result.returncode == 2 and f"{missing}: no such audio file" in result.stderr
    assert not (tmp_path / "m.csv").exists()                             # nothing written
    assert_clean_error(vts("synth", "--model", space_dir, "--from", bad, "--to", "oboe",
                           "--out", tmp_path / "x.wav", check=False), "synth", bad)


@pytest.mark.parametrize("point, message", [("0.1,0.2", "2 value(s)"), ("1,2,3,4", "4 value(s)"),
                                            ("a,b,c", "not comma-separated numbers")])
def test_point_with_wrong_dimensions(space_dir, tmp_path, point, message):
    wav = tmp_path / "x.wav"
    result = vts("synth", "--model", space_dir, "--point", point, "--out", wav, check=False)
    assert_clean_error(result, "synth", "--point", message)
    if "value(s)" in message:
        assert str(space_dir) in result.stderr
    assert not wav.exists()


@pytest.mark.parametrize("command, value", [("train", "0"), ("figures", "two")])
def test_jobs_must_be_a_positive_integer(command, value):
    assert_clean_error(vts(command, "--jobs", value, check=False), command,
                       "--jobs", f"{value!r} is not a positive integer")


def test_synth_argument_errors(space_dir, tmp_path):
    wav = tmp_path / "x.wav"
    assert_clean_error(vts("synth", "--model", space_dir, "--from", "oboe", "--out", wav,
                           check=False), "synth", "--to")
    assert_clean_error(vts("synth", "--model", space_dir, "--from", "kazoo", "--to", "oboe",
                           "--out", wav, check=False), "synth", "kazoo")
    assert_clean_error(vts("synth", "--model", space_dir, "--from", "oboe", "--to", "cello",
                           "--path", "expressive", "--out", wav, check=False),
                       "synth", "expressive", "oboe")
