"""pipeline.data: named UCI configs, the CSV loader's validation, synthetic data, download."""

from __future__ import annotations

import hashlib
import importlib
import logging
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import PROJECT_ROOT
from pipeline import data as datasets
from pipeline.data import Dataset, dataset_config, downloads, load_dataset, make_synthetic
from pipeline.data.__main__ import main as data_main
from pipeline.data.downloads import SOURCES
from pipeline.data.options import TABLE_DEFAULTS
from pipeline.defaults import CONF_DIR
from pipeline.errors import DatasetError, DownloadError

pytestmark = pytest.mark.usefixtures("clean_data_env")

CONF = CONF_DIR / "dataset"


def named(name: str, directory: Path, **overrides) -> Dataset:
    return load_dataset(dataset_config(name, data_dir=str(directory), **overrides))


def csv_cfg(path: Path, **keys) -> dict:
    return {"name": "csv", "path": str(path), "target": "outcome", **keys}


# --------------------------------------------------------------------------- #
# Named configs on the reference copies
# --------------------------------------------------------------------------- #

# name: rows, positives, numeric, categorical, class_names, missing cells
EXPECTED = {
    "pima": (768, 268, 8, 0, ["0", "1"], 652),
    "heart_cleveland": (303, 139, 9, 4, ["absent", "present"], 6),
    "ckd": (400, 250, 14, 10, ["notckd", "ckd"], 1012),
    "ilpd": (583, 416, 9, 1, ["no_liver_disease", "liver_disease"], 4),
    "hepatitis": (155, 32, 19, 0, ["lived", "died"], 167),
    "parkinsons": (195, 147, 22, 0, ["0", "1"], 0),
    "cervical": (858, 55, 32, 0, ["0", "1"], 3622),
    "wdbc": (569, 212, 30, 0, ["benign", "malignant"], 0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_config_loads_reference_copy(name, shared_datasets_dir):
    rows, positives, n_numeric, n_categorical, classes, missing = EXPECTED[name]
    ds = named(name, shared_datasets_dir)
    assert ds.name == name and ds.task == "binary"
    assert ds.X.shape[0] == len(ds.y) == rows
    assert int(ds.y.sum()) == positives
    assert (len(ds.numeric), len(ds.categorical)) == (n_numeric, n_categorical)
    assert ds.class_names == classes
    assert int(ds.X.isna().sum().sum()) == missing
    assert ds.y.dtype == np.int64 and set(np.unique(ds.y)) == {0, 1}
    assert all(ds.X[c].dtype == np.float64 for c in ds.numeric)
    assert ds.source.endswith(SOURCES[name].file)
    assert len(ds.fingerprint) == 64


def test_cleveland_parenthesized_header_and_question_marks(shared_datasets_dir):
    ds = named("heart_cleveland", shared_datasets_dir)
    assert list(ds.X.columns)[:3] == ["age", "sex", "cp"]
    assert "num" not in ds.X and not any("(" in c for c in ds.X.columns)
    assert ds.categorical == ["cp", "restecg", "slope", "thal"]
    assert ds.X["ca"].isna().sum() == 4 and ds.X["thal"].isna().sum() == 2
    assert set(ds.X["thal"].dropna()) == {"3", "6", "7"}  # codes, not "3.0"


def test_ckd_stray_spaces_are_stripped(shared_datasets_dir):
    ds = named("ckd", shared_datasets_dir)
    assert set(ds.X["dm"].dropna()) == {"yes", "no"}
    assert all(set(ds.X[c].dropna()) <= {"normal", "abnormal", "present", "notpresent", "yes",
                                         "no", "good", "poor"} for c in ds.categorical)


def test_pima_zeros_become_missing_only_where_configured(shared_datasets_dir):
    ds = named("pima", shared_datasets_dir)
    counts = ds.X.isna().sum().to_dict()
    assert counts == {"NumTimesPrg": 0, "PlGlcConc": 5, "BloodP": 35, "SkinThick": 227,
                      "TwoHourSerIns": 374, "BMI": 11, "DiPedFunc": 0, "Age": 0}
    assert (ds.X["NumTimesPrg"] == 0).sum() > 100  # zero pregnancies is a real value


def test_parkinsons_subjects_and_distinct_names(shared_datasets_dir):
    ds = named("parkinsons", shared_datasets_dir)
    assert "name" not in ds.X and "status" not in ds.X
    assert {"MDVP_Jitter_pct", "MDVP_Jitter_Abs", "MDVP_Shimmer", "MDVP_Shimmer_dB"} <= set(ds.X)
    per_subject = pd.Series(ds.groups).value_counts()
    assert len(per_subject) == 32 and set(per_subject) <= {6, 7}
    assert ds.groups[0] == "S01"


def test_parkinsons_duplicate_header_is_refused_without_column_names(shared_datasets_dir):
    with pytest.raises(DatasetError, match=r"duplicate column names.*'MDVPJitter' at positions"):
        named("parkinsons", shared_datasets_dir, column_names=None)


def test_cervical_leaky_screening_columns_dropped_by_default(shared_datasets_dir):
    ds = named("cervical", shared_datasets_dir)
    assert not {"Hinselmann", "Schiller", "Cytology", "Biopsy"} & set(ds.X)
    leaky = named("cervical", shared_datasets_dir, drop=[])
    assert {"Hinselmann", "Schiller", "Cytology"} <= set(leaky.X)


def test_hepatitis_question_marks_and_names(shared_datasets_dir):
    ds = named("hepatitis", shared_datasets_dir)
    assert ds.X["protime"].isna().sum() == 67
    assert "V1" not in ds.X and "age" in ds.X


def test_wdbc_file_matches_sklearn_bundled_copy(shared_datasets_dir):
    from_file = named("wdbc", shared_datasets_dir)
    bundled = load_dataset({"name": "breast_cancer"})
    assert "ID" not in from_file.X
    np.testing.assert_allclose(from_file.X.to_numpy(), bundled.X.to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(from_file.y, bundled.y)


def test_checksums_in_code_match_reference_md5sums(shared_datasets_dir):
    listed = dict(line.split()[::-1] for line in (shared_datasets_dir / "MD5SUMS").read_text().splitlines())
    for name, source in SOURCES.items():
        assert listed[source.file] == source.md5, name
        data = (shared_datasets_dir / source.file).read_bytes()
        assert hashlib.md5(data).hexdigest() == source.md5, name


def test_breast_cancer_malignant_is_positive():
    ds = load_dataset({"name": "breast_cancer"})
    assert ds.X.shape == (569, 30) and int(ds.y.sum()) == 212
    assert ds.class_names == ["benign", "malignant"]
    assert ds.source == "sklearn:load_breast_cancer" and ds.groups is None


# --------------------------------------------------------------------------- #
# Config files
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_dataset_yaml_is_complete_and_commented(path):
    keyed = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert all("#" in line for line in keyed if line != "defaults:"), "every key needs a comment"
    if path.stem.startswith("_"):
        return
    cfg = dataset_config(path.stem)
    assert cfg["name"] == path.stem and cfg["name"] in datasets.LOADERS
    if datasets.LOADERS[cfg["name"]] is datasets.load_table:
        assert set(cfg) == set(TABLE_DEFAULTS)
        own = yaml.safe_load(path.read_text())
        same = {k for k, v in own.items() if k not in ("name", "defaults") and TABLE_DEFAULTS[k] == v}
        assert not same, f"{path.name} repeats defaults of _table.yaml: {sorted(same)}"


def test_csv_yaml_marks_required_values():
    cfg = dataset_config("csv")
    assert cfg["path"] == "???" and cfg["target"] == "???"
    with pytest.raises(DatasetError, match=r"dataset.path is required"):
        load_dataset(cfg)


def test_named_configs_point_at_their_download_file():
    for name, source in SOURCES.items():
        assert dataset_config(name)["path"] == source.file


def test_unknown_key_is_refused_with_suggestion(write_table):
    path = write_table("x,outcome\n1,0\n2,1\n")
    with pytest.raises(DatasetError, match=r"dataset.postive_label.*Did you mean 'positive_label'"):
        load_dataset(csv_cfg(path, postive_label=1))


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match=r"dataset.name='pimaa'.*Did you mean 'pima'"):
        load_dataset({"name": "pimaa"})


# --------------------------------------------------------------------------- #
# Data directory
# --------------------------------------------------------------------------- #


def test_data_dir_is_relative_to_project_root_not_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert datasets.data_dir("data/raw") == PROJECT_ROOT / "data" / "raw"


def test_environment_variable_overrides_data_dir(tmp_path, monkeypatch, shared_datasets_dir):
    monkeypatch.setenv("BIOTAB_DATA_DIR", str(shared_datasets_dir))
    ds = load_dataset(dataset_config("pima", data_dir=str(tmp_path / "elsewhere")))
    assert ds.X.shape[0] == 768


def test_missing_named_file_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(dataset_config("heart_cleveland", data_dir=str(tmp_path)))
    message = str(info.value)
    assert isinstance(info.value, DatasetError)
    assert "make data" in message and "cleveland.csv" in message and str(tmp_path) in message
    assert "BIOTAB_DATA_DIR" in message


def test_missing_csv_names_the_key(tmp_path):
    with pytest.raises(DatasetError, match=r"not found \(from dataset.path='nope.csv'"):
        load_dataset({"name": "csv", "path": "nope.csv", "target": "y", "data_dir": str(tmp_path)})


# --------------------------------------------------------------------------- #
# CSV loader: formats and cleaning
# --------------------------------------------------------------------------- #


def test_whitespace_in_headers_and_values_is_stripped(write_table):
    path = write_table(" age , smoker ,outcome \n 50, yes ,1\n61,no ,0\n70,\tyes,1\n")
    ds = load_dataset(csv_cfg(path, positive_label=1))
    assert list(ds.X) == ["age", "smoker"]
    assert ds.X["smoker"].tolist() == ["yes", "no", "yes"]
    assert ds.numeric == ["age"] and ds.categorical == ["smoker"]


def test_categorical_codes_lose_only_a_zero_fraction(write_table):
    path = write_table("grade,icd,outcome\n1.0,007,0\n2,010,1\n2.0,007,0\n")
    ds = load_dataset(csv_cfg(path, categorical=["grade", "icd"]))
    assert ds.X["grade"].tolist() == ["1", "2", "2"]
    assert ds.X["icd"].tolist() == ["007", "010", "007"]  # leading zeros can matter in codes


def test_na_markers_and_custom_marker(write_table):
    path = write_table("a,b,outcome\n1,?,0\nNA,2,1\n,-999,0\n4,5,1\n")
    ds = load_dataset(csv_cfg(path, na_values=["", "NA", "?", "-999"]))
    assert ds.X.isna().sum().tolist() == [2, 2]


def test_tsv_semicolon_parquet_and_headerless(tmp_path, write_table):
    tsv = write_table("a\tb\toutcome\n1\tx\t0\n2\ty\t1\n", "t.tsv")
    semi = write_table("a;b;outcome\n1;x;0\n2;y;1\n", "s.csv")
    bare = write_table("1,x,0\n2,y,1\n", "bare.csv")
    parquet = tmp_path / "p.parquet"
    pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "outcome": [0, 1]}).to_parquet(parquet)
    loaded = [
        load_dataset(csv_cfg(tsv)),
        load_dataset(csv_cfg(semi, delimiter=";")),
        load_dataset(csv_cfg(bare, header=False, column_names=["a", "b", "outcome"])),
        load_dataset(csv_cfg(parquet)),
    ]
    for ds in loaded:
        assert ds.numeric == ["a"] and ds.categorical == ["b"] and ds.y.tolist() == [0, 1]
    assert len({ds.fingerprint for ds in loaded}) == 1  # same table, same fingerprint


