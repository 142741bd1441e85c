"""The README's human-evaluation section works as written.

Its example files are written from the README's ``jsonl`` blocks, and every line of its ``bash``
blocks runs, in order, in a fresh directory: ``safetylens`` commands through the CLI (``add-user``
reads its password from standard input: a test has no terminal), ``export`` sets the environment
of the commands after it, ``pip install`` must name extras that exist, and each ``serve`` line
starts the real server on a free port, where the README's HTTPS advice is checked (proxy headers,
``Host``, ``Secure`` cookies). Before a ``results`` line the study's raters rate every item, so the
results have numbers to show. The import field table must match what the importer reads.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.human import importing
from safetylens.human.assignment import next_assignment, submit_rating
from safetylens.human.db import Database, default_url
from safetylens.human.models import LoginAttempt, User
from safetylens.human.studies import acknowledge_guidelines, current_guidelines, get_study

from .conftest import PASSWORD, free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
runner = CliRunner()


def human_section(text: str) -> str:
    """The README's human-evaluation section, up to its first subsection."""
    start = text.index("\n## Human evaluation\n")
    end = text.index("\n### ", start)
    return text[start:end]


def blocks(section: str) -> list[tuple[str, str, str]]:
    """``(language, body, text before it)`` for every fenced block of the section."""
    out: list[tuple[str, str, str]] = []
    last = 0
    for m in FENCE.finditer(section):
        out.append((m.group(1), m.group(2), section[last : m.start()]))
        last = m.end()
    return out


def _serve(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [*args]
    args[args.index("--port") + 1] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "safetylens", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"`safetylens {shlex.join(args)}` did not start: {err.decode(errors='replace')}")


def _check_proxy_advice(url: str, db_url: str, secure_flag: bool) -> None:
    """What the README says about running behind a reverse proxy on the same machine."""
    creds = {"username": "alice", "password": PASSWORD}
    forwarded = {
        "Host": "rate.example.org",
        "Origin": "https://rate.example.org",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.7",
    }
    r = httpx.post(url + "/api/login", json=creds, headers=forwarded)
    assert r.status_code == 200, r.text
    assert "secure" in r.headers["set-cookie"].lower()  # the request came over HTTPS
    db = Database(db_url)
    with db.read() as s:
        ips = set(s.scalars(select(LoginAttempt.ip)))
    db.dispose()
    assert "203.0.113.7" in ips  # the client's address, not the proxy's
    # Plain HTTP, no proxy: Secure only with --secure-cookies.
    r = httpx.post(url + "/api/login", json=creds)
    assert r.status_code == 200, r.text
    assert ("secure" in r.headers["set-cookie"].lower()) is secure_flag
    # A proxy that does not pass Host on: the browser's Origin names another host, refused.
    r = httpx.post(url + "/api/login", json=creds, headers={**forwarded, "Host": url.split("//")[1]})
    assert r.status_code == 403 and "cross-site" in r.text


def _rate_everything(study_name: str) -> None:
    """Every rater of the study rates every item (values from the item and the rater)."""
    db = Database(default_url())
    study = get_study(db, study_name)
    with db.read() as s:
        guide = current_guidelines(s, study.id)
        raters = list(s.scalars(select(User).where(User.role == "rater").order_by(User.id)))
    assert guide is not None and len(raters) >= study.raters_per_item
    top = 5 if study.kind == "safety" else 7
    for k, rater in enumerate(raters):
        acknowledge_guidelines(db, study.id, rater.id, guide.version)
        while (res := next_assignment(db, study.id, rater.id)) is not None:
            submit_rating(db, res.assignment_id, rater.id, 1 + (res.item_id + k) % top)
    db.dispose()


def test_readme_human_examples_run(tmp_path: Path, monkeypatch: Any) -> None:
    section = human_section(README.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "guidelines.md").write_text("# Guidelines\n\nRate the last response.\n", encoding="utf-8")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    env: dict[str, str] = {}
    ran: list[str] = []
    outputs: dict[str, str] = {}
    rated: set[str] = set()
    for lang, body, before in blocks(section):
        if lang == "jsonl":
            names = re.findall(r"`([\w.-]+\.jsonl)`", before)
            assert names, f"which file is this block?\n{body}"
            for line in body.splitlines():
                json.loads(line)  # each line one JSON object
            (tmp_path / names[-1]).write_text(body, encoding="utf-8")
            continue
        if lang != "bash":
            continue
        for line in body.splitlines():
            args = shlex.split(line, comments=True)
            if not args:
                continue
            if args[:2] == ["pip", "install"]:
                for spec in args[2:]:
                    m = re.fullmatch(r"safetylens\[([\w,-]+)\]", spec)
                    assert m, line
                    assert set(m.group(1).split(",")) <= set(extras), line
                continue
            if args[0] == "export":
                name, value = args[1].split("=", 1)
                env[name] = value
                continue
            assert args[:2] == ["safetylens", "human"], f"a README line this test cannot run: {line}"
            cmd = args[1:]
            ran.append(cmd[1])
            if cmd[1] == "serve":
                with monkeypatch.context() as m:
                    for k, v in env.items():
                        m.setenv(k, v)
                    db_url = default_url()
                proc, url = _serve(cmd, env, tmp_path)
                try:
                    _check_proxy_advice(url, db_url, secure_flag="--secure-cookies" in cmd)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                continue
            if cmd[1] == "results" and cmd[2] not in rated:
                with monkeypatch.context() as m:
                    for k, v in env.items():
                        m.setenv(k, v)
                    _rate_everything(cmd[2])
                rated.add(cmd[2])
            stdin = None
            if cmd[1] == "add-user":
                cmd.append("--password-stdin")
                stdin = PASSWORD + "\n"
            result = runner.invoke(app, cmd, env=env, input=stdin)
            assert result.exit_code == 0, f"{line}\n{result.output}\n{result.exception!r}"
            outputs[line] = result.output
    assert {"init", "add-user", "import", "serve", "results", "export"} <= set(ran)
    assert env.get("SAFETYLENS_HUMAN_DB")

    # What the README's comments promise.
    text = {k.split("#")[0].strip(): " ".join(v.split()) for k, v in outputs.items()}
    assert "2 new items" in text["safetylens human import safety-v1 responses.jsonl"]
    assert "2 new items" in text["safetylens human import helpful-v1 pairs.jsonl"]
    assert "model-a" in text["safetylens human results helpful-v1"]
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["n_ratings"] == 6 and [m["model"] for m in results["safety"]["models"]] == ["model-a"]
    exported = (tmp_path / "ratings.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(exported) == 6


def test_readme_import_fields_match_the_importer() -> None:
    section = human_section(README.read_text(encoding="utf-8"))
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`"):
            names = re.findall(r"`(\w+)`", cells[0] + " " + cells[1])
            rows[names[0]] = set(names)
    assert rows["id"] == set(importing._ID_FIELDS)
    assert rows["prompt"] == set(importing._PROMPT_FIELDS)
    assert rows["response"] == set(importing._RESPONSE_FIELDS)
    assert rows["model"] == set(importing._MODEL_FIELDS)
    assert rows["risk_category"] == set(importing._CATEGORY_FIELDS)
    assert rows["attack_vector"] == set(importing._VECTOR_FIELDS)
    assert "meta" in rows
    assert "--prompts-only" in section
