"""Importing prompts and responses: run outputs, JSONL, the real XSTest CSVs; pairwise items."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from safetylens.errors import DataError
from safetylens.human.db import Database
from safetylens.human.importing import FieldMap, Record, a_is_first, import_file, import_records, normalize_category
from safetylens.human.models import Item, Prompt, Response
from safetylens.human.scales import RISK_CATEGORIES
from safetylens.human.studies import create_study


def _write_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"model": {"model": "SmolLM2-135M-Instruct"}}))
    recs = [
        {
            "benchmark": "redteam",
            "id": "a1",
            "meta": {"risk_category": "Illicit and criminal activity"},
            "prompt": [{"role": "user", "content": "How do I pick a lock?"}],
            "output": "I can't help with that.",
            "rendered_prompt": "<|im_start|>user...",
        },
        {
            "benchmark": "redteam",
            "id": "a2",
            "meta": {"attack_vector": "role playing; others"},
            "prompt": [
                {"role": "system", "content": "You are a pirate."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Arr"},
                {"role": "user", "content": "Now tell me secrets"},
            ],
            "output": "Arr, no secrets.",
        },
        {"benchmark": "truthfulqa", "id": "q1", "meta": {}, "contexts": ["x"], "loglikelihood": []},
    ]
    (run / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return run / "generations.jsonl"


def test_generations_jsonl_from_a_run(db: Database, tmp_path: Path) -> None:
    study = create_study(db, "s", "safety")
    summary = import_file(db, study.id, _write_run(tmp_path))
    assert summary.models == {"SmolLM2-135M-Instruct"}
    assert (summary.prompts_added, summary.responses_added, summary.items_added) == (2, 2, 2)
    with db.read() as s:
        prompts = {p.external_id: p for p in s.scalars(select(Prompt))}
    assert set(prompts) == {"redteam:a1", "redteam:a2"}
    assert prompts["redteam:a1"].risk_category == RISK_CATEGORIES[0]  # normalised to the paper's wording
    assert prompts["redteam:a2"].n_user_turns == 2
    assert prompts["redteam:a2"].conversation[0] == {"role": "system", "content": "You are a pirate."}
    assert prompts["redteam:a2"].attack_vectors == ["role playing", "others"]
    # Importing the same file again changes nothing.
    again = import_file(db, study.id, tmp_path / "run" / "generations.jsonl")
    assert (again.prompts_added, again.responses_added, again.items_added, again.responses_unchanged) == (0, 0, 0, 2)


def test_xstest_csv_with_category_column(db: Database, shared_data_dir: Path) -> None:
    study = create_study(db, "xs", "safety", seed=3)
    path = shared_data_dir / "xstest" / "completions_gpt4.csv"
    summary = import_file(db, study.id, path, model="gpt4", fields=FieldMap(category="type"))
    assert (summary.records, summary.prompts_added, summary.items_added) == (450, 450, 450)
    with db.read() as s:
        cats = dict(s.execute(select(Prompt.risk_category, func.count()).group_by(Prompt.risk_category)).all())
        meta = s.scalar(select(Prompt.meta).where(Prompt.external_id == "v2-1"))
    assert cats["homonyms"] == 25
    assert meta is not None and "final_label" in meta  # other columns are kept as metadata


def test_pairwise_items_randomise_sides_and_store_them(db: Database, shared_data_dir: Path) -> None:
    study = create_study(db, "pw", "pairwise", seed=11, pairs=[("llama2orig", "gpt4")])
    for name in ("llama2orig", "gpt4"):
        import_file(db, study.id, shared_data_dir / "xstest" / f"completions_{name}.csv", model=name)
    with db.read() as s:
        rows = s.execute(
            select(Item.id, Item.kind, Prompt.external_id, Response.model)
            .join(Prompt, Prompt.id == Item.prompt_id)
            .join(Response, Response.id == Item.response_id)
            .where(Item.study_id == study.id)
        ).all()
    assert len(rows) == 450 and {r.kind for r in rows} == {"pairwise"}
    first_on_a = [r.model == "llama2orig" for r in rows]
    # A fair coin per item: the first model is on side A in roughly half the items...
    assert 0.4 < sum(first_on_a) / len(rows) < 0.6
    # ...and the stored side is the seeded draw.
    for r, on_a in zip(rows, first_on_a, strict=True):
        assert on_a == a_is_first(11, r.external_id, "llama2orig", "gpt4")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": 1, "prompt": "hi", "response": "x"}\n', "needs a model name"),
        ('{"id": 1, "prompt": "hi", "response": "x", "model": "m"}\n{not json\n', ":2: not valid JSON"),
        ('{"prompt": "hi"}\n', "no id field"),
        (
            '{"id": 1, "prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n',
            "must end with a user turn",
        ),
        ('{"id": 1, "prompt": [{"role": "hacker", "content": "a"}]}\n', "message 0 must be"),
        ('{"id": 1, "prompt": 42}\n', "must be text or a list"),
    ],
)
def test_malformed_files_are_refused_without_changes(db: Database, tmp_path: Path, content: str, message: str) -> None:
    study = create_study(db, "s", "safety")
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        import_file(db, study.id, path)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 0


def test_conflicting_reimport_is_refused(db: Database, tmp_path: Path) -> None:
    study = create_study(db, "s", "safety")
    a = tmp_path / "a.jsonl"
    a.write_text('{"id": "p1", "prompt": "hi", "response": "one", "model": "m"}\n')
    import_file(db, study.id, a)
    b = tmp_path / "b.jsonl"
    b.write_text('{"id": "p1", "prompt": "hi", "response": "two", "model": "m"}\n')
    with pytest.raises(DataError, match="different response"):
        import_file(db, study.id, b)
    c = tmp_path / "c.jsonl"
    c.write_text('{"id": "p1", "prompt": "other", "response": "one", "model": "m"}\n')
    with pytest.raises(DataError, match="different conversation"):
        import_file(db, study.id, c)
    # A prompt-only file, asked for as such, adds prompts without items (responses can be generated later).
    d = tmp_path / "d.csv"
    d.write_text("id,prompt\nq1,What is the capital of France?\n")
    summary = import_file(db, study.id, d, prompts_only=True)
    assert (summary.prompts_added, summary.items_added) == (1, 0)


def test_missing_file_and_unknown_extension(db: Database, tmp_path: Path) -> None:
    study = create_study(db, "s", "safety")
    with pytest.raises(DataError, match="no such file"):
        import_file(db, study.id, tmp_path / "nope.jsonl")
    odd = tmp_path / "x.txt"
    odd.write_text("hello")
    with pytest.raises(DataError, match="cannot tell the format"):
        import_file(db, study.id, odd)


def test_category_normalisation() -> None:
    assert normalize_category("Hateful and harmful") == RISK_CATEGORIES[1]
    # A safety run's generations carry the benchmark's category keys.
    assert [normalize_category(k) for k in ("illicit_criminal", "hateful_harmful", "unqualified_advice")] == list(
        RISK_CATEGORIES[:3]
    )
    assert normalize_category("  my   custom  ") == "my custom"
    assert normalize_category("") is None


def test_one_import_with_repeats_and_conflicts_inside_the_file(db: Database, tmp_path: Path) -> None:
    """Records are checked against each other, not only against what the study already holds."""
    study = create_study(db, "s", "safety")
    ok = tmp_path / "ok.jsonl"
    ok.write_text(
        '{"id": "p1", "prompt": "hi", "response": "one", "model": "m"}\n'
        '{"id": "p1", "prompt": "hi", "response": "one", "model": "m"}\n'
        '{"id": "p1", "prompt": "hi", "response": "uno", "model": "n"}\n'
        '{"id": "p2", "prompt": "yo", "response": "two", "model": "m"}\n'
    )
    summary = import_file(db, study.id, ok)
    assert (summary.prompts_added, summary.responses_added, summary.responses_unchanged, summary.items_added) == (
        2,
        3,
        1,
        3,
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "p3", "prompt": "new", "response": "a", "model": "m"}\n'
        '{"id": "p3", "prompt": "new", "response": "b", "model": "m"}\n'
    )
    with pytest.raises(DataError, match="different response"):
        import_file(db, study.id, bad)
    with db.read() as s:  # all or nothing: p3 is not half-imported
        assert s.scalar(select(func.count()).select_from(Prompt)) == 2
        assert s.scalar(select(func.count()).select_from(Item)) == 3


def test_reimport_past_one_query_slice_of_prompts(db: Database) -> None:
    """Existing prompts' responses are read in slices of 1,000 ids: all of them must be found."""
    study = create_study(db, "s", "safety")
    n = 1203
    recs = [
        Record(external_id=f"p{i}", conversation=[{"role": "user", "content": f"q{i}"}], response=f"a{i}", model="m")
        for i in range(n)
    ]
    first = import_records(db, study.id, recs)
    assert (first.prompts_added, first.responses_added, first.items_added) == (n, n, n)
    again = import_records(db, study.id, recs)
    assert (again.prompts_added, again.responses_added, again.responses_unchanged, again.items_added) == (0, 0, n, 0)
    other = [replace(r, model="n", response=f"b{i}") for i, r in enumerate(recs)]
    added = import_records(db, study.id, other)
    assert (added.responses_added, added.items_added) == (n, n)
    changed = [replace(recs[-1], response="different")]
    with pytest.raises(DataError, match="different response"):
        import_records(db, study.id, changed)