def test_id_group_and_drop_columns_are_not_features(write_table):
    path = write_table(
        "rid,visit,x,leak,outcome\nr1,P01-a,1,0,0\nr2,P01-b,2,1,1\nr3,P02-a,3,0,0\nr4,P02-b,4,1,1\n"
    )
    ds = load_dataset(csv_cfg(path, id_column="rid", group_column="visit",
                              group_pattern=r"^(P\d+)-", drop=["leak"]))
    assert list(ds.X) == ["x"]
    assert ds.groups.tolist() == ["P01", "P01", "P02", "P02"]


def test_multiclass_and_regression_targets(write_table):
    path = write_table("x,outcome\n1,low\n2,mid\n3,high\n4,mid\n")
    ds = load_dataset(csv_cfg(path))
    assert ds.task == "multiclass" and ds.class_names == ["high", "low", "mid"]
    assert ds.y.tolist() == [1, 2, 0, 2]
    rows = "\n".join(f"{i},{i * 1.5 + 0.25}" for i in range(20))
    reg = load_dataset(csv_cfg(write_table("x,outcome\n" + rows + "\n", "r.csv")))
    assert reg.task == "regression" and reg.y.dtype == np.float64 and reg.class_names == []


def test_label_map_merges_grades(write_table):
    path = write_table("x,outcome\n1,0\n2,1\n3,2\n4,4\n")
    ds = load_dataset(csv_cfg(path, label_map={0: "absent", 1: "present", 2: "present",
                                               4: "present"}, positive_label="present"))
    assert ds.y.tolist() == [0, 1, 1, 1] and ds.class_names == ["absent", "present"]


