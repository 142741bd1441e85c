"""`safetylens data ...` as a user runs it: a subprocess, real files, a real HTTP mirror."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from _data_mirror import Mirror

SRC = Path(__file__).resolve().parents[2] / "src"


def run(home: Path, *args: str, data_dir: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYLENS_")}
    environ.update(
        PYTHONPATH=str(SRC), SAFETYLENS_HOME=str(home.parent), COLUMNS="200", NO_COLOR="1", TERM="dumb", **env
    )
    if data_dir is not None:
        environ["SAFETYLENS_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "safetylens", "data", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def test_help_list_and_info(home: Path, shared_data_dir: Path) -> None:
    out = run(home, "--help")
    assert out.returncode == 0
    for cmd in ("list", "fetch", "import", "verify", "info"):
        assert cmd in out.stdout
    listed = run(home, "list", data_dir=shared_data_dir)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.strip().startswith("truthfulqa "))
    assert row.split()[-2:] == ["complete", "absent"]  # DATA_DIR, cache
    info = run(home, "info", "xstest")
    assert info.returncode == 0, info.stderr
    assert "paul-rottger/xstest @ d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d" in info.stdout
    assert (
        "https://raw.githubusercontent.com/paul-rottger/xstest/d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d/"
        "model_completions/xstest_v2_completions_gpt4.csv" in info.stdout
    )
    assert "Röttger et al." in info.stdout
    assert "CC-BY-4.0" in info.stdout


def test_import_then_verify(home: Path, shared_data_dir: Path) -> None:
    out = run(home, "import", str(shared_data_dir), "bold", "truthfulqa")
    assert out.returncode == 0, out.stderr
    assert "complete" in out.stdout
    assert (home / "bold" / "race_prompt.json").is_file()
    ok = run(home, "verify", "bold", "truthfulqa")
    assert ok.returncode == 0, ok.stderr
    missing = run(home, "verify", "xstest")
    assert missing.returncode == 2
    assert "data not verified: xstest" in missing.stderr


def test_import_corrupt_copy_exits_2_with_both_hashes(home: Path, shared_data_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "src" / "holistic_bias"
    shutil.copytree(shared_data_dir / "holistic_bias", src)
    bad = src / "descriptors-v1.0.json"
    bad.write_bytes(bad.read_bytes()[:-10])
    out = run(home, "import", str(src.parent))
    assert out.returncode == 2
    assert "corrupt" in out.stdout
    assert "descriptors-v1.0.json: expected sha256 355ba8039d83f4b387b6f069ea9cb2374c1c5d2a" in out.stderr
    assert "error: import incomplete: corrupt files in holistic-bias" in out.stderr
    assert not (home / "holistic_bias" / "descriptors-v1.0.json").exists()
    assert (home / "holistic_bias" / "descriptors-v1.1.json").is_file()


def test_fetch_from_mirror_and_checksum_failure(home: Path, mirror: Mirror) -> None:
    info = mirror.add("holistic-bias")
    out = run(home, "fetch", "holistic-bias", "--mirror", mirror.url)
    assert out.returncode == 0, out.stderr
    assert "holistic-bias: 3 downloaded, 0 already present" in out.stdout
    served = mirror.file_path(info, "descriptors-v1.1.json")
    served.write_bytes(b"{}")
    bad = run(home, "fetch", "holistic-bias", "--force", SAFETYLENS_DATA_MIRROR=mirror.url)
    assert bad.returncode == 2
    assert "checksum mismatch" in bad.stderr
    assert "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" in bad.stderr  # sha256 of b"{}"
    assert "Traceback" not in bad.stderr
    # The verified copy from the first fetch is still there.
    assert (home / "holistic_bias" / "descriptors-v1.1.json").read_bytes() != b"{}"


def test_usage_errors_exit_2(home: Path) -> None:
    nothing = run(home, "fetch")
    assert nothing.returncode == 2
    assert "say which data sets to fetch" in nothing.stderr
    unknown = run(home, "info", "nope")
    assert unknown.returncode == 2
    assert "unknown data set 'nope'" in unknown.stderr
    bad_mirror = run(home, "fetch", "bold", "--mirror", "ftp://example")
    assert bad_mirror.returncode == 2
    assert "http:// or https://" in bad_mirror.stderr
