"""``safetylens --version``: safetylens's version and the backends' (or "not installed")."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import safetylens
from safetylens.cli import app


def _versions(output: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in output.strip().splitlines())


def test_version_names_safetylens_and_every_backend() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    found = _versions(result.output)
    assert result.output.startswith(f"safetylens {safetylens.__version__}\n")
    assert set(found) == {"safetylens", "python", "torch", "transformers", "llama_cpp"}
    for module, dist in (("torch", "torch"), ("transformers", "transformers"), ("llama_cpp", "llama-cpp-python")):
        try:
            expected = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            expected = "not installed"
        assert found[module] == expected


def test_version_says_not_installed_for_a_missing_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == "llama-cpp-python":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and _versions(result.output)["llama_cpp"] == "not installed"


def test_version_from_the_installed_command_does_not_import_torch() -> None:
    code = (
        "import sys; from safetylens.cli import main; sys.argv = ['safetylens', '--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('torch imported' if 'torch' in sys.modules else 'torch not imported')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.startswith("safetylens ") and out.strip().endswith("torch not imported")
