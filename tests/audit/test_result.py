"""The typed audit record: files written before the models existed load, and write back unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from safetylens.audit.outputs import load_audit, render_html, tables_markdown, write_outputs
from safetylens.audit.result import SCHEMA, AuditResult
from safetylens.errors import DataError
from safetylens.stats.ci import Estimate

# Written by `safetylens audit` before audit.json had typed models (see data/README.md).
FIXTURE = Path(__file__).parent / "data" / "audit_v1.json"
HOSTILE = "<img src=x onerror=alert(1)>|*x*"


@pytest.fixture
def raw() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return doc


def test_a_file_of_the_earlier_code_loads_with_its_numbers() -> None:
    res = load_audit(FIXTURE)
    assert res.schema_id == SCHEMA and res.schema_version == 1
    assert res.corpus.documents == 40 and res.corpus.documents_sampled == res.pronouns.n  # type: ignore[union-attr]
    she = res.pronouns.rows["she"].documents  # type: ignore[union-attr]
    assert isinstance(she, Estimate) and she.method == "wilson" and 0 < she.ci_low <= she.value <= she.ci_high
    assert res.reference.table_9a["she"] == 28.45
    assert res.redaction is not None and res.redaction.documents == 40
    assert [ax.axis for ax in res.identity.axes][:1] == ["gender_and_sex"]  # type: ignore[union-attr]
    assert res.toxicity is None


def test_it_writes_back_byte_for_byte(tmp_path: Path) -> None:
    res = AuditResult.load(FIXTURE)
    assert res.to_json() == FIXTURE.read_text(encoding="utf-8")
    write_outputs(res, tmp_path)
    assert (tmp_path / "audit.json").read_text(encoding="utf-8") == FIXTURE.read_text(encoding="utf-8")
    assert AuditResult.load(tmp_path) == res


def test_the_renderers_take_the_result_or_its_dict(raw: dict[str, Any]) -> None:
    res = AuditResult.from_record(raw)
    assert AuditResult.from_record(res) is res
    assert tables_markdown(raw) == tables_markdown(res)
    assert "| She (she, her, hers, herself) |" in tables_markdown(res)


def test_the_result_is_frozen() -> None:
    res = load_audit(FIXTURE)
    with pytest.raises(ValidationError):
        res.corpus.documents = 1  # type: ignore[misc]


def test_keys_added_within_the_version_are_kept(raw: dict[str, Any]) -> None:
    raw["corpus"]["bytes_sampled"] = 123
    raw["future_section"] = {"x": [1, 2]}
    out = AuditResult.from_record(raw).to_dict()
    assert out["corpus"]["bytes_sampled"] == 123 and out["future_section"] == {"x": [1, 2]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="safetylens.audit/2"), "expected schema safetylens.audit/1"),
        (lambda d: d.update(schema="other/1"), "not a safetylens audit record"),
        (lambda d: d.pop("schema"), "not a safetylens audit record"),
        (lambda d: d["corpus"].pop("documents"), "corpus.documents"),
        (lambda d: d["pronouns"]["rows"]["she"].update(documents={"value": "x"}), "pronouns.rows.she.documents"),
    ],
)
def test_bad_records_are_data_errors_that_say_where(raw: dict[str, Any], change: Any, message: str) -> None:
    doc = copy.deepcopy(raw)
    change(doc)
    with pytest.raises(DataError, match=r"not a safetylens audit record|invalid audit record") as exc:
        AuditResult.from_record(doc, "x.json")
    assert message in exc.value.message and exc.value.message.startswith("x.json: ")


def test_unreadable_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read audit record"):
        load_audit(tmp_path / "missing.json")
    (tmp_path / "audit.json").write_text("{", encoding="utf-8")
    with pytest.raises(DataError, match="cannot read audit record"):
        load_audit(tmp_path)


def test_text_from_the_corpus_is_escaped_in_markdown_and_html(raw: dict[str, Any]) -> None:
    axis = raw["identity"]["axes"][0]
    axis["label"] = HOSTILE
    axis["terms"][0]["term"] = HOSTILE
    raw["pii"]["kinds"] = {next(iter(raw["pii"]["types"])): {HOSTILE: 1}}
    md = tables_markdown(raw)
    assert HOSTILE not in md and "<img" not in md
    assert "&lt;img src=x onerror=alert(1)&gt;\\|\\*x\\*" in md
    page = render_html(raw)
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;|*x*" in page
