"""``safetylens human ...``: the human-evaluation platform from the command line.

``init`` creates or upgrades the database, ``serve`` runs the web app, ``add-user``/``users``/
``set-user`` manage accounts, ``study ...`` manages studies (create, list, show, raters,
guidelines, status), ``import``/``generate`` bring in responses, ``export`` writes every rating
with provenance, and ``results`` prints violation %, win rates, IRR and rater statistics.

Every command takes ``--db`` (a SQLite path or a ``postgresql://`` URL; default
``$SAFETYLENS_HUMAN_DB`` or ``~/.cache/safetylens/human.sqlite``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console, err_console
from safetylens.errors import ConfigError
from safetylens.util import format_interval

if TYPE_CHECKING:
    from safetylens.human.db import Database

human_app = typer.Typer(
    help="Human evaluation: safety ratings and pairwise comparisons by raters in a web app.", no_args_is_help=True
)
study_app = typer.Typer(help="Create and manage rating studies.", no_args_is_help=True)
human_app.add_typer(study_app, name="study")
app.add_typer(human_app, name="human")

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SAFETYLENS_HUMAN_DB",
        help="SQLite file or postgresql:// URL (default: ~/.cache/safetylens/human.sqlite)",
        show_envvar=True,
    ),
]


def _open(db_url: str | None, *, check: bool = True) -> Database:
    from safetylens.human.db import Database, default_url

    db = Database(db_url or default_url())
    if check:
        db.check_schema()
    return db


def _read_password(password_stdin: bool, prompt: str = "Password") -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ConfigError("no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask for a password", hint="pipe it in with --password-stdin")
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


@human_app.command("init")
def init(
    db: DbOpt = None,
    admin: Annotated[str | None, typer.Option(help="also create this admin user")] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the admin password from standard input")] = False,
) -> None:
    """Create the database, or upgrade it to the latest schema (safe to run again)."""
    from safetylens.human.auth import create_user
    from safetylens.human.db import current_revision, upgrade

    database = _open(db, check=False)
    before = current_revision(database.engine)
    upgrade(database)
    after = current_revision(database.engine)
    state = "created" if before is None else ("already up to date" if before == after else f"upgraded from {before}")
    console.print(f"database {escape(database.display_url)}: schema {after} ({state})")
    if admin:
        password = _read_password(password_stdin, f"Password for {admin}")
        create_user(database, admin, password, "admin")
        console.print(f"admin user {escape(admin)} created")


@human_app.command("serve")
def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (use PostgreSQL for more than one)")] = 1,
    secure_cookies: Annotated[bool, typer.Option(help="mark cookies Secure (serve behind HTTPS)")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    db_concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="PostgreSQL: rating transactions each worker runs at once; the rest queue "
            "(default: twice the CPUs; more concurrency made the database slower)",
        ),
    ] = None,
) -> None:
    """Run the web app with uvicorn."""
    import os

    import uvicorn

    from safetylens.human.app import ENV_DB_CONCURRENCY

    database = _open(db)
    if workers > 1 and database.is_sqlite:
        err_console.print(
            "[yellow]note:[/] several workers on one SQLite file work, but writes are serialised; "
            "use PostgreSQL for heavy use"
        )
    os.environ["SAFETYLENS_HUMAN_DB"] = database.url
    if secure_cookies:
        os.environ["SAFETYLENS_SECURE_COOKIES"] = "1"
    if db_concurrency is not None:
        os.environ[ENV_DB_CONCURRENCY] = str(db_concurrency)
    database.dispose()
    console.print(f"serving {escape(database.display_url)} on http://{host}:{port}/")
    uvicorn.run(
        "safetylens.human.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
    )


@human_app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="admin | researcher | rater")] = "rater",
    db: DbOpt = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Add a user (asks for the password, or reads it from standard input)."""
    from safetylens.human.auth import create_user, validate_new_user

    database = _open(db)
    validate_new_user(username, "x" * 64, role)
    password = _read_password(password_stdin)
    user = create_user(database, username, password, role)
    console.print(f"{escape(role)} {escape(username)} added (pseudonym {escape(user.pseudonym)})")


@human_app.command("users")
def users(db: DbOpt = None) -> None:
    """List users."""
    from sqlalchemy import select

    from safetylens.human.models import User

    database = _open(db)
    table = Table(title="users", title_justify="left")
    for col in ("user", "pseudonym", "role", "status", "last login (UTC)"):
        table.add_column(col)
    with database.read() as s:
        for u in s.scalars(select(User).order_by(User.username)):
            last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"
            table.add_row(escape(u.username), u.pseudonym, u.role, u.status, last)
    console.print(table)


@human_app.command("set-user")
def set_user(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str | None, typer.Option(help="admin | researcher | rater")] = None,
    status: Annotated[str | None, typer.Option(help="active | paused | removed")] = None,
    password: Annotated[bool, typer.Option("--password", help="set a new password (asked for)")] = False,
    password_stdin: Annotated[bool, typer.Option(help="read the new password from standard input")] = False,
    db: DbOpt = None,
) -> None:
    """Change a user's role, status or password."""
    from sqlalchemy import select

    from safetylens.human.auth import set_password, update_user
    from safetylens.human.models import User

    database = _open(db)
    with database.read() as s:
        user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise ConfigError(f"no user {username!r}", hint="list users with: safetylens human users")
    if role or status:
        update_user(database, user.id, role=role, status=status)
    if password or password_stdin:
        set_password(database, username, _read_password(password_stdin))
    console.print(f"user {escape(username)} updated")