def test_fingerprint_changes_with_one_value(write_table):
    first = load_dataset(csv_cfg(write_table("x,outcome\n1,0\n2,1\n", "a.csv")))
    again = load_dataset(csv_cfg(write_table("x,outcome\n1,0\n2,1\n", "b.csv")))
    changed = load_dataset(csv_cfg(write_table("x,outcome\n1,0\n2.5,1\n", "c.csv")))
    assert first.fingerprint == again.fingerprint != changed.fingerprint


def test_summary_has_counts_only(shared_datasets_dir):
    summary = named("parkinsons", shared_datasets_dir).summary()
    assert summary == {"name": "parkinsons", "rows": 195, "numeric": 22, "categorical": 0,
                       "task": "binary", "missing_cells": 0, "class_counts": {"0": 48, "1": 147},
                       "groups": 32}


# --------------------------------------------------------------------------- #
# Validation errors: each message names what, where and what to do
# --------------------------------------------------------------------------- #


def test_empty_file(write_table):
    with pytest.raises(DatasetError, match=r"table.csv is empty \(0 bytes\)"):
        load_dataset(csv_cfg(write_table("")))


def test_header_without_rows(write_table):
    with pytest.raises(DatasetError, match=r"table.csv has a header but no data rows"):
        load_dataset(csv_cfg(write_table("x,outcome\n")))


