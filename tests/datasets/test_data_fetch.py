"""fetch() against a real HTTP server on 127.0.0.1 serving copies of the reference files."""

from __future__ import annotations

import contextlib
import re
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _data_mirror import Mirror

from safetylens.datasets import registry
from safetylens.datasets.fetch import FetchError, fetch, fetch_many
from safetylens.datasets.registry import DataFile, DatasetInfo, DataStore
from safetylens.errors import ConfigError
from safetylens.util import sha256_file


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")] if root.exists() else []


def test_fetch_installs_every_file_verified(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    report = fetch("holistic-bias", mirror=mirror.url)
    assert report.root == home
    assert [o.status for o in report.files] == ["downloaded"] * 3
    assert report.files[0].url == f"{mirror.url}{mirror.url_path(info, report.files[0].path)}"
    for f in info.files:
        installed = home / f.path
        assert sha256_file(installed) == f.sha256
        assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    assert not _leftovers(home)
    # The data store finds the verified copies in the cache.
    path = DataStore().path("holistic-bias", "descriptors-v1.1.json")
    assert path == home / "holistic_bias" / "descriptors-v1.1.json"


def test_second_fetch_skips_verified_files_and_force_downloads_again(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    fetch("holistic-bias", mirror=mirror.url)
    again = fetch("holistic-bias", mirror=mirror.url)
    assert [o.status for o in again.files] == ["present"] * 3
    assert mirror.hits(info, "descriptors-v1.0.json") == 1
    forced = fetch("holistic-bias", mirror=mirror.url, force=True)
    assert [o.status for o in forced.files] == ["downloaded"] * 3
    assert mirror.hits(info, "descriptors-v1.0.json") == 2


def test_mirror_from_environment(mirror: Mirror, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror.add("truthfulqa-2025")
    monkeypatch.setenv("SAFETYLENS_DATA_MIRROR", mirror.url + "/")
    report = fetch("truthfulqa-2025")
    assert all(o.url and o.url.startswith(mirror.url + "/sylinrl/TruthfulQA/") for o in report.files)
    assert (home / "truthfulqa" / "TruthfulQA-2025.csv").is_file()


def test_dest_root_and_per_file_source_repo(mirror: Mirror, home: Path, tmp_path: Path) -> None:
    # safenlp/TOXIGEN_LICENSE comes from microsoft/TOXIGEN, not microsoft/SafeNLP.
    info = mirror.add("toxigen-safenlp")
    assert mirror.url_path(info, "TOXIGEN_LICENSE").startswith("/microsoft/TOXIGEN/")
    dest = tmp_path / "elsewhere"
    fetch("toxigen-safenlp", dest_root=dest, mirror=mirror.url)
    for f in info.files:
        assert sha256_file(dest / f.path) == f.sha256
    assert not (home / "safenlp").exists()


def test_checksum_mismatch_is_a_clear_error_and_installs_nothing_bad(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    served = mirror.file_path(info, "descriptors-v1.1.json")
    served.write_bytes(served.read_bytes().replace(b"Deaf", b"deaf", 1))
    bad_hash = sha256_file(served)
    with pytest.raises(FetchError) as err:
        fetch("holistic-bias", mirror=mirror.url, retries=0)
    msg = str(err.value)
    f = info.file("descriptors-v1.1.json")
    assert "holistic_bias/descriptors-v1.1.json" in msg
    assert f"{mirror.url}{mirror.url_path(info, f.path)}" in msg
    assert f"expected sha256 {f.sha256}" in msg
    assert f"got {bad_hash}" in msg
    assert err.value.hint and "import" in err.value.hint
    assert not (home / f.path).exists()
    assert not _leftovers(home)
    # The good files of the same data set are installed and verified.
    statuses = {o.path: o.status for o in err.value.report.files}
    assert statuses == {
        "holistic_bias/descriptors-v1.0.json": "downloaded",
        "holistic_bias/descriptors-v1.1.json": "failed",
        "holistic_bias/LICENSE": "downloaded",
    }


def test_bad_download_never_replaces_a_verified_file(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    fetch("holistic-bias", mirror=mirror.url)
    f = info.file("descriptors-v1.0.json")
    mirror.file_path(info, f.path).write_bytes(b"{}\n")
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch("holistic-bias", mirror=mirror.url, force=True, retries=0)
    assert sha256_file(home / f.path) == f.sha256


def test_oversized_response_is_cut_off_and_rejected(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    served = mirror.file_path(info, "descriptors-v1.0.json")
    served.write_bytes(served.read_bytes() + b" " * 2_000_000)
    with pytest.raises(FetchError) as err:
        fetch("holistic-bias", mirror=mirror.url, retries=0)
    msg = str(err.value)
    assert "checksum mismatch" in msg
    assert "expected 21207)" in msg
    # Reading stopped shortly after the pinned size instead of taking all 2 MB.
    m = re.search(r"\((\d+) bytes, expected 21207\)", msg)
    assert m, msg
    got = int(m.group(1))
    assert 21207 < got < 21207 + 200_000
    assert not (home / "holistic_bias" / "descriptors-v1.0.json").exists()


def test_missing_file_404_is_reported_without_retries(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    mirror.file_path(info, "LICENSE").unlink()
    sleeps: list[float] = []
    with pytest.raises(FetchError) as err:
        fetch("holistic-bias", mirror=mirror.url, sleep=sleeps.append)
    msg = str(err.value)
    assert "holistic_bias/LICENSE" in msg
    assert "HTTP 404" in msg
    assert f"{mirror.url}/facebookresearch/ResponsibleNLP/" in msg
    assert mirror.hits(info, "LICENSE") == 1
    assert sleeps == []
    assert not (home / "holistic_bias" / "LICENSE").exists()


def test_server_errors_then_success_are_retried_with_backoff(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    path = "descriptors-v1.1.json"
    mirror.fail(info, path, (503, {}), (500, {}), (429, {"Retry-After": "3"}))
    sleeps: list[float] = []
    report = fetch("holistic-bias", mirror=mirror.url, backoff_s=0.25, sleep=sleeps.append)
    assert report.ok
    assert mirror.hits(info, path) == 4
    # Exponential backoff, then the server's Retry-After.
    assert sleeps == [0.25, 0.5, 3.0]
    assert sha256_file(home / info.file(path).path) == info.file(path).sha256


def test_dropped_connection_is_retried(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    path = "descriptors-v1.0.json"
    mirror.fail(info, path, "drop")
    sleeps: list[float] = []
    report = fetch("holistic-bias", mirror=mirror.url, backoff_s=0.01, sleep=sleeps.append)
    assert report.ok
    assert mirror.hits(info, path) == 2
    assert len(sleeps) == 1
    assert sha256_file(home / info.file(path).path) == info.file(path).sha256
    assert not _leftovers(home)


def test_persistent_server_errors_give_up(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    path = "descriptors-v1.0.json"
    mirror.fail(info, path, *[(503, {})] * 10)
    sleeps: list[float] = []
    with pytest.raises(FetchError) as err:
        fetch("holistic-bias", mirror=mirror.url, retries=2, backoff_s=0.1, sleep=sleeps.append)
    assert "HTTP 503" in str(err.value)
    assert "gave up after 3 attempts" in str(err.value)
    assert mirror.hits(info, path) == 3
    assert sleeps == [0.1, 0.2]
    assert not (home / info.file(path).path).exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_mirror_fails_fast_for_the_remaining_files(home: Path) -> None:
    sleeps: list[float] = []
    start = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch("bold", mirror=f"http://127.0.0.1:{_closed_port()}", retries=1, sleep=sleeps.append)
    assert time.monotonic() - start < 10
    outcomes = err.value.report.files
    assert all(o.status == "failed" for o in outcomes)
    assert "ConnectError" in (outcomes[0].error or "")
    assert all("not tried, 127.0.0.1 unreachable" in (o.error or "") for o in outcomes[1:])
    assert sleeps == [1.0]  # one retry for the first file only
    assert not (home / "bold").exists()


def test_interrupted_download_leaves_nothing_behind(mirror: Mirror, home: Path) -> None:
    mirror.add("truthfulqa-2025")

    @contextlib.contextmanager
    def interrupting_bar(description: str, total: int) -> Iterator[object]:
        def advance(n: int) -> None:
            raise KeyboardInterrupt

        yield advance

    with pytest.raises(KeyboardInterrupt):
        fetch("truthfulqa-2025", mirror=mirror.url, progress=interrupting_bar)  # type: ignore[arg-type]
    assert not (home / "truthfulqa").exists()


def test_progress_reports_every_byte(mirror: Mirror, home: Path) -> None:
    info = mirror.add("holistic-bias")
    seen: dict[str, int] = {}

    @contextlib.contextmanager
    def bar(description: str, total: int) -> Iterator[object]:
        seen["total"] = total
        seen["done"] = 0

        def advance(n: int) -> None:
            seen["done"] += n

        yield advance

    fetch("holistic-bias", mirror=mirror.url, progress=bar)  # type: ignore[arg-type]
    assert seen["total"] == info.total_size == seen["done"]


def test_alternative_url_used_when_primary_fails(mirror: Mirror, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.get_dataset("truthfulqa-2025")
    mirror.add("truthfulqa-2025")
    src = real.files[0]
    alt = f"{mirror.url}{mirror.url_path(real, src.path)}"
    info = DatasetInfo(
        id="test-alt",
        version="1",
        description="test",
        repo="nobody/nothing",
        commit="0" * 40,
        license="Apache-2.0",
        citation="-",
        files=(DataFile(src.path, src.sha256, "missing.csv", src.size, alt_urls=(alt,)),),
    )
    monkeypatch.setitem(registry.DATASETS, "test-alt", info)
    # The primary host (GitHub raw in production) is this server, where the file does not exist.
    monkeypatch.setattr(registry, "GITHUB_RAW", mirror.url)
    report = fetch("test-alt")
    assert report.files[0].url == alt
    assert sha256_file(home / src.path) == src.sha256


def test_invalid_mirror_and_unknown_dataset(home: Path) -> None:
    with pytest.raises(ConfigError, match="http"):
        fetch("bold", mirror="file:///tmp/x")
    with pytest.raises(registry.DataError, match="unknown data set 'nope'"):
        fetch("nope")


def test_fetch_many_collects_failures(mirror: Mirror, home: Path) -> None:
    mirror.add("holistic-bias")  # truthfulqa-2025 is not on the mirror
    done, failed = fetch_many(["holistic-bias", "truthfulqa-2025"], mirror=mirror.url, retries=0)
    assert [r.dataset_id for r in done] == ["holistic-bias"]
    assert [e.report.dataset_id for e in failed] == ["truthfulqa-2025"]
    assert "HTTP 404" in failed[0].message
