"""The spaces a profile trains: kinds, order, shared stage 1, one writer per folder."""
import dataclasses
import subprocess
import sys

import pandas as pd
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


def _complete(models, kinds):
    return {k for k in kinds if (models / f"nsgt-erb-{k}" / "config.json").is_file()}


def test_spaces_trained_side_by_side_equal_those_trained_one_by_one(project, capfd):
    from test_train import assert_same_weights
    from vts.data import load_catalog
    from vts.features import load_features

    load_features("nsgt-erb", load_catalog(progress=False), progress=False)
    kinds = ["vanilla", *PROFILES["smoke"].kinds]
    serial, parallel = project / "serial", project / "parallel"
    one = train_all("smoke", transforms=("nsgt-erb",), out_root=serial, progress=False,
                    table_dir=project / "t1", jobs=1, num_threads=1)
    # a file where the l2 space's folder belongs: that space fails in its worker
    parallel.mkdir()
    (parallel / "nsgt-erb-l2").write_text("not a space")
    with pytest.raises(FileExistsError, match="nsgt-erb-l2"):
        train_all("smoke", transforms=("nsgt-erb",), out_root=parallel, progress=True,
                  table_dir=project / "t2", jobs=2)
    assert "nsgt-erb-l2: training failed" in capfd.readouterr().err
    # what was in training when it failed was let finish; nothing was started after it
    assert _complete(parallel, kinds) == {"vanilla", "class", "banded"}
    (parallel / "nsgt-erb-l2").unlink()
    two = train_all("smoke", transforms=("nsgt-erb",), out_root=parallel, progress=False,
                    table_dir=project / "t2", jobs=2)
    assert _complete(parallel, kinds) == set(kinds)
    for kind in kinds:
        assert_same_weights(serial / f"nsgt-erb-{kind}", parallel / f"nsgt-erb-{kind}")
    # every regularised space started from its twin's stage 1 (its stage-1 rows, their
    # times included, are the twin's), so none started before the twin was done
    stage1 = PROFILES["smoke"].train.stage1_epochs
    van = pd.read_csv(parallel / "nsgt-erb-vanilla" / "curves.csv").iloc[:stage1]
    for kind in kinds[1:]:
        reg = pd.read_csv(parallel / f"nsgt-erb-{kind}" / "curves.csv").iloc[:stage1]
        pd.testing.assert_frame_equal(reg, van)
    assert not (parallel / "nsgt-erb-vanilla" / "stage1.pt").exists()
    assert (parallel / "nsgt-erb-listener" / "config.json").is_file()
    cols = ["model", "test_mse", "spearman", "silhouette_pca"]
    assert one[cols].equals(two[cols])


def test_jobs_must_be_a_positive_integer(tmp_path):
    with pytest.raises(ValueError, match="jobs must be None, -1 or a positive integer"):
        train_all("smoke", transforms=("nsgt-erb",), out_root=tmp_path / "m", progress=False,
                  jobs=0)
