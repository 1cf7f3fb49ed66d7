"""The spaces a profile trains: kinds, order, shared stage 1, one writer per folder."""
import dataclasses
import subprocess
import sys

import pytest

from vts.io import LockError
from vts.plan import model_plan, train_all
from vts.profiles import PROFILES, get_profile


def test_kinds_and_model_plan():
    default = PROFILES["default"]
    banded = default.config("banded")
    assert banded.reg_band_semitones == 12 and banded.reg_kind == "class"
    assert banded.alpha == default.train.alpha
    assert banded.stage1_epochs == default.train.stage1_epochs
    assert default.config("l2").reg_kind == "l2" and default.config("vanilla") == default.train
    assert PROFILES["paper"].config("banded").reg_notes_per_class > 0
    plan = model_plan(("stft", "nsgt-erb"), "default")
    assert [p[0] for p in plan] == ["stft-vanilla", f"stft-{default.showcase}"] + [
        f"nsgt-erb-{k}" for k in ("vanilla", *default.kinds)]
    assert [p[2] for p in plan[:3]] == [False, True, False]
    assert plan[-1][3] == default.config(list(default.kinds)[-1])
    # stage 1 is the same run for every kind of a transform
    stage1 = {str(dataclasses.replace(c, **{f: getattr(default.train, f) for f in (
        "alpha", "reg_notes_per_class", "reg_band_semitones", "reg_kind", "reg_dims",
        "reg_n_dims", "reg_scale")})) for *_, c in plan}
    assert len(stage1) == 1
    with pytest.raises(KeyError, match="unknown kind 'wobbly'"):
        default.config("wobbly")
    with pytest.raises(ValueError, match="unknown regularizer kind"):
        get_profile("smoke", reg_kind="wobbly")
    with pytest.raises(ValueError, match="reg_band_semitones"):
        get_profile("smoke", reg_band_semitones=12, reg_notes_per_class=0)


def test_train_all_refuses_a_models_folder_another_writer_holds(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    code = ("import time, vts.io as io\n"
            f"with io.folder_lock({str(models)!r}, 'vts train --profile default'):\n"
            "    print('held', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockError, match="another vts train"):
            train_all("smoke", transforms=("nsgt-erb",), out_root=models, progress=False)
    finally:
        holder.kill()
        holder.wait()