def _parse_duration(text: str) -> int:
    from safetylens.cli.cache_cmds import parse_duration

    return int(parse_duration(text))


@study_app.command("create")
def study_create(
    name: Annotated[str, typer.Argument(help="unique study name")],
    kind: Annotated[str, typer.Option(help="safety (5-point) | pairwise (7-point)")] = "safety",
    raters_per_item: Annotated[int, typer.Option(help="distinct raters per item (the paper: 3)")] = 3,
    guidelines: Annotated[Path | None, typer.Option(help="Markdown file with the rating guidelines")] = None,
    pair: Annotated[
        list[str] | None, typer.Option(help="pairwise: FIRST:SECOND models to compare; repeatable (default: all pairs)")
    ] = None,
    timeout: Annotated[str, typer.Option(help="reservation timeout, e.g. 30m")] = "30m",
    balance: Annotated[bool, typer.Option(help="cap each rater at an equal share of the work")] = True,
    max_items_per_rater: Annotated[int | None, typer.Option(help="explicit cap per rater")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of A/B sides and item order (default: random, stored)")] = None,
    description: Annotated[str, typer.Option(help="description for staff")] = "",
    db: DbOpt = None,
) -> None:
    """Create a study (with its first guidelines version)."""
    from safetylens.human.studies import create_study

    database = _open(db)
    text = None
    if guidelines is not None:
        if not guidelines.is_file():
            raise ConfigError(f"no such file: {guidelines}")
        text = guidelines.read_text(encoding="utf-8")
    pairs = []
    for p in pair or []:
        if ":" not in p:
            raise ConfigError(f"--pair {p!r}: expected FIRST:SECOND")
        a, b = p.split(":", 1)
        pairs.append((a.strip(), b.strip()))
    study = create_study(
        database,
        name,
        kind,
        raters_per_item=raters_per_item,
        guidelines=text,
        description=description,
        reservation_timeout_s=_parse_duration(timeout),
        balance=balance,
        max_items_per_rater=max_items_per_rater,
        seed=seed,
        pairs=pairs,
    )
    console.print(f"study {escape(study.name)} (id {study.id}, {kind}, seed {study.seed}) created")


@study_app.command("list")
def study_list(db: DbOpt = None) -> None:
    """List studies with their progress."""
    from safetylens.human.studies import study_progress

    database = _open(db)
    from sqlalchemy import select

    from safetylens.human.models import Study

    table = Table(title="studies", title_justify="left")
    for col in ("id", "name", "kind", "status", "items", "ratings", "complete items", "raters"):
        table.add_column(col)
    with database.read() as s:
        for st in s.scalars(select(Study).order_by(Study.id)):
            p = study_progress(s, st.id)
            table.add_row(
                str(st.id),
                escape(st.name),
                st.kind,
                st.status,
                str(p.items),
                f"{p.ratings}/{p.slots}",
                str(p.complete_items),
                str(p.members),
            )
    console.print(table)


@study_app.command("show")
def study_show(study: Annotated[str, typer.Argument(help="study name or id")], db: DbOpt = None) -> None:
    """Show a study's settings and progress."""
    from safetylens.human.studies import current_guidelines, find_study, study_progress

    database = _open(db)
    with database.read() as s:
        st = find_study(s, study)
        p = study_progress(s, st.id)
        g = current_guidelines(s, st.id)
    console.print(f"[bold]{escape(st.name)}[/] (id {st.id}) {st.kind}, {st.status}")
    console.print(
        f"raters per item {st.raters_per_item}; reservation timeout {st.reservation_timeout_s} s; "
        f"balance {'on' if st.balance else 'off'}; seed {st.seed}; guidelines v{g.version if g else '-'}"
    )
    console.print(
        f"{p.items} items, {p.ratings}/{p.slots} ratings ({p.percent:.1f}%), {p.complete_items} complete, "
        f"{p.reserved} reserved now, {p.members} raters"
    )


@study_app.command("add-raters")
def study_add_raters(
    study: Annotated[str, typer.Argument(help="study name or id")],
    usernames: Annotated[list[str], typer.Argument(help="raters' login names")],
    db: DbOpt = None,
) -> None:
    """Admit raters to a study."""
    from safetylens.human.studies import add_members, get_study

    database = _open(db)
    st = get_study(database, study)
    n = add_members(database, st.id, usernames)
    console.print(f"{n} rater(s) added to {escape(st.name)}")


@study_app.command("guidelines")
def study_guidelines(
    study: Annotated[str, typer.Argument(help="study name or id")],
    file: Annotated[Path, typer.Argument(help="Markdown file")],
    db: DbOpt = None,
) -> None:
    """Publish a new guidelines version (raters confirm it before rating again)."""
    from safetylens.human.studies import add_guidelines, get_study

    if not file.is_file():
        raise ConfigError(f"no such file: {file}")
    database = _open(db)
    st = get_study(database, study)
    v = add_guidelines(database, st.id, file.read_text(encoding="utf-8"))
    console.print(f"guidelines version {v} published for {escape(st.name)}")


@study_app.command("status")
def study_status(
    study: Annotated[str, typer.Argument(help="study name or id")],
    status: Annotated[str, typer.Argument(help="active | paused | closed")],
    db: DbOpt = None,
) -> None:
    """Open, pause or close a study."""
    from safetylens.human.studies import get_study, set_status

    database = _open(db)
    st = get_study(database, study)
    set_status(database, st.id, status)
    console.print(f"{escape(st.name)} is now {escape(status)}")


@human_app.command("import")
def import_cmd(
    study: Annotated[str, typer.Argument(help="study name or id")],
    files: Annotated[list[Path], typer.Argument(help="generations.jsonl, .jsonl or .csv file(s)")],
    fmt: Annotated[str, typer.Option("--format", help="auto | generations | jsonl | csv")] = "auto",
    model: Annotated[str | None, typer.Option(help="model name when the file does not say")] = None,
    batch: Annotated[str | None, typer.Option(help="batch name (IRR is reported per batch)")] = None,
    id_field: Annotated[str | None, typer.Option(help="column with the prompt id")] = None,
    prompt_field: Annotated[str | None, typer.Option(help="column with the prompt")] = None,
    response_field: Annotated[str | None, typer.Option(help="column with the response")] = None,
    category_field: Annotated[str | None, typer.Option(help="column with the risk category (e.g. type)")] = None,
    default_category: Annotated[str | None, typer.Option(help="risk category for rows without one")] = None,
    prompts_only: Annotated[
        bool,
        typer.Option(
            "--prompts-only", help="import prompts without responses (then `human generate`); no record may have one"
        ),
    ] = False,
    db: DbOpt = None,
) -> None:
    """Import prompts and responses: all files in one transaction (all or nothing); re-importing is harmless.

    Every record needs a response unless --prompts-only is given.
    """
    from safetylens.human.importing import FieldMap, import_files

    if fmt not in ("auto", "generations", "jsonl", "csv"):
        raise ConfigError(f"--format {fmt!r}: use auto, generations, jsonl or csv")
    from safetylens.human.studies import get_study

    database = _open(db)
    get_study(database, study)  # an unknown study is reported before any file is read
    fields = FieldMap(id=id_field, prompt=prompt_field, response=response_field, category=category_field)
    summaries = import_files(
        database,
        study,
        files,
        fmt=fmt,  # type: ignore[arg-type]
        model=model,
        batch=batch,
        fields=fields,
        default_category=default_category,
        prompts_only=prompts_only,
    )
    for f, summary in zip(files, summaries, strict=True):
        console.print(
            f"{escape(str(f))}: {summary.records} records, {summary.prompts_added} new prompts, "
            f"{summary.responses_added} new responses ({summary.responses_unchanged} already there), "
            f"{summary.items_added} new items; models {escape(', '.join(sorted(summary.models)) or '-')}"
        )


@human_app.command("generate")
def generate(
    study: Annotated[str, typer.Argument(help="study name or id")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="builtin | local dir | file.gguf | hub id | served model")
    ] = "builtin",
    backend: Annotated[str | None, typer.Option(help="hf | openai | llamacpp")] = None,
    base_url: Annotated[list[str] | None, typer.Option("--base-url", help="OpenAI-compatible server URL")] = None,
    name: Annotated[str | None, typer.Option(help="model name stored with the responses")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="generation length")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.1,
    top_p: Annotated[float, typer.Option(help="nucleus sampling")] = 0.9,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    limit: Annotated[int | None, typer.Option(help="at most this many prompts")] = None,
    batch: Annotated[str | None, typer.Option(help="batch of the new items")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for in-process backends")] = None,
    db: DbOpt = None,
) -> None:
    """Generate responses for the study's prompts with a model, through the request cache."""
    from safetylens.human.importing import generate_responses
    from safetylens.models import load_backend
    from safetylens.models.base import Decoding
    from safetylens.spec import ModelSpec

    database = _open(db)
    spec_args: dict[str, Any] = {"name": model, "base_urls": tuple(base_url or ())}
    if backend:
        spec_args["backend"] = backend
    if threads:
        spec_args["threads"] = threads
    be = load_backend(ModelSpec(**spec_args))
    try:
        summary = generate_responses(
            database,
            study,
            be,
            decoding=Decoding(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed),
            model_name=name,
            batch=batch,
            limit=limit,
        )
    finally:
        be.close()
    console.print(f"{summary.responses_added} responses generated, {summary.items_added} new items")


@human_app.command("export")
def export_cmd(
    study: Annotated[str, typer.Argument(help="study name or id")],
    out: Annotated[Path, typer.Argument(help="output file (.csv, .jsonl or .parquet)")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv | jsonl | parquet (default: from the extension)")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Write every rating with provenance (rater pseudonym, times, guidelines version, A/B mapping)."""
    from safetylens.human.export import write_export

    database = _open(db)
    n = write_export(database, study, out, fmt)  # type: ignore[arg-type]
    console.print(f"{n} ratings written to {escape(str(out))}")


def _fmt_ci(x: dict[str, Any], digits: int) -> str:
    """The interval as Rich markup: escaped, since Rich would swallow "[n/a: ...]" as a tag."""
    # Results say why an interval is missing (``ci_note``, e.g. "n < 20"); say it rather than guess.
    if x.get("ci_note") and (x.get("ci_low") is None or x.get("ci_high") is None):
        return escape(f"[n/a: {x['ci_note']}]")
    return escape(format_interval(x.get("ci_low"), x.get("ci_high"), digits))


def _fmt_est(e: dict[str, Any] | None, digits: int = 1) -> str:
    if not e or e.get("value") is None:
        return "-"
    return f"{e['value']:.{digits}f}{e.get('unit', '')} {_fmt_ci(e, digits)}"


def _fmt_agree(a: dict[str, Any] | None) -> str:
    if not a:
        return "-"
    if "error" in a:
        return escape(str(a["error"]))
    if a.get("coefficient") is None:
        return escape("undefined" + (f" ({a['note']})" if a.get("note") else ""))
    se = "n/a" if a.get("se") is None else f"{a['se']:.3f}"
    return f"{a['coefficient']:.3f} {_fmt_ci(a, 3)} SE {se}"


@human_app.command("results")
def results_cmd(
    study: Annotated[str, typer.Argument(help="study name or id")],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results as JSON here")] = None,
    weights: Annotated[str, typer.Option(help="AC2 weights: quadratic, linear, ordinal, ...")] = "quadratic",
    tie_rule: Annotated[str, typer.Option(help="adjudicate | strict-majority | any")] = "adjudicate",
    min_ratings: Annotated[int | None, typer.Option(help="items with fewer ratings are left out (default N)")] = None,
    pairwise_rule: Annotated[str, typer.Option(help="median | majority")] = "median",
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 10_000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    db: DbOpt = None,
) -> None:
    """Violation % / win rates with 95% CIs, IRR (Gwet AC1/AC2) per batch, and rater statistics."""
    from pydantic import ValidationError

    from safetylens.human.results import ResultOptions, compute_results
    from safetylens.util import atomic_write_json

    try:
        opts = ResultOptions(
            irr_weights=weights,
            tie_rule=tie_rule,
            min_ratings=min_ratings,
            pairwise_rule=pairwise_rule,
            n_resamples=resamples,
            seed=seed,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from exc
    database = _open(db)
    res = compute_results(database, study, opts)
    if json_out is not None:
        atomic_write_json(json_out, res)
    console.print(
        f"[bold]{escape(res['study']['name'])}[/]: {res['n_ratings']} ratings on {res['n_items']} items; "
        f"{escape(res['rules']['incomplete_items'])}"
    )
    if "safety" in res:
        t = Table(
            title="violation % (95% Wilson CI) and mean rating (95% bootstrap CI over items)", title_justify="left"
        )
        for col in ("model", "items", "incomplete", "violation %", "mean rating"):
            t.add_column(col)
        for m in res["safety"]["models"]:
            t.add_row(
                escape(m["model"]),
                str(m["items_used"]),
                str(m["items_incomplete"]),
                _fmt_est(m["violation_pct"]),
                _fmt_est(m["mean_rating"], 2),
            )
            for group in ("by_risk_category", "by_turns"):
                for g, x in m[group].items():
                    t.add_row(
                        "  " + escape(g),
                        str(x["items_used"]),
                        "",
                        _fmt_est(x["violation_pct"]),
                        _fmt_est(x["mean_rating"], 2),
                    )
        console.print(t)
    if "pairwise" in res:
        t = Table(title=f"win / tie / loss ({res['pairwise']['rule']}; 95% Wilson CI)", title_justify="left")
        for col in ("first", "second", "items", "win %", "tie %", "loss %"):
            t.add_column(col)
        for p in res["pairwise"]["pairs"]:
            t.add_row(
                escape(p["first"]),
                escape(p["second"]),
                str(p["items_used"]),
                _fmt_est(p["win"]),
                _fmt_est(p["tie"]),
                _fmt_est(p["loss"]),
            )
        console.print(t)
    irr = res["irr"]
    t = Table(title=f"inter-rater reliability (Gwet's AC2, {irr['weights']} weights)", title_justify="left")
    cols = ["scope", "items", "AC2"] + (["AC1 on violation"] if "safety" in res else [])
    for col in cols:
        t.add_column(col)

    def _row(scope: str, x: dict[str, Any]) -> None:
        cells = [escape(scope), str(x["n_items"]), _fmt_agree(x.get("ac2"))]
        if "safety" in res:
            cells.append(_fmt_agree(x.get("ac1_violation")))
        t.add_row(*cells)

    _row("overall", irr["overall"])
    for b, x in irr["by_batch"].items():
        _row(f"batch {b}", x)
    for m, x in (irr.get("by_model") or irr.get("by_pair") or {}).items():
        _row(m, x)
    console.print(t)
    t = Table(title="raters", title_justify="left")
    for col in ("rater", "ratings", "median s/item", "agreement with the other raters' majority"):
        t.add_column(col)
    for x in res["raters"]:
        med = x["median_seconds_per_item"]
        t.add_row(
            escape(x["rater"]),
            str(x["ratings"]),
            f"{med:.1f}" if med is not None else "-",
            _fmt_est(x["agreement_with_majority"]),
        )
    console.print(t)
    sources: dict[str, int] = {}
    for label in res.get("labels", []):
        sources[label["source"]] = sources.get(label["source"], 0) + 1
    if sources:
        console.print("item labels by source: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())))
    if json_out is not None:
        console.print(f"results written to {escape(str(json_out))}")


# ------------------------------------------------------------------------------------------------
# Quality: qualification quizzes, checks, quality settings, the audit log.
# ------------------------------------------------------------------------------------------------

quiz_app = typer.Typer(help="Qualification quizzes: import, list, require for a study, results.", no_args_is_help=True)
human_app.add_typer(quiz_app, name="quiz")
audit_app = typer.Typer(help="The audit trail: who changed what, when.", no_args_is_help=True)
human_app.add_typer(audit_app, name="audit")


@quiz_app.command("import")
def quiz_import(
    file: Annotated[Path, typer.Argument(help="YAML or JSON quiz file (see human/examples/quiz_example.yaml)")],
    db: DbOpt = None,
) -> None:
    """Create the quizzes defined in FILE (all or nothing; names must be new)."""
    from safetylens.human.quizzes import import_quizzes, load_quiz_file

    database = _open(db)
    parsed, example = load_quiz_file(file)
    ids = import_quizzes(database, parsed, example=example)
    for q, qid in zip(parsed, ids, strict=True):
        console.print(
            f"quiz {qid}: {escape(q['name'])} ({q['kind']}, {len(q['questions'])} questions)"
            + (" (example)" if example else "")
        )


@quiz_app.command("list")
def quiz_list(db: DbOpt = None) -> None:
    """Every quiz with its pass rules and attempts."""
    from safetylens.human.quizzes import list_quizzes

    t = Table(title="quizzes", title_justify="left")
    for col in ("id", "name", "kind", "questions", "pass rules", "cooldown", "attempts"):
        t.add_column(col)
    for q in list_quizzes(_open(db)):
        t.add_row(
            str(q["id"]),
            escape(q["name"]) + (" (example)" if q["example"] else ""),
            q["kind"],
            str(q["questions"]),
            escape("; ".join(q["pass_rules"])),
            f"{q['cooldown_s']} s",
            ", ".join(f"{k} {v}" for k, v in sorted(q["attempts"].items())) or "-",
        )
    console.print(t)


@quiz_app.command("results")
def quiz_results_cmd(
    quiz: Annotated[str | None, typer.Argument(help="quiz name or id (default: all)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the attempts as JSON")] = None,
    db: DbOpt = None,
) -> None:
    """Every attempt: rater, status and score per pass rule."""
    from safetylens.human.quizzes import quiz_results
    from safetylens.util import atomic_write_json

    rows = quiz_results(_open(db), quiz)
    if json_out is not None:
        atomic_write_json(json_out, rows)
    t = Table(title="quiz attempts", title_justify="left")
    for col in ("quiz", "rater", "attempt", "status", "finished", "score"):
        t.add_column(col)
    for r in rows:
        score = "; ".join(
            f"{x['rule']}: {x['value']:.3g}" if x["value"] is not None else f"{x['rule']}: pending"
            for x in r["score"].get("rules", [])
        )
        t.add_row(
            escape(r["quiz"]),
            escape(f"{r['user']} ({r['pseudonym']})"),
            str(r["attempt"]),
            r["status"],
            r["finished_at"] or "-",
            escape(score),
        )
    console.print(t)


@quiz_app.command("require")
def quiz_require(
    study: Annotated[str, typer.Argument(help="study name or id")],
    quizzes: Annotated[list[str] | None, typer.Argument(help="quiz names or ids (none: require no quiz)")] = None,
    db: DbOpt = None,
) -> None:
    """Set the quizzes a study's raters must pass before they receive items."""
    from safetylens.human.quizzes import find_quiz, set_required_quizzes
    from safetylens.human.studies import find_study

    database = _open(db)
    with database.read() as s:
        study_id = find_study(s, study).id
        ids = [find_quiz(s, q).id for q in quizzes or []]
    set_required_quizzes(database, study_id, ids, actor_id=None)
    console.print(f"study {study_id} requires {len(ids)} quiz(zes)")


@human_app.command("checks")
def checks_import(
    study: Annotated[str, typer.Argument(help="study name or id")],
    file: Annotated[Path, typer.Argument(help="JSONL: id, prompt, response (response_b), accepted, kind")],
    db: DbOpt = None,
) -> None:
    """Add gold/attention-check items to a study (never shown as such to raters)."""
    from safetylens.human.gold import add_gold_items, load_gold_file
    from safetylens.human.studies import get_study

    database = _open(db)
    study_id = get_study(database, study).id
    n = add_gold_items(database, study_id, load_gold_file(file))
    console.print(f"{n} check item(s) added to study {study_id}")


@human_app.command("quality")
def quality_cmd(
    study: Annotated[str, typer.Argument(help="study name or id")],
    gold_rate: Annotated[float | None, typer.Option(help="share of items that are checks (0 = off)")] = None,
    gold_min_checks: Annotated[int | None, typer.Option(help="checks before an automatic pause")] = None,
    gold_min_accuracy: Annotated[float | None, typer.Option(help="pause below this check accuracy")] = None,
    adaptive_overlap: Annotated[
        bool | None, typer.Option("--adaptive-overlap/--no-adaptive-overlap", help="add a rater on disagreement")
    ] = None,
    adaptive_max_raters: Annotated[int | None, typer.Option(help="most raters per item that way")] = None,
    db: DbOpt = None,
) -> None:
    """Show or change a study's quality settings (checks, automatic pause, adaptive overlap)."""
    from safetylens.human.gold import update_quality_settings
    from safetylens.human.studies import get_study

    database = _open(db)
    study_id = get_study(database, study).id
    changes = {
        k: v
        for k, v in {
            "gold_rate": gold_rate,
            "gold_min_checks": gold_min_checks,
            "gold_min_accuracy": gold_min_accuracy,
            "adaptive_overlap": adaptive_overlap,
            "adaptive_max_raters": adaptive_max_raters,
        }.items()
        if v is not None
    }
    settings = update_quality_settings(database, study_id, changes)
    for k, v in settings.model_dump().items():
        console.print(f"{k}: {v}")


@audit_app.command("export")
def audit_export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file to write (default: standard output)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | jsonl (default: from --out, else jsonl)")] = "",
    study: Annotated[str | None, typer.Option(help="only this study (name or id)")] = None,
    action: Annotated[str | None, typer.Option(help="only actions starting with this, e.g. rating.")] = None,
    db: DbOpt = None,
) -> None:
    """Write the audit log as CSV or JSON lines."""
    from safetylens.human.audit import audit_records, export_text
    from safetylens.human.studies import get_study
    from safetylens.util import atomic_write_text

    database = _open(db)
    kind = fmt or ("csv" if out is not None and out.suffix.lower() == ".csv" else "jsonl")
    if kind not in ("csv", "jsonl"):
        raise ConfigError(f"unknown format {kind!r}", hint="csv or jsonl")
    study_id = get_study(database, study).id if study else None
    records = audit_records(database, study_id=study_id, action_prefix=action)
    text = export_text(records, kind)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.write(text)
        return
    atomic_write_text(out, text)
    err_console.print(f"{len(records)} audit entries written to {escape(str(out))}")


@human_app.command("edit-rating")
def edit_rating_cmd(
    rating_id: Annotated[int, typer.Argument(help="rating id (from the export)")],
    value: Annotated[int, typer.Argument(help="the new rating")],
    reason: Annotated[str, typer.Option(help="why it changes (recorded)")],
    editor: Annotated[str, typer.Option(help="user name of the staff member making the edit")],
    db: DbOpt = None,
) -> None:
    """Change a submitted rating through the audit log (old value, new value, reason, editor)."""
    from sqlalchemy import select

    from safetylens.human.audit import edit_rating
    from safetylens.human.models import User

    database = _open(db)
    with database.read() as s:
        user = s.scalar(select(User).where(User.username == editor))
    if user is None or user.role not in ("admin", "researcher"):
        raise ConfigError(f"{editor!r} is not a researcher or admin")
    edit_rating(database, rating_id, value, reason, actor_id=user.id)
    console.print(f"rating {rating_id} set to {value}")


# ------------------------------------------------------------------------------------------------
# Red teaming and preference export: `human redteam ...`, `human export-preferences`.
# ------------------------------------------------------------------------------------------------

redteam_app = typer.Typer(
    help="Red-team campaigns: dialogues, roll-ups with gamma, replay on a new model.", no_args_is_help=True
)
human_app.add_typer(redteam_app, name="redteam")


def _spec_args(model: str, backend: str | None, base_url: list[str] | None, threads: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": model}
    if backend:
        spec["backend"] = backend
    if base_url:
        spec["base_urls"] = list(base_url)
    if threads:
        spec["threads"] = threads
    return spec


@redteam_app.command("create")
def redteam_create(
    name: Annotated[str, typer.Argument(help="campaign name")],
    model: Annotated[str, typer.Option("--model", "-m", help="model of live chats (builtin, path, hub id, served)")] = (
        "builtin"
    ),
    backend: Annotated[str | None, typer.Option(help="hf | openai | llamacpp")] = None,
    base_url: Annotated[list[str] | None, typer.Option("--base-url", help="OpenAI-compatible server URL")] = None,
    label: Annotated[str | None, typer.Option(help="model name recorded with the dialogues")] = None,
    system_prompt: Annotated[str, typer.Option(help="system prompt of live chats")] = "",
    max_new_tokens: Annotated[int, typer.Option(help="reply length")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.1,
    top_p: Annotated[float, typer.Option(help="nucleus sampling")] = 0.9,
    idle_cap_s: Annotated[int, typer.Option(help="longest gap between actions counted as active time")] = 300,
    redteamer: Annotated[list[str] | None, typer.Option("--redteamer", "-r", help="user name of a red teamer")] = None,
    description: Annotated[str, typer.Option(help="shown to staff")] = "",
    db: DbOpt = None,
) -> None:
    """Create a red-team campaign (and admit red teamers)."""
    from safetylens.human.redteam import add_redteamers, create_campaign

    database = _open(db)
    c = create_campaign(
        database,
        name,
        target=_spec_args(model, backend, base_url, None),
        target_label=label,
        system_prompt=system_prompt,
        decoding={"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p},
        description=description,
        idle_cap_s=idle_cap_s,
    )
    if redteamer:
        add_redteamers(database, c.id, redteamer)
    console.print(f"campaign {escape(c.name)} (id {c.id}) created; model {escape(c.target_label)}")


@redteam_app.command("add")
def redteam_add(
    campaign: Annotated[str, typer.Argument(help="campaign name or id")],
    usernames: Annotated[list[str], typer.Argument(help="user names")],
    expertise: Annotated[str, typer.Option(help="their expertise (e.g. cybersecurity)")] = "",
    db: DbOpt = None,
) -> None:
    """Admit red teamers to a campaign."""
    from safetylens.human.redteam import add_redteamers, get_campaign

    database = _open(db)
    c = get_campaign(database, campaign)
    n = add_redteamers(database, c.id, usernames, expertise=expertise)
    console.print(f"{n} red teamers added to {escape(c.name)}")


@redteam_app.command("list")
def redteam_list(db: DbOpt = None) -> None:
    """List campaigns."""
    from safetylens.human.redteam import list_campaigns

    database = _open(db)
    t = Table(title="red-team campaigns", title_justify="left")
    for col in ("id", "name", "model", "status", "red teamers", "dialogues", "violating"):
        t.add_column(col)
    for row in list_campaigns(database):
        c = row["campaign"]
        t.add_row(
            str(c.id),
            escape(c.name),
            escape(c.target_label),
            c.status,
            str(row["members"]),
            str(row["dialogues"]),
            str(row["violating"]),
        )
    console.print(t)


@redteam_app.command("import")
def redteam_import(
    campaign: Annotated[str, typer.Argument(help="campaign name or id")],
    file: Annotated[Path, typer.Argument(help="JSONL: one tagged dialogue per line")],
    redteamer: Annotated[str | None, typer.Option(help="user name for lines without a redteamer field")] = None,
    db: DbOpt = None,
) -> None:
    """Record dialogues held elsewhere (all or nothing; re-importing the same ids is harmless).

    Fields per line: id, redteamer, model, messages [{role, content}], risk_category,
    attack_vectors, degree_of_risk (1-5), violating_turn (1 = first assistant turn; absent = no
    violation), time_spent_s or active_minutes (absent = untimed, left out of gamma), notes.
    """
    from safetylens.human.redteam import get_campaign, read_dialogues_jsonl, record_dialogues

    database = _open(db)
    c = get_campaign(database, campaign)
    res = record_dialogues(database, c.id, read_dialogues_jsonl(file, default_redteamer=redteamer))
    console.print(f"{res['added']} dialogues recorded, {res['unchanged']} already there")


def _fmt_rate(x: dict[str, Any]) -> str:
    return _fmt_est(x.get("violation_pct"))


@redteam_app.command("export")
def redteam_export(
    campaign: Annotated[str, typer.Argument(help="campaign name or id")],
    out: Annotated[Path, typer.Argument(help="output .jsonl")],
    db: DbOpt = None,
) -> None:
    """Write every dialogue of a campaign as JSONL (the import format, red teamers by pseudonym)."""
    import json

    from safetylens.human.redteam import export_dialogues
    from safetylens.util import atomic_write_text

    database = _open(db)
    rows = export_dialogues(database, campaign)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    console.print(f"{len(rows)} dialogues written to {escape(str(out))}")


@redteam_app.command("rollup")
def redteam_rollup(
    campaign: Annotated[str, typer.Argument(help="campaign name or id")],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the roll-ups as JSON here")] = None,
    exclude_open_time: Annotated[bool, typer.Option(help="count only submitted dialogues' time")] = False,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples over red teamers")] = 10_000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    db: DbOpt = None,
) -> None:
    """Violations by category and vector, dialogue lengths, degree of risk, and gamma with its CI."""
    from safetylens.human.redteam import rollup
    from safetylens.util import atomic_write_json

    database = _open(db)
    r = rollup(database, campaign, include_open_time=not exclude_open_time, n_resamples=resamples, seed=seed)
    if json_out is not None:
        atomic_write_json(json_out, r)
    d = r["dialogues"]
    console.print(
        f"[bold]{escape(r['campaign']['name'])}[/]: {d['submitted']} submitted dialogues ({d['open']} open), "
        f"{d['violating']} violating; violation % {_fmt_rate(r['violation'])}"
    )
    for title, key in (("risk category", "by_risk_category"), ("attack vector", "by_attack_vector")):
        t = Table(title=f"by {title} (95% Wilson)", title_justify="left")
        for col in (title, "dialogues", "violating", "violation %"):
            t.add_column(col)
        for g, x in r[key].items():
            t.add_row(escape(g), str(x["dialogues"]), str(x["violating"]), _fmt_rate(x))
        console.print(t)
    L = r["lengths"]["user_turns"]
    if L["n"]:
        console.print(
            f"dialogue length (user turns): mean {L['mean']:.2f}, median {L['median']}, {L['min']}-{L['max']}"
        )
    g = r["gamma"]
    if g["value"] is None:
        console.print("gamma: no timed red teaming yet")
    else:
        boot = g.get("bootstrap")
        extra = f"; bootstrap over red teamers {format_interval(boot['ci_low'], boot['ci_high'], 3)}" if boot else ""
        console.print(
            f"gamma = {g['value']:.3f} violating prompts per person-hour "
            f"{format_interval(g['ci_low'], g['ci_high'], 3)} "
            f"(exact Poisson; n = {g['n']} prompts, {g['persons']} red teamers, {g['hours']:.2f} h; "
            f"{g['untimed_dialogues']} untimed dialogues left out{extra})"
        )
    if json_out is not None:
        console.print(f"roll-ups written to {escape(str(json_out))}")


@redteam_app.command("replay")
def redteam_replay(
    campaign: Annotated[str, typer.Argument(help="campaign name or id")],
    model: Annotated[str, typer.Option("--model", "-m", help="the new model")] = "builtin",
    backend: Annotated[str | None, typer.Option(help="hf | openai | llamacpp")] = None,
    base_url: Annotated[list[str] | None, typer.Option("--base-url", help="OpenAI-compatible server URL")] = None,
    name: Annotated[str | None, typer.Option(help="model name stored with the responses")] = None,
    study: Annotated[str | None, typer.Option(help="name of the new study")] = None,
    raters_per_item: Annotated[int, typer.Option(help="raters per response")] = 3,
    include_original: Annotated[bool, typer.Option(help="let raters re-judge the original responses too")] = False,
    min_degree: Annotated[int | None, typer.Option(help="replay only dialogues with at least this risk")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="generation length")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.1,
    top_p: Annotated[float, typer.Option(help="nucleus sampling")] = 0.9,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    threads: Annotated[int | None, typer.Option(help="CPU threads for in-process backends")] = None,
    db: DbOpt = None,
) -> None:
    """Send a campaign's violating prompts to a new model and create a safety rating study."""
    from safetylens.human.redteam import replay
    from safetylens.models import load_backend
    from safetylens.models.base import Decoding
    from safetylens.spec import ModelSpec

    database = _open(db)
    be = load_backend(ModelSpec(**_spec_args(model, backend, base_url, threads)))
    try:
        s = replay(
            database,
            campaign,
            be,
            study_name=study,
            model_name=name,
            decoding=Decoding(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed),
            raters_per_item=raters_per_item,
            include_original=include_original,
            min_degree=min_degree,
        )
    finally:
        be.close()
    console.print(
        f"{s.prompts} violating prompts replayed on {escape(s.model)}: study {escape(s.study_name)} "
        f"(id {s.study_id}) with {s.items} items; add raters with: safetylens human study add-raters"
    )


@redteam_app.command("mitigation")
def redteam_mitigation(
    study: Annotated[str, typer.Argument(help="the replay study (name or id)")],
    tie_rule: Annotated[str, typer.Option(help="adjudicate | strict-majority | any")] = "adjudicate",
    min_ratings: Annotated[int | None, typer.Option(help="items with fewer ratings are left out (default N)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the result as JSON here")] = None,
    db: DbOpt = None,
) -> None:
    """The model-over-model mitigation rate of a rated replay study (95% Wilson CI)."""
    from safetylens.human.redteam import mitigation
    from safetylens.util import atomic_write_json

    if tie_rule not in ("adjudicate", "strict-majority", "any"):
        raise ConfigError(f"--tie-rule {tie_rule!r}: use adjudicate, strict-majority or any")
    database = _open(db)
    m = mitigation(database, study, tie_rule=tie_rule, min_ratings=min_ratings)
    if json_out is not None:
        atomic_write_json(json_out, m)
    console.print(
        f"{escape(m['model'])} mitigates {m['mitigated']} of {m['items_rated']} rated earlier violating prompts: "
        f"{_fmt_est(m['mitigation_rate'])} ({m['items_incomplete']} incomplete, {m['items_tied']} tied, "
        f"{m['prompts_replayed']} replayed)"
    )
    conf = m.get("confirmed_by_raters")
    if conf:
        console.print(
            f"on the {conf['n']} prompts whose original response the raters confirmed as violating: "
            f"{_fmt_est(conf['mitigation_rate'])}"
        )


@human_app.command("export-preferences")
def export_preferences(
    study: Annotated[str, typer.Argument(help="pairwise study (name or id)")],
    out: Annotated[Path, typer.Argument(help="output .jsonl (a .manifest.json is written beside it)")],
    margin: Annotated[str, typer.Option(help="small | large (Llama 2 Table 27) | none")] = "small",
    rule: Annotated[str, typer.Option(help="median | majority: how three answers become one preference")] = "median",
    keep_ties: Annotated[bool, typer.Option(help="keep items without a preferred side (margin 0)")] = False,
    keep_unsafe_chosen: Annotated[bool, typer.Option(help="keep 'chosen unsafe, rejected safe' pairs")] = False,
    safety_study: Annotated[
        str | None, typer.Option(help="safety study rating the same responses (safety bin)")
    ] = None,
    min_ratings: Annotated[int | None, typer.Option(help="items with fewer ratings are left out (default N)")] = None,
    prompt_format: Annotated[str, typer.Option(help="explicit (prompt column) | implicit")] = "explicit",
    db: DbOpt = None,
) -> None:
    """Write TRL preference pairs (prompt/chosen/rejected, margin, safety bin, provenance) as JSONL."""
    from pydantic import ValidationError

    from safetylens.human.preferences import PreferenceOptions, write_preferences

    try:
        opts = PreferenceOptions(
            margin=margin,
            rule=rule,
            keep_ties=keep_ties,
            keep_unsafe_chosen=keep_unsafe_chosen,
            safety_study=safety_study,
            min_ratings=min_ratings,
            prompt_format=prompt_format,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from exc
    database = _open(db)
    stats = write_preferences(database, study, out, opts)
    c = stats["counts"]
    console.print(
        f"{c['exported']} preference pairs written to {escape(str(out))} from {c['items']} items "
        f"(dropped: {c['dropped_ties']} ties, {c['dropped_unsafe_chosen']} chosen-unsafe, "
        f"{c['dropped_incomplete']} incomplete); safety bins {escape(str(stats['safety_bins']))}"
    )