def test_target_absent_suggests_close_match(write_table):
    path = write_table("x,Outcome_\n1,0\n2,1\n")
    with pytest.raises(DatasetError, match=r"target column 'outcome' \(dataset.target\) is not in "
                                           r".*table.csv\. Did you mean 'Outcome_'\?"):
        load_dataset(csv_cfg(path))


def test_target_with_one_class(write_table):
    path = write_table("x,outcome\n1,1\n2,1\n3,\n")
    with pytest.raises(DatasetError, match=r"target column 'outcome' in .* has only one class "
                                           r"\('1'\).*at least two"):
        load_dataset(csv_cfg(path))


def test_more_classes_than_binary_allows(write_table):
    path = write_table("x,outcome\n1,0\n2,1\n3,2\n")
    with pytest.raises(DatasetError, match=r"has 3 classes \['0', '1', '2'\] but dataset.task is "
                                           r"binary: merge them .* dataset.label_map"):
        load_dataset(csv_cfg(path, task="binary"))


def test_more_classes_than_multiclass_allows(write_table):
    rows = "\n".join(f"{i},c{i}" for i in range(60))
    with pytest.raises(DatasetError, match=r"60 distinct values, more than the 50 classes .* "
                                           r"dataset.task=regression"):
        load_dataset(csv_cfg(write_table("x,outcome\n" + rows + "\n"), task="multiclass"))


def test_positive_label_not_present(write_table):
    path = write_table("x,outcome\n1,yes\n2,no\n")
    with pytest.raises(DatasetError, match=r"dataset.positive_label='Yes' is not a class of target "
                                           r"column 'outcome'.*\['no', 'yes'\]"):
        load_dataset(csv_cfg(path, positive_label="Yes"))


def test_positive_label_needed_for_non_01_labels(write_table):
    path = write_table("x,outcome\n1,1\n2,2\n")
    with pytest.raises(DatasetError, match=r"set dataset.positive_label"):
        load_dataset(csv_cfg(path))


