"""Saved timbre spaces: round trip, clear errors, analysis / synthesis API, metrics, Table 1."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from vts import __version__
from vts.dsp import Normalizer, get_transform, render, sustained_frame
from vts.model import VAE, ModelConfig
from vts.space import (
    FORMAT_VERSION,
    SPACE_FILES,
    SpaceError,
    TimbreSpace,
    space_kind,
)

N_BINS, LATENT = get_transform("nsgt-erb").n_bins, 4
INSTRUMENTS = ("clarinet", "oboe", "flute", "cello", "banjo")
RATED = INSTRUMENTS[:4]


#: A real, tiny normaliser: log1p(mag / 1e-3) (offset 0, scale 1).
NORMALIZER = Normalizer(ref=1e-3, offset=0.0, scale=1.0)


def make_space(directory, seed=0, n_per=10) -> TimbreSpace:
    torch.manual_seed(seed)
    model = VAE(ModelConfig(N_BINS, hidden_units=16, n_hidden_layers=2, latent_dim=LATENT))
    rng = np.random.default_rng(seed)
    rows = [{"note_id": f"{n}_{j}", "instrument": n, "perceptual_label": n if n in RATED else "",
                 "pitch": float(60 + j), "dynamics": "ff", "split": "test" if j < 2 else "train"}
            for n in INSTRUMENTS for j in range(n_per)]
    meta = pd.DataFrame(rows)
    z = rng.normal(size=(len(meta), LATENT)).astype(np.float32)
    latents = pd.concat([meta, pd.DataFrame(z, columns=[f"z{i}" for i in range(LATENT)])], axis=1)
    split = meta[["note_id", "instrument", "split"]]
    target = pd.DataFrame(rng.normal(size=(4, 3)), index=list(RATED),
                          columns=["dim1", "dim2", "dim3"])
    config = {"transform": "nsgt-erb", "regularized": True, "data_key": "k1",
              "training": {"seed": seed}}
    curves = pd.DataFrame({"epoch": [1, 2], "total": [3.0, 2.0]})
    return TimbreSpace(directory, config, model, NORMALIZER, latents, split, target,
                       {"test_mse": 0.5}, curves)


@pytest.fixture
def saved(tmp_path) -> tuple[TimbreSpace, Path]:
    space = make_space(tmp_path / "space")
    return space, space.save()


# -- round trip and errors --------------------------------------------------------------
def test_save_load_round_trip(saved):
    space, directory = saved
    loaded = TimbreSpace.load(directory)
    z = np.random.default_rng(1).normal(size=(5, LATENT)).astype(np.float32)
    np.testing.assert_array_equal(loaded.decode(z), space.decode(z))
    x = np.random.default_rng(2).normal(size=(3, N_BINS)).astype(np.float32)
    np.testing.assert_array_equal(loaded.encode_frames(x), space.encode_frames(x))
    pd.testing.assert_frame_equal(loaded.latents, space.latents, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.target, space.target, check_names=False)
    assert loaded.config["format_version"] == FORMAT_VERSION
    assert loaded.config["vts_version"] == __version__
    assert loaded.config["data_key"] == "k1"
    assert loaded.metrics == {"test_mse": 0.5}
    assert loaded.latent_dim == LATENT and loaded.n_bins == N_BINS
    assert set(SPACE_FILES) <= {p.name for p in directory.iterdir()}
    # weights are safetensors, not a pickle
    assert (directory / "model.safetensors").read_bytes()[8:9] == b"{"


@pytest.mark.parametrize("name", SPACE_FILES)
def test_missing_file_names_directory_and_file(saved, name):
    _, directory = saved
    (directory / name).unlink()
    with pytest.raises(SpaceError) as info:
        TimbreSpace.load(directory)
    assert name in str(info.value) and str(directory) in str(info.value)


@pytest.mark.parametrize("name", ["model.safetensors", "latents.npz", "config.json",
                                  "normalizer.json", "split.csv"])
def test_corrupted_file_names_it(saved, name):
    _, directory = saved
    path = directory / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3] + b"\x00garbage")
    with pytest.raises(SpaceError) as info:
        TimbreSpace.load(directory)
    assert name in str(info.value) and str(directory) in str(info.value)


def test_wrong_weights_shape_is_a_space_error(saved, tmp_path):
    _, directory = saved
    other = make_space(tmp_path / "other")
    other.model = VAE(ModelConfig(N_BINS, hidden_units=8, n_hidden_layers=2, latent_dim=LATENT))
    other.save()
    (directory / "model.safetensors").write_bytes((other.directory / "model.safetensors").read_bytes())
    with pytest.raises(SpaceError, match="model.safetensors"):
        TimbreSpace.load(directory)


def test_other_format_version_is_refused(saved):
    _, directory = saved
    cfg = json.loads((directory / "config.json").read_text())
    cfg["format_version"] = FORMAT_VERSION + 1
    (directory / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpaceError, match="format version"):
        TimbreSpace.load(directory)


def test_not_a_directory(tmp_path):
    with pytest.raises(SpaceError, match="no such"):
        TimbreSpace.load(tmp_path / "nothing")


# -- the API ------------------------------------------------------------------------------
def test_centroids_instruments_and_codes(saved):
    space = TimbreSpace.load(saved[1])
    assert space.instruments == sorted(INSTRUMENTS)
    train = space.latents[space.latents["split"] == "train"]
    for name in INSTRUMENTS:
        expected = train.loc[train["instrument"] == name, space.z_columns].to_numpy().mean(0)
        np.testing.assert_allclose(space.centroids.loc[name].to_numpy(), expected, rtol=1e-6)
    assert space.codes("train").shape == (len(INSTRUMENTS) * 8, LATENT)
    assert space.codes(None).shape == (len(INSTRUMENTS) * 10, LATENT)


def test_pca_helpers(saved):
    space = TimbreSpace.load(saved[1])
    z = space.codes("train")
    p = space.to_pca(z)
    assert p.shape == (len(z), 3)
    np.testing.assert_allclose(p.mean(0), 0.0, atol=1e-5)        # fitted on these codes
    var = p.var(0)
    assert var[0] >= var[1] >= var[2]
    back = space.from_pca(p[:5])
    assert back.shape == (5, LATENT)
    np.testing.assert_allclose(space.to_pca(back), p[:5], atol=1e-5)   # on the PCA plane
    assert space.to_pca(z[0]).shape == (3,)
    assert space.from_pca(p[0]).shape == (LATENT,)


def test_encode_decode_shapes_and_normaliser(saved):
    space = TimbreSpace.load(saved[1])
    rng = np.random.default_rng(0)
    mag = rng.uniform(0, 2, size=(6, N_BINS))
    codes = space.encode_magnitude(mag)
    assert codes.shape == (6, LATENT)
    np.testing.assert_allclose(codes, space.encode_frames(np.log1p(mag / 1e-3)), rtol=1e-5,
                               atol=1e-6)
    assert space.encode_magnitude(mag[0]).shape == (LATENT,)
    with pytest.raises(ValueError, match=f"expected \\({N_BINS},\\) or \\(n_frames, {N_BINS}\\)"):
        space.encode_magnitude(mag.T)
    assert space.decode(codes[0]).shape == (N_BINS,)
    np.testing.assert_allclose(space.decode_magnitude(codes),
                               np.maximum(1e-3 * np.expm1(space.decode(codes)), 0), rtol=1e-4)
    with pytest.raises(ValueError, match="bins"):
        space.encode_frames(np.zeros((2, N_BINS + 1)))
    with pytest.raises(ValueError, match="dims"):
        space.decode(np.zeros(LATENT + 1))


def test_encode_audio_array_list_and_file(saved, tmp_path):
    space = TimbreSpace.load(saved[1])
    rng = np.random.default_rng(0)
    a = (0.1 * rng.normal(size=11025)).astype(np.float32)
    b = (0.1 * rng.normal(size=8000)).astype(np.float32)
    expected = space.encode_magnitude(sustained_frame(a, get_transform("nsgt-erb")))
    np.testing.assert_allclose(space.encode_audio(a), expected, rtol=1e-6)
    both = space.encode_audio([a, b])
    assert both.shape == (2, LATENT)
    np.testing.assert_allclose(both[0], expected, rtol=1e-6)
    path = tmp_path / "note.wav"
    sf.write(path, a, 22050, subtype="FLOAT")
    np.testing.assert_allclose(space.encode_audio(path), expected, rtol=1e-5, atol=1e-6)
    assert space.encode_audio([path, path]).shape == (2, LATENT)
    # an array at another rate is resampled to 22,050 Hz first: a 440 Hz tone
    # given at 44.1 kHz is encoded like the same tone at 22.05 kHz
    t44, t22 = np.arange(22050) / 44100, np.arange(11025) / 22050
    tone44 = (0.5 * np.sin(2 * np.pi * 440 * t44)).astype(np.float32)
    tone22 = (0.5 * np.sin(2 * np.pi * 440 * t22)).astype(np.float32)
    np.testing.assert_allclose(space.encode_audio(tone44, sample_rate=44100),
                               space.encode_audio(tone22), atol=0.05)


def test_synthesize_renders_the_decoded_spectrum(saved):
    space = TimbreSpace.load(saved[1])
    tr = get_transform("nsgt-erb")
    z = space.codes("train")[:3]
    audio = space.synthesize(z[0], seconds=0.5, n_iter=8)
    assert audio.dtype == np.float32 and len(audio) == round(0.5 * 22050)
    # decoded by this space, then through the one renderer
    np.testing.assert_array_equal(audio, render(space.decode_magnitude(z[0]), tr, 0.5, n_iter=8))
    path = space.synthesize(z, seconds=0.3, n_iter=2)                 # several codes
    assert len(path) == round(0.3 * 22050) and np.all(np.isfinite(path))
    with pytest.raises(ValueError, match="codes"):
        space.synthesize(np.zeros(LATENT + 1))


# -- tampered spaces ----------------------------------------------------------------------
def _edit_config(directory: Path, **model) -> None:
    cfg = json.loads((directory / "config.json").read_text())
    cfg["model"].update(model)
    (directory / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("field, value, message", [
    ("latent_dim", "4", "model.latent_dim must be a positive integer, got '4'"),
    ("latent_dim", 4.5, "model.latent_dim must be a positive integer, got 4.5"),
    ("hidden_units", True, "model.hidden_units must be a positive integer, got True"),
    ("n_hidden_layers", 0, "model.n_hidden_layers must be a positive integer, got 0"),
    ("input_dim", None, "model.input_dim must be a positive integer, got None"),
    ("likelihood", "laplace", "model.likelihood must be 'learned' or 'fixed'"),
    ("fixed_logvar", float("nan"), "model.fixed_logvar must be a finite number"),
])
def test_bad_model_config_is_a_space_error(saved, field, value, message):
    _, directory = saved
    _edit_config(directory, **{field: value})
    with pytest.raises(SpaceError) as info:
        TimbreSpace.load(directory)
    assert str(info.value).startswith(f"{directory}: config.json: ") and message in str(info.value)


@pytest.mark.parametrize("field", ["hidden_units", "latent_dim", "input_dim", "n_hidden_layers"])
def test_absurd_sizes_are_refused_before_any_allocation(saved, field, monkeypatch):
    """The sizes are checked against the weights' header before a real model is built
    (a shape-only model on torch's meta device may be)."""
    _, directory = saved
    _edit_config(directory, **{field: 10**7})
    devices = []

    def vae(config):
        model = VAE(config)
        devices.append(next(model.parameters()).device.type)
        return model

    monkeypatch.setattr("vts.space.VAE", vae)
    with pytest.raises(SpaceError) as info:
        TimbreSpace.load(directory)
    assert str(directory) in str(info.value) and "disagree" in str(info.value)
    assert set(devices) <= {"meta"}, devices


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(saved, value):
    from safetensors.torch import load_file, save_file

    _, directory = saved
    state = load_file(str(directory / "model.safetensors"))
    state["encoder.0.weight"][3, 5] = value
    save_file(state, str(directory / "model.safetensors"))
    with pytest.raises(SpaceError, match="NaN or infinite weights") as info:
        TimbreSpace.load(directory)
    assert str(directory) in str(info.value) and "encoder.0.weight" in str(info.value)


def test_non_finite_codes_are_refused(saved):
    _, directory = saved
    with np.load(directory / "latents.npz") as data:
        arrays = dict(data)
    arrays["z"][0, 0] = np.nan
    np.savez(directory / "latents.npz", **arrays)
    with pytest.raises(SpaceError, match="latents.npz: codes hold NaN") as info:
        TimbreSpace.load(directory)
    assert str(directory) in str(info.value)


def test_encode_audio_of_a_file_applies_the_one_rule(saved, tmp_path):
    from vts.io import AudioError

    space = TimbreSpace.load(saved[1])
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.full(22050, 1e-6, np.float32), 22050)
    with pytest.raises(AudioError, match="quiet.wav: silent"):
        space.encode_audio(quiet)
    assert space.encode_audio(np.full(22050, 1e-6, np.float32)).shape == (LATENT,)   # arrays


def test_space_kind_from_config():
    assert space_kind({"kind": "l2", "regularized": True}) == "l2"
    assert space_kind({"kind": "listener", "regularized": False}) == "listener"
    assert space_kind({"regularized": False}) == "vanilla"
    assert space_kind({}) == "vanilla"
    assert space_kind({"regularized": True, "training": {"reg_kind": "gaussian"}}) == "gaussian"
    assert space_kind({"regularized": True}) == "class"