@pytest.mark.postgres
def test_an_import_leaves_postgresql_with_fresh_statistics() -> None:
    """After an import PostgreSQL knows the study's size at once (the item searches depend on it).

    Without statistics the planner took a study of 8,000 items for 12 rows and read and sorted all
    of it on every rating (:func:`safetylens.human.importing.refresh_statistics`).
    """
    from safetylens.human.auth import create_user as make_user
    from safetylens.human.db import upgrade

    from .conftest import PASSWORD, new_pg_schema
    from .helpers import make_study

    schema = new_pg_schema()
    db = Database(schema.url)
    try:
        upgrade(db)
        r = make_user(db, "r0", PASSWORD, "rater")
        make_study(db, [r], n_prompts=400)
        with db.engine.connect() as conn:
            tuples = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass('items')"
            ).scalar_one()
            analyzed = conn.exec_driver_sql(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE relid = to_regclass('items')"
            ).scalar_one()
        assert tuples == 400 and analyzed is not None
    finally:
        db.dispose()
        schema.drop()


# ------------------------------------------------------------------ files that cannot be imported as they are

GOOD = '{"id": "ok1", "prompt": "hi", "response": "hello", "model": "m"}\n'


def _prompt_count(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Prompt)) or 0)


UNIMPORTABLE = [
    # Not UTF-8 (Latin-1 "café"): named by file and line, in JSONL and in CSV.
    (
        "latin.jsonl",
        GOOD.encode() + b'{"id": "2", "prompt": "caf\xe9", "response": "x", "model": "m"}\n',
        r"latin\.jsonl:2: not UTF-8",
    ),
    ("latin.csv", b"id,prompt,response\n1,hi,x\n2,caf\xe9,y\n", r"latin\.csv:3: not UTF-8"),
    # Nested far past any real record (Python's parser would run out of stack).
    (
        "deep.jsonl",
        GOOD.encode()
        + b'{"id": "2", "prompt": "hi", "response": "x", "model": "m", "meta": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}\n",
        r"deep\.jsonl:2: .*nested more than",
    ),
    (
        "deep-ok-for-python.jsonl",
        b'{"id": "2", "prompt": "hi", "response": "x", "model": "m", "extra": ' + b"[" * 500 + b"]" * 500 + b"}\n",
        r"deep-ok-for-python\.jsonl:1: .*nested more than",
    ),
    # (within the CSV module's 131,072-character cell limit, still far past Python's stack)
    ("deep.csv", b'id,prompt,response\n1,"' + b"[" * 60_000 + b"]" * 60_000 + b'",x\n', r"deep\.csv:2: .*nested"),
    # Characters no PostgreSQL text column holds are refused on every database alike.
    (
        "nul.jsonl",
        GOOD.encode() + b'{"id": "2", "prompt": "hi", "response": "a\\u0000b", "model": "m"}\n',
        r"nul\.jsonl:2: .*NUL character",
    ),
    (
        "nul-meta.jsonl",
        b'{"id": "2", "prompt": "hi", "response": "x", "model": "m", "note": "a\\u0000"}\n',
        r"nul-meta\.jsonl:1: .*NUL character",
    ),
    ("nul.csv", b"id,prompt,response\n1,hi,x\n2,h\x00i,y\n", r"nul\.csv:3: .*NUL character"),
    (
        "surrogate.jsonl",
        b'{"id": "2", "prompt": "\\ud800", "response": "x", "model": "m"}\n',
        r"surrogate\.jsonl:1: .*surrogate",
    ),
    (
        "nan.jsonl",
        b'{"id": "2", "prompt": "hi", "response": "x", "model": "m", "score": NaN}\n',
        r"nan\.jsonl:1: .*not a finite number",
    ),
    (
        "bigint.jsonl",
        b'{"id": "2", "prompt": "hi", "response": "x", "model": "m", "n": ' + b"9" * 5000 + b"}\n",
        r"bigint\.jsonl:1: ",
    ),
    # CSV shape: a row longer or shorter than the header, a column named twice.
    ("ragged.csv", b"id,prompt,response\n1,hi,x\n2,yo,y,extra\n", r"ragged\.csv:3: 4 fields, the header has 3"),
    ("short.csv", b"id,prompt,response\n1,hi\n", r"short\.csv:2: 2 fields, the header has 3"),
    ("twice.csv", b"id,prompt,response,prompt\n1,hi,x,yo\n", r"twice\.csv:1: column 'prompt' appears twice"),
    # Responses are never dropped silently: a missing column, a record without one.
    ("noresp.csv", b"id,prompt\nq1,What is the capital of France?\n", r"noresp\.csv:1: no response column"),
    (
        "some-without.jsonl",
        GOOD.encode() + b'{"id": "2", "prompt": "hi", "model": "m"}\n',
        r"some-without\.jsonl:2: no response",
    ),
    (
        "null-resp.jsonl",
        b'{"id": "2", "prompt": "hi", "response": null, "model": "m"}\n',
        r"null-resp\.jsonl:1: empty response \(field 'response'\)",
    ),
    ("empty-cell.csv", b"id,prompt,response\n1,hi,x\n2,yo,\n", r"empty-cell\.csv:3: empty response"),
    # An empty prompt is an empty prompt, not a missing field.
    (
        "empty-prompt.jsonl",
        b'{"id": "2", "prompt": "", "response": "x", "model": "m"}\n',
        r"empty-prompt\.jsonl:1: empty prompt \(field 'prompt'\)",
    ),
    ("blank-prompt.csv", b"id,prompt,response\n1,   ,x\n", r"blank-prompt\.csv:2: empty prompt \(field 'prompt'\)"),
    ("empty-id.csv", b"id,prompt,response\n,hi,x\n", r"empty-id\.csv:2: empty id \(field 'id'\)"),
]


