"""The `safetylens human` commands, migrations and authentication (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, update
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.errors import ConfigError
from safetylens.human import auth
from safetylens.human.db import Database, DatabaseError, current_revision, head_revision, upgrade, utcnow
from safetylens.human.models import AuthSession, Base, User

from .conftest import PASSWORD

runner = CliRunner()


def _cli(db_url: str, *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, ["human", *args, "--db", db_url], input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_end_to_end(db_url: str, tmp_path: Path, shared_data_dir: Path) -> None:
    out = _cli(db_url, "init", "--admin", "boss", "--password-stdin", input="admin-password\n")
    assert "created" in out and "admin user boss created" in out
    assert "already up to date" in _cli(db_url, "init")
    for name in ("ann", "bob", "cy"):
        _cli(db_url, "add-user", name, "--role", "rater", "--password-stdin", input=f"{PASSWORD}\n")
    assert "ann" in _cli(db_url, "users")
    guide = tmp_path / "g.md"
    guide.write_text("# Rules\nBe careful.\n")
    _cli(db_url, "study", "create", "xs", "--kind", "safety", "--guidelines", str(guide), "--seed", "4")
    out = _cli(
        db_url,
        "import",
        "xs",
        str(shared_data_dir / "xstest" / "completions_llama2orig.csv"),
        "--model",
        "llama2orig",
        "--category-field",
        "type",
        "--batch",
        "b1",
    )
    assert "450 new items" in out
    _cli(db_url, "study", "add-raters", "xs", "ann", "bob", "cy")
    assert "450 items" in _cli(db_url, "study", "show", "xs")
    assert "xs" in _cli(db_url, "study", "list")
    # Rate a few items through the library, then read the results and exports from the CLI.
    from safetylens.human import assignment as A
    from safetylens.human.studies import acknowledge_guidelines

    db = Database(db_url)
    with db.read() as s:
        users = {u.username: u.id for u in s.scalars(select(User))}
    for k, name in enumerate(("ann", "bob", "cy")):
        acknowledge_guidelines(db, 1, users[name], 1)
        for _ in range(20):
            res = A.next_assignment(db, 1, users[name])
            assert res is not None
            A.submit_rating(db, res.assignment_id, users[name], 1 + (res.item_id + k) % 5)
    db.dispose()
    out = _cli(db_url, "results", "xs", "--json", str(tmp_path / "r.json"), "--resamples", "200", "--min-ratings", "1")
    assert "violation %" in out and "Gwet's AC2, quadratic weights" in out
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["n_ratings"] == 60 and res["irr"]["weights"] == "quadratic"
    _cli(db_url, "export", "xs", str(tmp_path / "out.csv"))
    assert len((tmp_path / "out.csv").read_text().splitlines()) >= 61
    _cli(db_url, "set-user", "cy", "--status", "paused")
    _cli(db_url, "study", "status", "xs", "closed")
    new_guide = tmp_path / "g2.md"
    new_guide.write_text("v2")
    assert "version 2" in _cli(db_url, "study", "guidelines", "xs", str(new_guide))


def test_cli_errors_are_clear(db_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["human", "study", "list", "--db", db_url])
    assert result.exit_code != 0 and isinstance(result.exception, DatabaseError)
    assert "safetylens human init" in str(result.exception.hint)
    _cli(db_url, "init")
    result = runner.invoke(app, ["human", "import", "nope", str(tmp_path / "x.jsonl"), "--db", db_url])
    assert "no study" in str(result.exception)


def test_migrations_match_models(db: Database) -> None:
    assert current_revision(db.engine) == head_revision()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    upgrade(db)  # idempotent
    db.check_schema()


def test_passwords_sessions_and_rate_limits(db: Database) -> None:
    user = auth.create_user(db, "alice", PASSWORD, "rater")
    with db.read() as s:
        stored = s.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(ConfigError, match="too short"):
        auth.create_user(db, "bob", "short", "rater")
    with pytest.raises(ConfigError, match="already exists"):
        auth.create_user(db, "alice", PASSWORD, "rater")
    with pytest.raises(ConfigError, match="unknown role"):
        auth.create_user(db, "x", PASSWORD, "superuser")
    with pytest.raises(ConfigError, match="invalid user name"):
        auth.create_user(db, "<script>", PASSWORD, "rater")
    assert auth.authenticate(db, "alice", PASSWORD, "1.2.3.4").id == user.id
    with pytest.raises(auth.AuthError, match="wrong"):
        auth.authenticate(db, "ghost", PASSWORD, "1.2.3.4")
    policy = auth.RateLimit(free_failures=3)
    for _ in range(3):
        with pytest.raises(auth.AuthError, match="wrong"):
            auth.authenticate(db, "alice", "nope-nope", "1.2.3.4", policy)
    # The guessing address is throttled; the owner elsewhere is not locked out.
    with pytest.raises(auth.RateLimited):
        auth.authenticate(db, "alice", PASSWORD, "1.2.3.4", policy)
    assert auth.authenticate(db, "alice", PASSWORD, "5.6.7.8", policy).id == user.id
    # Sessions: the cookie token is not stored; expiry and password changes end sessions.
    token, _csrf = auth.start_session(db, user.id)
    with db.read() as s:
        row = s.scalar(select(AuthSession))
    assert row is not None and row.token_hash != token and row.token_hash == auth.token_hash(token)
    assert auth.resolve_session(db, token) is not None and auth.resolve_session(db, "forged") is None
    with db.write() as s:
        s.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert auth.resolve_session(db, token) is None
    token, _ = auth.start_session(db, user.id)
    auth.set_password(db, "alice", "a-new-password")
    assert auth.resolve_session(db, token) is None
    assert auth.authenticate(db, "alice", "a-new-password", "9.9.9.9").id == user.id


def test_uninitialised_database_is_refused(db_url: str) -> None:
    with pytest.raises(DatabaseError, match="expected"):
        Database(db_url).check_schema()


def test_serve_refuses_a_db_concurrency_below_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["human", "serve", "--db", str(tmp_path / "x.sqlite"), "--db-concurrency", "0"])
    assert result.exit_code == 2
    assert "db-concurrency" in result.output and not (tmp_path / "x.sqlite").exists()
