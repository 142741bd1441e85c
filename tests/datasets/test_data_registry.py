"""The registry against the reference data folder, and DataStore's verified lookups."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from safetylens.datasets.fetch import data_roots, import_dir, verify
from safetylens.datasets.registry import DATASETS, GITHUB_RAW, DataStore, get_dataset
from safetylens.errors import DataError
from safetylens.util import sha256_file


def test_every_shared_file_is_registered_with_its_hash_and_size(shared_data_dir: Path) -> None:
    registered: dict[str, tuple[str, int | None]] = {}
    for info in DATASETS.values():
        if info.held_out:
            continue
        for f in info.files:
            # A path shared by several data sets (a license) must be the same file everywhere.
            assert registered.setdefault(f.path, (f.sha256, f.size)) == (f.sha256, f.size), f.path
    on_disk = {
        p.relative_to(shared_data_dir).as_posix(): p
        for p in shared_data_dir.rglob("*")
        if p.is_file() and p.relative_to(shared_data_dir).as_posix() != "README.md"
    }
    assert sorted(on_disk) == sorted(registered), "registry and reference folder list different files"
    for rel, p in on_disk.items():
        sha, size = registered[rel]
        assert sha256_file(p) == sha, rel
        assert p.stat().st_size == size, rel


def test_held_out_labels_are_nowhere_in_the_reference_folder(shared_data_dir: Path) -> None:
    held_out = [info for info in DATASETS.values() if info.held_out]
    assert [info.id for info in held_out] == ["harm-multirater"]
    names = {p.name for p in shared_data_dir.rglob("*") if p.is_file()}
    hashes = {sha256_file(p) for p in shared_data_dir.rglob("*.csv")}
    for info in held_out:
        for f in info.data_files:
            assert not (shared_data_dir / f.path).exists(), f.path
            assert f.name not in names and f.sha256 not in hashes, f.path


def test_every_dataset_is_pinned_to_full_commits_with_license_and_citation() -> None:
    for info in DATASETS.values():
        assert info.is_pinned(), info.id
        # A commit pins GitHub data; data from a released archive is pinned by the archive's hash.
        from_archives = all(f.archive for f in info.files)
        assert re.fullmatch(r"[0-9a-f]{40}", info.commit) or (from_archives and info.commit == ""), info.id
        assert info.license and info.citation and info.version, info.id
        assert info.data_files, info.id
        assert info.license_files, info.id
        for f in info.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), f.path
            assert f.size and f.size > 0, f.path
            assert not f.source_path.startswith("/") and ".." not in f.source_path.split("/"), f.path


def test_urls_follow_the_raw_github_layout() -> None:
    tqa = get_dataset("truthfulqa")
    csv = tqa.file("TruthfulQA.csv")
    assert tqa.url(csv) == (
        "https://raw.githubusercontent.com/sylinrl/TruthfulQA/013686a06be7a7bde5bf8223943e106c7250123c/TruthfulQA.csv"
    )
    assert tqa.url(csv, "https://mirror.example/raw/") == (
        "https://mirror.example/raw/sylinrl/TruthfulQA/013686a06be7a7bde5bf8223943e106c7250123c/TruthfulQA.csv"
    )
    lic = get_dataset("toxigen-safenlp").file("TOXIGEN_LICENSE")
    assert get_dataset("toxigen-safenlp").url(lic).startswith(f"{GITHUB_RAW}/microsoft/TOXIGEN/01517e81")
    xs = get_dataset("xstest")
    prompts = xs.file("xstest_prompts.csv")
    assert xs.urls(prompts)[1].startswith("https://huggingface.co/datasets/Paul/XSTest/resolve/")
    assert xs.urls(prompts, "https://m.example") == [xs.url(prompts, "https://m.example")]


def test_unknown_dataset_and_file() -> None:
    with pytest.raises(DataError, match="known data sets: advbench, bold"):
        get_dataset("nope")
    with pytest.raises(DataError, match="has no file"):
        get_dataset("bold").file("nope.json")


def test_store_uses_safetylens_data_dir(shared_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/conftest.py points SAFETYLENS_DATA_DIR at the reference folder.
    monkeypatch.setenv("SAFETYLENS_HOME", str(tmp_path / "home"))
    store = DataStore()
    assert store.roots == [shared_data_dir, tmp_path / "home" / "data"]
    assert store.path("truthfulqa", "TruthfulQA.csv") == shared_data_dir / "truthfulqa" / "TruthfulQA.csv"
    record = store.verify("holistic-bias")
    assert record.source == "facebookresearch/ResponsibleNLP@0ec714eb084217f44cd9ac466d9e988c795302f9"
    assert record.files == {f.path: f.sha256 for f in get_dataset("holistic-bias").data_files}


def test_store_uses_the_cache_when_no_data_dir(shared_data_dir: Path, home: Path) -> None:
    store = DataStore()
    assert store.roots == [home]
    with pytest.raises(DataError, match="not found") as err:
        store.path("bold", "race_prompt.json")
    assert err.value.hint and "safetylens data fetch bold" in err.value.hint
    import_dir(shared_data_dir, ["bold"])
    assert store.path("bold", "race_prompt.json") == home / "bold" / "race_prompt.json"
    assert store.verify("bold").id == "bold"


def test_corrupt_copy_in_data_dir_falls_back_to_a_verified_cache_copy(
    shared_data_dir: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_dir(shared_data_dir, ["holistic-bias"])
    data_dir = tmp_path / "data_dir"
    bad = data_dir / "holistic_bias" / "descriptors-v1.0.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{}\n")
    monkeypatch.setenv("SAFETYLENS_DATA_DIR", str(data_dir))
    store = DataStore()
    assert store.roots == [data_dir, home]
    assert store.path("holistic-bias", "descriptors-v1.0.json") == home / "holistic_bias" / "descriptors-v1.0.json"
    # With no good copy anywhere the error names the file and both hashes.
    (home / "holistic_bias" / "descriptors-v1.0.json").unlink()
    with pytest.raises(DataError) as err:
        store.path("holistic-bias", "descriptors-v1.0.json")
    expected = get_dataset("holistic-bias").file("descriptors-v1.0.json").sha256
    assert str(bad) in err.value.message
    assert expected in err.value.message
    assert sha256_file(bad) in err.value.message


def test_verify_reports_each_root(shared_data_dir: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFETYLENS_DATA_DIR", str(shared_data_dir))
    import_dir(shared_data_dir, ["holistic-bias"])
    bad = home / "holistic_bias" / "descriptors-v1.1.json"
    bad.write_text("corrupted\n")
    assert [label for label, _ in data_roots()] == ["SAFETYLENS_DATA_DIR", "cache"]
    checks = {c.info.id: c for c in verify(["holistic-bias", "bold"])}
    hb = checks["holistic-bias"]
    assert [r.summary(hb.info) for r in hb.roots] == ["complete", "corrupt"]
    assert hb.usable
    ((path, rel, expected, actual),) = hb.corrupt
    assert (path, rel, actual) == (bad, "holistic_bias/descriptors-v1.1.json", sha256_file(bad))
    assert expected == get_dataset("holistic-bias").file(rel).sha256
    assert [r.summary(checks["bold"].info) for r in checks["bold"].roots] == ["complete", "absent"]
    # Size-only check is quick and still catches the wrong size.
    fast = verify(["holistic-bias"], hashes=False)[0]
    assert [r.summary(fast.info) for r in fast.roots] == ["complete", "corrupt"]


def test_partial_install_is_not_usable(shared_data_dir: Path, home: Path) -> None:
    (home / "bold").mkdir(parents=True)
    shutil.copyfile(shared_data_dir / "bold" / "race_prompt.json", home / "bold" / "race_prompt.json")
    (check,) = verify(["bold"])
    assert check.installed and not check.usable
    assert check.roots[0].summary(check.info) == "partial 1/5"