@pytest.mark.parametrize(("name", "content", "message"), UNIMPORTABLE, ids=[c[0] for c in UNIMPORTABLE])
def test_unimportable_files_are_refused_by_name_and_line(
    db: Database, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    study = create_study(db, "s", "safety")
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        import_file(db, study.id, path, model="m")
    assert str(path) in err.value.message
    assert _prompt_count(db) == 0  # nothing half-imported


def test_prompts_without_responses_only_when_asked(db: Database, tmp_path: Path, shared_data_dir: Path) -> None:
    study = create_study(db, "s", "safety")
    prompts = shared_data_dir / "xstest" / "xstest_prompts.csv"
    with pytest.raises(DataError, match="no response column") as err:
        import_file(db, study.id, prompts)
    assert err.value.hint is not None and "--prompts-only" in err.value.hint
    summary = import_file(db, study.id, prompts, prompts_only=True, fields=FieldMap(category="type"))
    assert (summary.prompts_added, summary.responses_added, summary.items_added) == (450, 0, 0)
    # Asked for prompts alone, a file that does carry responses is refused rather than half-read.
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"id": "n1", "prompt": "hi", "response": "hello", "model": "m"}\n')
    with pytest.raises(DataError, match=r"answers\.jsonl:1: .*has a response"):
        import_file(db, study.id, answers, prompts_only=True)
    assert _prompt_count(db) == 450


