"""``safetylens human redteam ...``: red-team campaigns, their roll-ups, replay and mitigation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import console
from safetylens.cli.human.common import DbOpt, fmt_est, human_app, open_db
from safetylens.errors import ConfigError
from safetylens.util import format_interval

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

    database = open_db(db)
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

    database = open_db(db)
    c = get_campaign(database, campaign)
    n = add_redteamers(database, c.id, usernames, expertise=expertise)
    console.print(f"{n} red teamers added to {escape(c.name)}")


@redteam_app.command("list")
def redteam_list(db: DbOpt = None) -> None:
    """List campaigns."""
    from safetylens.human.redteam import list_campaigns

    database = open_db(db)
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

    database = open_db(db)
    c = get_campaign(database, campaign)
    res = record_dialogues(database, c.id, read_dialogues_jsonl(file, default_redteamer=redteamer))
    console.print(f"{res['added']} dialogues recorded, {res['unchanged']} already there")


def _fmt_rate(x: dict[str, Any]) -> str:
    return fmt_est(x.get("violation_pct"))


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

    database = open_db(db)
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

    database = open_db(db)
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

    database = open_db(db)
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
    database = open_db(db)
    m = mitigation(database, study, tie_rule=tie_rule, min_ratings=min_ratings)
    if json_out is not None:
        atomic_write_json(json_out, m)
    console.print(
        f"{escape(m['model'])} mitigates {m['mitigated']} of {m['items_rated']} rated earlier violating prompts: "
        f"{fmt_est(m['mitigation_rate'])} ({m['items_incomplete']} incomplete, {m['items_tied']} tied, "
        f"{m['prompts_replayed']} replayed)"
    )
    conf = m.get("confirmed_by_raters")
    if conf:
        console.print(
            f"on the {conf['n']} prompts whose original response the raters confirmed as violating: "
            f"{fmt_est(conf['mitigation_rate'])}"
        )
