"""import_dir() with complete, partial and corrupt local copies of the reference data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from safetylens.datasets.fetch import import_dir
from safetylens.datasets.registry import DataStore, get_dataset
from safetylens.errors import DataError
from safetylens.util import sha256_file


def _copy(shared: Path, dest: Path, paths: list[str]) -> None:
    for p in paths:
        (dest / p).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / p, dest / p)


def test_import_complete_copy(shared_data_dir: Path, home: Path) -> None:
    report = import_dir(shared_data_dir, ["bold", "holistic-bias"])
    assert report.root == home
    assert [d.status for d in report.datasets] == ["complete", "complete"]
    for d in report.datasets:
        info = get_dataset(d.dataset_id)
        assert {o.status for o in d.files} == {"installed"}
        for f in info.files:
            assert sha256_file(home / f.path) == f.sha256
    assert not list(home.rglob("*.part"))
    # Importing again copies nothing.
    again = import_dir(shared_data_dir, ["bold"])
    assert {o.status for o in again.datasets[0].files} == {"present"}
    # And the store reads from the cache.
    assert DataStore().path("bold", "race_prompt.json") == home / "bold" / "race_prompt.json"


def test_import_all_reports_every_registered_dataset(shared_data_dir: Path, home: Path) -> None:
    report = import_dir(shared_data_dir)
    assert {d.dataset_id: d.status for d in report.datasets} == dict.fromkeys(
        [
            "advbench",
            "bold",
            "donotanswer",
            "harm-calibration",
            "harmbench",
            "holistic-bias",
            "implicithate-safenlp",
            "refusal-calibration",
            "simplesafetytests",
            "toxigen-prompts",
            "toxigen-safenlp",
            "truthfulqa",
            "truthfulqa-2025",
            "truthfulqa-judge-labels",
            "xstest",
            "xstest-labels",
        ],
        "complete",
    ) | {"harm-multirater": "absent"}  # held out: never in the reference folder


def test_import_partial_copy_installs_what_is_there(shared_data_dir: Path, home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _copy(shared_data_dir, src, ["bold/race_prompt.json", "bold/gender_prompt.json"])
    report = import_dir(src, ["bold", "truthfulqa"])
    bold, tqa = report.datasets
    assert bold.status == "partial"
    assert sorted(f.path for f in bold.missing) == [
        "bold/political_ideology_prompt.json",
        "bold/profession_prompt.json",
        "bold/religious_ideology_prompt.json",
    ]
    assert sorted(f.path for f in bold.installed) == ["bold/gender_prompt.json", "bold/race_prompt.json"]
    assert tqa.status == "absent"
    assert sha256_file(home / "bold" / "race_prompt.json") == get_dataset("bold").file("race_prompt.json").sha256
    assert not (home / "bold" / "profession_prompt.json").exists()
    assert not (home / "truthfulqa").exists()


def test_missing_license_file_does_not_make_a_copy_partial(shared_data_dir: Path, home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    info = get_dataset("holistic-bias")
    _copy(shared_data_dir, src, [f.path for f in info.data_files])
    (item,) = import_dir(src, ["holistic-bias"]).datasets
    assert item.status == "complete"
    assert [f.status for f in item.files if f.kind == "license"] == ["missing"]


def test_import_corrupt_copy_reports_both_hashes_and_keeps_the_good_file(
    shared_data_dir: Path, home: Path, tmp_path: Path
) -> None:
    info = get_dataset("xstest")
    import_dir(shared_data_dir, ["xstest"])  # a verified copy is installed first
    src = tmp_path / "src"
    _copy(shared_data_dir, src, [f.path for f in info.files])
    bad = src / "xstest" / "xstest_prompts.csv"
    bad.write_bytes(bad.read_bytes().replace(b"kill", b"k1ll", 1))
    bad_hash = sha256_file(bad)
    (item,) = import_dir(src, ["xstest"]).datasets
    assert item.status == "corrupt"
    (c,) = item.corrupt
    f = info.file("xstest_prompts.csv")
    assert (c.path, c.expected, c.actual) == (f.path, f.sha256, bad_hash)
    # The verified installed copy was not replaced.
    assert sha256_file(home / f.path) == f.sha256
    # The other files are fine.
    assert {o.status for o in item.files if o.path != f.path} == {"present"}


def test_corrupt_file_is_not_installed_when_nothing_was_there(
    shared_data_dir: Path, home: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _copy(shared_data_dir, src, ["truthfulqa/TruthfulQA.csv", "truthfulqa/mc_task.json"])
    (src / "truthfulqa" / "mc_task.json").write_text("[]\n")
    (item,) = import_dir(src, ["truthfulqa"]).datasets
    assert item.status == "corrupt"
    assert not (home / "truthfulqa" / "mc_task.json").exists()
    assert (home / "truthfulqa" / "TruthfulQA.csv").is_file()


def test_import_into_itself_is_a_no_op(shared_data_dir: Path, home: Path) -> None:
    import_dir(shared_data_dir, ["holistic-bias"])
    (item,) = import_dir(home, ["holistic-bias"]).datasets
    assert item.status == "complete"
    assert {o.status for o in item.files} == {"present"}


def test_import_errors(home: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a directory"):
        import_dir(tmp_path / "nope")
    with pytest.raises(DataError, match="unknown data set"):
        import_dir(tmp_path, ["nope"])
    report = import_dir(tmp_path)
    assert {d.status for d in report.datasets} == {"absent"}