def test_missing_target_rows_dropped_with_count(write_table, caplog):
    path = write_table("x,outcome\n1,0\n2,?\n3,1\n4,\n5,0\n")
    with caplog.at_level(logging.WARNING, logger="pipeline.data"):
        ds = load_dataset(csv_cfg(path))
    assert ds.X["x"].tolist() == [1.0, 3.0, 5.0]
    assert "dropped 2 row(s) with a missing target 'outcome' (lines 3, 5)" in caplog.text


def test_missing_target_rows_error_when_configured(write_table):
    path = write_table("x,outcome\n1,0\n2,?\n3,1\n")
    with pytest.raises(DatasetError, match=r"missing on 1 row\(s\) \(lines 3\).*"
                                           r"dataset.missing_target=drop"):
        load_dataset(csv_cfg(path, missing_target="error"))


def test_junk_in_declared_numeric_column_shows_examples(write_table):
    path = write_table("age,sex,outcome\n50,m,0\nunknown,f,1\n61,m,0\n>90,f,1\nn/a,m,0\nx,f,1\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(csv_cfg(path, categorical=["sex"]))
    message = str(info.value)
    assert "column 'age'" in message and "table.csv" in message
    assert "4 non-numeric value(s), e.g. ['unknown', '>90', 'n/a']" in message
    assert "dataset.na_values" in message and "dataset.categorical" in message


def test_junk_in_inferred_numeric_column(write_table):
    path = write_table("bmi,outcome\n22.5,0\n31.0,1\n-,0\n27.1,1\n")
    with pytest.raises(DatasetError, match=r"column 'bmi' .* 1 non-numeric value\(s\), e.g. \['-'\]"):
        load_dataset(csv_cfg(path))


def test_infinite_values(write_table):
    path = write_table("x,outcome\n1,0\ninf,1\n3,0\n-inf,1\n")
    with pytest.raises(DatasetError, match=r"column 'x' in .* has 2 infinite value\(s\) "
                                           r"\(data rows \[1, 3\]\).*dataset.na_values"):
        load_dataset(csv_cfg(path))


def test_duplicate_column_names(write_table):
    path = write_table("x,y,x,outcome\n1,2,3,0\n4,5,6,1\n")
    with pytest.raises(DatasetError, match=r"duplicate column names in .*table.csv: 'x' at positions "
                                           r"\[1, 3\].*dataset.column_names"):
        load_dataset(csv_cfg(path))


def test_identifier_like_column_is_refused_naming_the_choices(write_table):
    rows = "\n".join(f"patient-{i:03d},{i},{i % 2}" for i in range(12))
    with pytest.raises(DatasetError) as info:
        load_dataset(csv_cfg(write_table("pid,x,outcome\n" + rows + "\n")))
    message = str(info.value)
    assert "column 'pid'" in message and "looks like an identifier" in message
    assert "12 distinct values in 12 rows" in message
    assert all(key in message for key in ("dataset.id_column", "dataset.drop", "dataset.categorical"))
    assert "patient-0" not in message


def test_declared_column_missing_from_file(write_table):
    path = write_table("age,outcome\n1,0\n2,1\n")
    with pytest.raises(DatasetError, match=r"column 'Age ' listed in dataset.drop is not in .*"
                                           r"Did you mean 'age'"):
        load_dataset(csv_cfg(path, drop=["Age "]))


def test_unmapped_label(write_table):
    path = write_table("x,outcome\n1,0\n2,1\n3,9\n")
    with pytest.raises(DatasetError, match=r"label\(s\) \['9'\] that dataset.label_map does not map"):
        load_dataset(csv_cfg(path, label_map={0: "no", 1: "yes"}, positive_label="yes"))


def test_group_pattern_must_match(write_table):
    path = write_table("visit,x,outcome\nP01-a,1,0\nbad,2,1\n")
    with pytest.raises(DatasetError, match=r"group_pattern.*does not match column 'visit'.*lines 3"):
        load_dataset(csv_cfg(path, group_column="visit", group_pattern=r"^(P\d+)-"))


def test_ragged_rows(write_table):
    path = write_table("x,outcome\n1,0\n2,1,7\n")
    with pytest.raises(DatasetError, match=r"cannot parse .*Expected 2 fields.*dataset.delimiter"):
        load_dataset(csv_cfg(path))


def test_wrong_number_of_column_names(write_table):
    path = write_table("x,outcome\n1,0\n2,1\n")
    with pytest.raises(DatasetError, match=r"dataset.column_names lists 3 names but .* has 2 columns"):
        load_dataset(csv_cfg(path, column_names=["a", "b", "c"]))


def test_zero_as_missing_on_categorical(write_table):
    path = write_table("grade,outcome\na,0\nb,1\n")
    with pytest.raises(DatasetError, match=r"'grade'.*zero_as_missing but is categorical"):
        load_dataset(csv_cfg(path, zero_as_missing=["grade"]))


def test_encoding_error_suggests_setting_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("x,sex,outcome\n1,f\xe9minin,0\n2,m,1\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"not valid utf-8-sig text.*dataset.encoding"):
        load_dataset(csv_cfg(path))
    assert load_dataset(csv_cfg(path, encoding="latin-1")).X["sex"][0] == "féminin"


# --------------------------------------------------------------------------- #
# Synthetic cohort
# --------------------------------------------------------------------------- #


def test_synthetic_is_seeded_and_shaped():
    a = make_synthetic(n_rows=5000, n_numeric=5, n_categorical=3, missing_rate=0.2,
                       positive_rate=0.2, seed=3)
    b = load_dataset({"name": "synthetic", "n_rows": 5000, "n_numeric": 5, "n_categorical": 3,
                      "missing_rate": 0.2, "positive_rate": 0.2, "seed": 3})
    c = make_synthetic(n_rows=5000, n_numeric=5, n_categorical=3, seed=4)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.X.shape == (5000, 8) and len(a.numeric) == 5 and len(a.categorical) == 3
    assert abs(a.X.isna().to_numpy().mean() - 0.2) < 0.01
    assert abs(a.y.mean() - 0.2) < 0.02


def test_synthetic_interaction_favours_an_mlp():
    from sklearn.metrics import roc_auc_score

    from pipeline.estimators import NeuralNetClassifier
    from pipeline.preprocessing import build_preprocessor
    from pipeline.splits import outer_splits

    ds = make_synthetic(n_rows=3000, seed=1)
    train, test = outer_splits({"name": "holdout"}, ds.y, None, seed=0)[0]
    pre = build_preprocessor({}, ds.numeric, ds.categorical)
    X_train, X_test = pre.fit_transform(ds.X.iloc[train]), pre.transform(ds.X.iloc[test])
    aurocs = {}
    for hidden in [(), (16,)]:
        model = NeuralNetClassifier(hidden_layer_sizes=hidden, l2=1e-3, learning_rate=0.01,
                                    batch_size=128, max_epochs=60, random_state=0)
        model.fit(X_train, ds.y[train])
        aurocs[hidden] = roc_auc_score(ds.y[test], model.predict_proba(X_test)[:, 1])
    assert aurocs[(16,)] > aurocs[()] + 0.05


@pytest.mark.slow
def test_synthetic_scales_to_a_million_rows():
    ds = make_synthetic(n_rows=1_000_000, seed=0)
    assert ds.X.shape == (1_000_000, 10) and abs(ds.y.mean() - 0.3) < 0.01


def test_synthetic_rejects_bad_arguments():
    with pytest.raises(DatasetError, match=r"dataset.positive_rate must be in \(0, 1\)"):
        make_synthetic(positive_rate=1.5)


# --------------------------------------------------------------------------- #
# Download (make data) -- never a real network call
# --------------------------------------------------------------------------- #


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def test_download_without_network_fails_fast_and_says_where(tmp_path, caplog):
    status = data_main(["download", "pima", "ckd", "--data-dir", str(tmp_path),
                            "--mirror", closed_port_url(), "--timeout", "2"])
    assert status != 0
    text = caplog.text
    assert "cannot reach http://127.0.0.1" in text and "No network?" in text
    assert str(tmp_path / "pima-indians-diabetes.csv") in text
    assert str(tmp_path / "chronic_kidney_disease.csv") in text
    assert not list(tmp_path.glob("*.csv"))


def test_download_from_mirror_verifies_checksums(tmp_path, shared_datasets_dir):
    paths = downloads.download(["pima", "parkinsons"], tmp_path, mirror=shared_datasets_dir.as_uri())
    assert [p.name for p in paths] == ["pima-indians-diabetes.csv", "parkinsons.csv"]
    assert named("pima", tmp_path).X.shape == (768, 8)
    assert downloads.download(["pima"], tmp_path, mirror="http://127.0.0.1:9")  # present: no fetch


def test_download_rejects_a_corrupted_file(tmp_path, shared_datasets_dir):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    original = (shared_datasets_dir / "cleveland.csv").read_bytes()
    (mirror / "cleveland.csv").write_bytes(original.replace(b"63.0", b"64.0", 1))
    target = tmp_path / "raw"
    with pytest.raises(DownloadError, match=r"MD5 of the fetched file is .*expected "
                                            r"0c31842219a49d6c5f9450a4e28a7a05"):
        downloads.download(["heart_cleveland"], target, mirror=mirror.as_uri())
    assert not (target / "cleveland.csv").exists()
    assert (target / "cleveland.csv.unverified").exists()


def test_download_source_without_automatic_fetch(tmp_path):
    with pytest.raises(DownloadError, match=r"ckd: no automatic download: UCI distributes it as an "
                                            r"ARFF.*put it at .*chronic_kidney_disease.csv"):
        downloads.download(["ckd"], tmp_path)


@pytest.mark.parametrize("name", [n for n, s in SOURCES.items() if s.header_mode])
def test_conversion_rebuilds_reference_layout(name, shared_datasets_dir):
    """Headerless LF originals + the stored header give back the reference bytes."""
    source = SOURCES[name]
    reference = (shared_datasets_dir / source.file).read_bytes()
    lines = reference.replace(b"\r\n", b"\n").split(b"\n")
    first = b"name,MDVP:Fo(Hz),..." if source.header_mode == "replace" else None
    original = b"\n".join(([first] if first else []) + lines[1:])
    assert hashlib.md5(downloads._convert(original, source)).hexdigest() == source.md5


def test_unknown_download_name(tmp_path):
    with pytest.raises(DownloadError, match=r"no download source for \['pimma'\].*'pima'"):
        downloads.download(["pimma"], tmp_path)


def test_info_command_prints_counts(shared_datasets_dir, caplog):
    with caplog.at_level(logging.INFO):
        assert data_main(["info", "ilpd", "--data-dir", str(shared_datasets_dir)]) == 0
    assert "rows         583" in caplog.text


def test_cli_error_has_no_traceback(tmp_path, caplog):
    assert data_main(["info", "pima", "--data-dir", str(tmp_path)]) == 1
    assert "error: data file" in caplog.text and "Traceback" not in caplog.text


# --------------------------------------------------------------------------- #
# End to end: our LR and MLP against the scikit-learn reference (README protocol)
# --------------------------------------------------------------------------- #


def _bench_module(monkeypatch):
    # Imported by name (not from a file spec) so joblib's worker processes can import it too.
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "bench"))
    return importlib.import_module("bench_reference_auroc")


@pytest.mark.slow
def test_reference_auroc_within_001_of_readme(shared_datasets_dir, monkeypatch):
    bench = _bench_module(monkeypatch)
    shortfalls = {}
    for case in bench.CASES:
        grouped = case.split.get("respect_groups", True) and case.dataset == "parkinsons"
        # README's grouped folds are not reproducible (its grouping seed is not given):
        # compare that case with the scikit-learn reference fitted on our own folds.
        kinds = bench.MODELS if grouped else ("ours_lr", "ours_mlp")
        res = bench.evaluate(case, shared_datasets_dir, kinds=kinds, n_repeats=3, jobs=2)
        ref_lr = res["ref_lr"].mean() if grouped else case.readme_lr
        ref_mlp = res["ref_mlp"].mean() if grouped else case.readme_mlp
        for label, ours, ref in [("LR", res["ours_lr"].mean(), ref_lr),
                                 ("MLP", res["ours_mlp"].mean(), ref_mlp)]:
            if ours < ref - 0.01:
                shortfalls[f"{case.label} {label}"] = (round(ours, 3), ref)
    assert not shortfalls, f"more than 0.01 below the reference: {shortfalls}"
