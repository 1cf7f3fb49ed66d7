
import numpy as np
import pandas as pd
import pytest

import synthetic
from vts import perception
from vts.instruments import RATED_INSTRUMENTS


def _ratings(rows):
    return pd.DataFrame(rows, columns=perception.RATING_COLUMNS)


def test_pair_summary_and_matrix_by_hand(tmp_path):
    path = tmp_path / "r.csv"
    _ratings([("Clarinet", "Oboe", 0, "S", 0, 0.2), ("Oboe", "Clarinet", 1, "S", 1, 0.4),
              ("Clarinet", "FrenchHorn", 0, "S", 0, 0.9), ("Oboe", "FrenchHorn", 0, "S", 0, 0.6),
              ("Oboe", "FrenchHorn", 0, "S", 1, 0.8)]).to_csv(path, index=False)
    ratings = perception.load_ratings(path)
    summary = perception.pair_summary(ratings).set_index(["instrument_a", "instrument_b"])
    assert summary.loc[("clarinet", "oboe"), "mean"] == pytest.approx(0.3)
    assert summary.loc[("clarinet", "oboe"), "std"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert summary.loc[("french-horn", "oboe"), "count"] == 2
    matrix = perception.combined_dissimilarity(ratings)
    assert list(matrix.index) == ["clarinet", "french-horn", "oboe"]
    expected = np.array([[0, 0.9, 0.3], [0.9, 0, 0.7], [0.3, 0.7, 0]])
    np.testing.assert_allclose(matrix.values, expected)


def test_missing_pair_is_named(tmp_path):
    ratings = perception.load_ratings(_write(tmp_path, [("Clarinet", "Oboe", 0, "S", 0, 0.2),
                                                        ("Clarinet", "Flute", 0, "S", 0, 0.5)]))
    with pytest.raises(ValueError, match="oboe / flute|flute / oboe"):
        perception.combined_dissimilarity(ratings)


def test_out_of_range_rating_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="outside 0..1"):
        perception.load_ratings(_write(tmp_path, [("Clarinet", "Oboe", 0, "S", 0, 3.0)]))


def _write(tmp_path, rows):
    path = tmp_path / "r.csv"
    _ratings(rows).to_csv(path, index=False)
    return path


def test_mds_recovers_a_known_configuration():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(8, 3))
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    coords, stress = perception.mds(d, 3, seed=0)
    assert stress < 1e-3
    np.testing.assert_allclose(np.linalg.norm(coords[:, None] - coords[None], axis=-1), d, atol=1e-2)


def test_mds_is_seeded_and_any_dimension():
    d = np.abs(np.subtract.outer(np.arange(6.0), np.arange(6.0))) ** 0.5
    a, _ = perception.mds(d, 2, seed=3)
    b, _ = perception.mds(d, 2, seed=3)
    np.testing.assert_array_equal(a, b)
    assert perception.mds(d, 4)[0].shape == (6, 4)
    with pytest.raises(ValueError, match="n_components"):
        perception.mds(d, 6)


def test_timbre_space_of_the_synthetic_ratings(project, synthetic_root):
    matrix = perception.combined_dissimilarity()
    assert matrix.shape == (12, 12) and list(matrix.index) == list(RATED_INSTRUMENTS)
    assert np.allclose(matrix.values, matrix.values.T) and np.all(np.diag(matrix.values) == 0)
    assert matrix.values.min() >= 0 and matrix.values.max() <= 1
    space = perception.timbre_space()
    assert list(space.columns) == ["dim1", "dim2", "dim3"] and "stress" in space.attrs
    # the hidden plane the ratings were drawn from is recovered (up to noise)
    hidden = np.array([synthetic.TIMBRE[n] for n in space.index]) / np.sqrt(2)
    true_d = np.linalg.norm(hidden[:, None] - hidden[None], axis=-1)
    fit_d = np.linalg.norm(space.values[:, None] - space.values[None], axis=-1)
    iu = np.triu_indices(12, 1)
    assert np.corrcoef(true_d[iu], fit_d[iu])[0, 1] > 0.95


def test_study_loader_and_mds(project):
    study = perception.load_study("Toy2024")
    assert len(study) == 5 and study.stimuli[0].name.startswith("01_")
    assert study.instruments == ["flute", "oboe", "trumpet", "cello", "piano"]
    d = study.dissimilarity.values
    assert np.allclose(d, d.T) and d[0, 1] > 0
    i, j = 0, 3
    expected = np.linalg.norm(synthetic.TIMBRE["flute"] - synthetic.TIMBRE["cello"]) / np.sqrt(2)
    assert d[i, j] == pytest.approx(expected, abs=1e-5)
    space = perception.study_mds(study)
    assert space.shape == (5, 3) and space.attrs["stress"] < 0.2


def test_study_with_wrong_size_names_the_file(tmp_path):
    folder = synthetic.write_study(tmp_path)
    (folder / "stimuli" / "01_Flute.aiff").unlink()
    with pytest.raises(ValueError, match="dissimilarity_matrix.txt: 5 rows but 4"):
        perception.load_study(folder)


def test_cooccurrence_counts_studies(project):
    counts = perception.cooccurrence()
    # Toy2024: flute oboe trumpet cello piano; Toy2025: clarinet saxophone french-horn violin
    assert counts.loc["flute", "oboe"] == 1 and counts.loc["flute", "violin"] == 0
    assert counts.loc["cello", "cello"] == 1
    both = [perception.load_study("Toy2024"), perception.load_study("Toy2024")]
    assert perception.cooccurrence(both).loc["flute", "piano"] == 2
    top = perception.most_cooccurring(counts, k=3)
    assert top.shape == (3, 3)


@pytest.mark.parametrize("matrix, message", [
    (-np.triu(np.ones((4, 4)), 1), "negative dissimilarity -1 (row 1, column 2)"),
    (np.triu(np.full((4, 4), 0.5), 1), "every dissimilarity is 0.5"),
    (np.zeros((4, 4)), "every dissimilarity is 0"),
    (np.ones((3, 4)), "not square"),
    (np.ones((2, 2)) - np.eye(2), "at least 3 stimuli"),
    (np.where(np.eye(4) > 0, 0, np.nan), "non-finite"),
])
def test_bad_study_matrix_names_the_file(tmp_path, matrix, message):
    path = tmp_path / "dissimilarity_matrix.txt"
    np.savetxt(path, matrix, delimiter="\t")
    with pytest.raises(ValueError) as info:
        perception.read_dissimilarity_matrix(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_load_study_refuses_a_negative_matrix(tmp_path):
    folder = synthetic.write_study(tmp_path)
    path = folder / "dissimilarity_matrix.txt"
    values = np.loadtxt(path)
    values[0, 3] = -0.2
    np.savetxt(path, values, delimiter="\t")
    with pytest.raises(ValueError, match="dissimilarity_matrix.txt: negative dissimilarity -0.2"):
        perception.load_study(folder)