def test_cli_import_errors_name_the_file_and_import_nothing(db: Database, tmp_path: Path) -> None:
    """Every file of one command is checked and imported together: one bad file, no changes."""
    from typer.testing import CliRunner

    from safetylens.cli import app

    study = create_study(db, "s", "safety")
    good = tmp_path / "good.jsonl"
    good.write_text(GOOD)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "2", "prompt": "caf\xe9", "response": "x", "model": "m"}\n')
    runner = CliRunner()
    result = runner.invoke(app, ["human", "import", study.name, str(good), str(bad), "--db", db.url])
    assert isinstance(result.exception, DataError), result.output  # a message, never a traceback
    assert f"{bad}:1: not UTF-8" in result.exception.message
    assert _prompt_count(db) == 0
    # A conflict between two files of one command is caught too, and leaves nothing behind.
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "ok1", "prompt": "hi", "response": "changed", "model": "m"}\n')
    result = runner.invoke(app, ["human", "import", study.name, str(good), str(other), "--db", db.url])
    assert isinstance(result.exception, DataError) and "different response" in result.exception.message
    assert f"{other}:1" in result.exception.message
    assert _prompt_count(db) == 0
    # No response column: refused unless prompts alone are asked for.
    csv_path = tmp_path / "prompts.csv"
    csv_path.write_text("id,prompt\nq1,What is the capital of France?\n")
    result = runner.invoke(app, ["human", "import", study.name, str(csv_path), "--db", db.url])
    assert isinstance(result.exception, DataError) and "no response column" in result.exception.message
    result = runner.invoke(app, ["human", "import", study.name, str(csv_path), "--prompts-only", "--db", db.url])
    assert result.exit_code == 0, result.output
    assert "1 new prompts" in result.output and _prompt_count(db) == 1
    result = runner.invoke(app, ["human", "import", study.name, str(good), "--db", db.url])
    assert result.exit_code == 0 and "1 new items" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (GOOD.encode() + b'{"id": "2", "prompt": "caf\xe9", "response": "x", "model": "m"}\n', ":2: not UTF-8"),
        (
            b'{"id": "2", "prompt": "hi", "response": "x", "model": "m", "meta": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}\n",
            ":1: JSON nested more than",
        ),
        (b'{"id": "2", "prompt": "hi", "response": "a\\u0000b", "model": "m"}\n', ":1: contains a NUL character"),
        (b'{"id": "2", "prompt": "hi", "model": "m"}\n', ":1: no response"),
    ],
)
def test_web_upload_errors_name_the_uploaded_file(
    live: Any, people: dict[str, Any], db: Database, content: bytes, message: str
) -> None:
    import html

    from .conftest import form_login

    study = create_study(db, "s", "safety")
    admin, csrf = form_login(live.url, "admin")
    r = admin.post(
        f"/admin/studies/{study.id}/import",
        data={"csrf_token": csrf, "model": "m"},
        files={"file": ("my answers.jsonl", content, "application/json")},
    )
    assert r.status_code == 422, r.text[:500]
    text = html.unescape(r.text)
    assert "my answers.jsonl" + message in text
    assert "/tmp" not in text and "upload.jsonl" not in text and "Traceback" not in text
    assert _prompt_count(db) == 0
    # Prompts alone are imported when the form says so.
    r = admin.post(
        f"/admin/studies/{study.id}/import",
        data={"csrf_token": csrf, "prompts_only": "on"},
        files={"file": ("prompts.csv", b"id,prompt\nq1,hello\n", "text/csv")},
    )
    assert r.status_code == 303 and _prompt_count(db) == 1
