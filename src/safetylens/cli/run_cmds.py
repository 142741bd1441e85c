"""``safetylens run | resume | show | runs | benchmarks``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console, err_console
from safetylens.errors import ConfigError
from safetylens.util import format_interval

RUNS_DIR = Path("runs")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _apply_option(benches: dict[str, dict[str, Any]], assignment: str) -> None:
    if "=" not in assignment or "." not in assignment.split("=", 1)[0]:
        raise ConfigError(f"--option {assignment!r}: expected BENCHMARK.KEY=VALUE, e.g. truthfulqa.max_new_tokens=64")
    key, value = assignment.split("=", 1)
    bench, opt = key.split(".", 1)
    if bench not in benches:
        raise ConfigError(
            f"--option {assignment!r}: benchmark {bench!r} is not selected",
            hint=f"selected: {', '.join(benches) or 'none'}",
        )
    benches[bench][opt] = _parse_value(value)


def _apply_shortcut(benches: dict[str, dict[str, Any]], flag: str, key: str, value: Any) -> None:
    """Set option ``key`` on every selected benchmark that has it; error if none has it."""
    from safetylens.benchmarks import get

    takers = [name for name in benches if key in get(name).Options.model_fields]
    if not takers:
        raise ConfigError(f"{flag} does not apply to the selected benchmarks ({', '.join(benches)})")
    for name in takers:
        benches[name].setdefault(key, value)


def _log(msg: str) -> None:
    err_console.print(escape(msg), highlight=False)


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="TOML/YAML/JSON run configuration (flags override it)")] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="builtin | local dir | file.gguf | hub id | served model name")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="hf | openai | llamacpp (default: hf, or openai with --base-url)")
    ] = None,
    gguf_file: Annotated[str | None, typer.Option(help="GGUF file inside a model directory or hub repo")] = None,
    revision: Annotated[str | None, typer.Option(help="hub revision (commit) to pin")] = None,
    base_url: Annotated[
        list[str] | None, typer.Option("--base-url", help="OpenAI-compatible server URL; repeat for replicas")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="auto | chat | completions (openai backend)")] = None,
    chat: Annotated[str | None, typer.Option(help="auto | yes | no: format prompts as chats")] = None,
    chat_template: Annotated[str | None, typer.Option(help="Jinja chat template file overriding the model's")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto | float32 | bfloat16 | float16")] = None,
    cpu_kernel: Annotated[
        str | None,
        typer.Option(help="float32 linear layers on a CPU (hf): auto (oneDNN, pre-packed) | torch | onednn"),
    ] = None,
    decode_workers: Annotated[
        int | None,
        typer.Option(help="batches run at once on a CPU (hf), sharing the threads (default: 2 with 2+ threads)"),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch size (local) or wave size (servers)")] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="concurrent requests per server")] = None,
    benchmark: Annotated[
        list[str] | None,
        typer.Option("--benchmark", "-b", help="benchmark to run; repeatable (see `safetylens benchmarks`)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="first N samples of each benchmark")] = None,
    sample: Annotated[
        int | None, typer.Option(help="seeded stratified sample: at most K per group (benchmarks that support it)")
    ] = None,
    classifier: Annotated[str | None, typer.Option(help="toxicity classifier for benchmarks that use one")] = None,
    judge: Annotated[
        str | None, typer.Option(help="truthfulness/informativeness judge for benchmarks that use one")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="benchmark option BENCH.KEY=VALUE; repeatable")
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="sampling temperature (0 = greedy; paper: 0.1)")] = None,
    top_p: Annotated[float | None, typer.Option(help="nucleus sampling top-p (paper: 0.9)")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="override every benchmark's generation length")] = None,
    seed: Annotated[int | None, typer.Option(help="run seed (sampling, sample selection)")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-O", help="parent directory of run directories (default ./runs)")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not read or write the request cache")] = False,
    label: Annotated[str | None, typer.Option(help="free-text label stored in the manifest")] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", help="write the run into exactly this directory (must not hold a run yet)"),
    ] = None,
) -> None:
    """Run benchmarks on a model and write a run directory.

    Examples:
      safetylens run --model builtin --benchmark truthfulqa --limit 20

      safetylens run --model ./Llama-2-7b-chat-hf -b toxigen -b bold --sample 50

      safetylens run --model meta-llama/Llama-2-7b-chat-hf --base-url http://gpu1:8000/v1 -b truthfulqa-mc

      safetylens run config.toml --limit 5
    """
    from safetylens.spec import build_spec, load_spec_file

    data: dict[str, Any] = load_spec_file(config) if config else {}
    m = dict(data.get("model") or {})
    for key, value in [
        ("name", model),
        ("backend", backend),
        ("gguf_file", gguf_file),
        ("revision", revision),
        ("endpoint", endpoint),
        ("chat", chat),
        ("chat_template", chat_template),
        ("dtype", dtype),
        ("cpu_kernel", cpu_kernel),
        ("decode_workers", decode_workers),
        ("device", device),
        ("batch_size", batch_size),
        ("max_concurrency", max_concurrency),
    ]:
        if value is not None:
            m[key] = value
    if base_url:
        m["base_urls"] = list(base_url)
    data["model"] = m
    benches: dict[str, dict[str, Any]] = {b["name"]: dict(b.get("options") or {}) for b in data.get("benchmarks") or []}
    for name in benchmark or []:
        benches.setdefault(name, {})
    for name in benches:
        from safetylens.benchmarks import get

        get(name)  # unknown names fail here with the list of known ones
    if sample is not None:
        _apply_shortcut(benches, "--sample", "sample", sample)
    if classifier is not None:
        _apply_shortcut(benches, "--classifier", "classifier", classifier)
    if judge is not None:
        _apply_shortcut(benches, "--judge", "judge", judge)
    for assignment in option or []:
        _apply_option(benches, assignment)
    data["benchmarks"] = [{"name": k, "options": v} for k, v in benches.items()]
    dec: dict[str, Any] = dict(data.get("decoding") or {})
    dec_values: list[tuple[str, float | int | None]] = [
        ("temperature", temperature),
        ("top_p", top_p),
        ("max_new_tokens", max_new_tokens),
        ("seed", seed),
    ]
    for key, dvalue in dec_values:
        if dvalue is not None:
            dec[key] = dvalue
    data["decoding"] = dec
    if limit is not None:
        data["limit"] = limit
    if output is not None:
        data["output_dir"] = str(output)
    if no_cache:
        data["use_cache"] = False
    if label is not None:
        data["label"] = label
    spec = build_spec(data)
    _execute(spec, run_dir=None, new_dir=run_dir)


def _execute(spec: Any, run_dir: Path | None, new_dir: Path | None = None) -> None:
    from safetylens.models import load_backend
    from safetylens.runs import RunDir, execute

    # Check the target directory before the (slow) model load.
    new_run = RunDir.create_at(new_dir) if new_dir is not None else None
    _log(f"loading model {spec.model.name} ...")
    backend = load_backend(spec.model)
    try:
        if run_dir:
            run = RunDir.open(run_dir)
        elif new_run is not None:
            run = new_run
        else:
            run = RunDir.create(spec)
        _log(f"run directory: {run.path}")
        results = execute(spec, backend, run, resume=run_dir is not None, log=_log)
    finally:
        backend.close()
    _print_results(results)
    console.print(f"\nResults: [bold]{escape(str(run.results_path))}[/]")


def _print_results(results: dict[str, Any]) -> None:
    for name, res in results.items():
        table = Table(title=f"{name} (n={res.n_samples})", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("95% CI", justify="right")
        table.add_column("n", justify="right")
        for key, est in {**res.headline, **res.metrics}.items():
            table.add_row(
                escape(key), f"{est.value:.2f}{est.unit}", format_interval(est.ci_low, est.ci_high), str(est.n)
            )
        console.print(table)
        for bname, groups in res.breakdowns.items():
            metric_names = list(dict.fromkeys(m for g in groups.values() for m in g))
            # Breakdowns show the headline metrics only (when a benchmark has them): a table of every
            # metric per group does not fit a terminal; results.json and the report hold them all.
            if res.headline and any(m in res.headline for m in metric_names):
                metric_names = [m for m in metric_names if m in res.headline]
            if not groups or not metric_names:
                continue
            btable = Table(title=f"{name} by {bname}", title_justify="left")
            btable.add_column(bname)
            for m in metric_names:
                btable.add_column(f"{m} [95% CI]", justify="right")
            btable.add_column("n", justify="right")
            for gname, ms in groups.items():
                cells: list[str] = [escape(gname)]
                ns = set()
                for m in metric_names:
                    e = ms.get(m)
                    if e is None:
                        cells.append("")
                        continue
                    ns.add(e.n)
                    cells.append(f"{e.value:.2f}{e.unit} {format_interval(e.ci_low, e.ci_high)}")
                cells.append("/".join(str(n) for n in sorted(ns)))
                btable.add_row(*cells)
            console.print(btable)
        for note in res.notes:
            console.print(f"  note: {escape(note)}", highlight=False)


@app.command()
def resume(run_dir: Annotated[Path, typer.Argument(help="run directory to continue")]) -> None:
    """Continue an interrupted run from its manifest.

    Samples already saved are kept and answers in the request cache are reused; the run is refused
    if the model, data or options no longer match the manifest.
    """
    from safetylens.runs import RunDir

    spec = RunDir.open(run_dir).manifest().spec
    _execute(spec, run_dir=run_dir)


@app.command()
def show(
    run_dir: Annotated[Path, typer.Argument(help="run directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print results.json")] = False,
) -> None:
    """Show a run: model, benchmarks, progress, and metrics with confidence intervals."""
    from safetylens.runs import RunDir

    run = RunDir.open(run_dir)
    manifest = run.manifest()
    results = run.results()
    if as_json:
        console.print_json(
            json.dumps(results.to_json() if results is not None else {"manifest": manifest.model_dump(mode="json")})
        )
        return
    records = run.records()
    console.print(f"[bold]{escape(run.path.name)}[/]  created {manifest.created}")
    console.print(
        f"model: {escape(manifest.model.model)} ({manifest.model.backend} {manifest.model.backend_version})"
        + (f", weights sha256 {manifest.model.weights_sha256[:12]}" if manifest.model.weights_sha256 else "")
    )
    for b in manifest.benchmarks:
        done = sum(1 for r in records if r.benchmark == b.name)
        console.print(f"  {escape(b.name)}: {done}/{b.n_samples} samples, chat={b.chat}, decoding={b.decoding}")
    if results is None:
        console.print(f"[yellow]no results yet[/]; continue with: safetylens resume {escape(str(run.path))}")
        return
    _print_results(results.results)


@app.command()
def runs(directory: Annotated[Path, typer.Argument(help="parent directory of runs")] = RUNS_DIR) -> None:
    """List runs: when, which model, which benchmarks, complete or not."""
    from safetylens.runs import RunDir

    if not directory.is_dir():
        console.print(f"no runs in {escape(str(directory))}")
        return
    table = Table()
    for col in ("run", "created", "model", "benchmarks", "status"):
        table.add_column(col)
    for path in sorted(p for p in directory.iterdir() if (p / "manifest.json").is_file()):
        run = RunDir(path)
        try:
            man = run.manifest()
        except ConfigError:
            table.add_row(escape(path.name), "", "", "", "[red]bad manifest[/]")
            continue
        status = "complete" if run.results_path.exists() else "[yellow]incomplete[/]"
        table.add_row(
            escape(path.name),
            man.created,
            escape(man.model.model),
            escape(", ".join(b.name for b in man.benchmarks)),
            status,
        )
    console.print(table)


@app.command()
def benchmarks(name: Annotated[str | None, typer.Argument(help="show one benchmark's options")] = None) -> None:
    """List benchmarks, or show one benchmark's options, defaults and open protocol choices."""
    from safetylens.benchmarks import get, registry

    if name is None:
        table = Table()
        table.add_column("benchmark")
        table.add_column("kind")
        table.add_column("description")
        for key, cls in sorted(registry().items()):
            table.add_row(key, cls.kind, cls.description)
        console.print(table)
        return
    bench = get(name)
    console.print(f"[bold]{escape(bench.name)}[/] ({bench.kind}): {escape(bench.description)}")
    table = Table()
    for col in ("option", "default", "open choice", "description"):
        table.add_column(col)
    for key, info in bench.Options.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        table.add_row(
            key, escape(repr(info.default)), escape(str(extra.get("open_choice", ""))), escape(info.description or "")
        )
    console.print(table)


@app.command()
def score(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory")],
    classifier: Annotated[str | None, typer.Option(help="toxicity classifier to score with")] = None,
    judge: Annotated[str | None, typer.Option(help="truthfulness/informativeness judge to score with")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="scoring option BENCH.KEY=VALUE; repeatable")
    ] = None,
    refusal: Annotated[
        bool,
        typer.Option(
            "--refusal",
            help="also (or only, with no other option) measure how often the run's answers refuse, per "
            "benchmark (the paper's Figure 33 measure); writes refusal.json",
        ),
    ] = False,
    refusal_classifier: Annotated[
        str, typer.Option(help="refusal classifier for --refusal (see `safetylens scorers list refusal`)")
    ] = "offline",
) -> None:
    """Score a finished run again (another classifier, judge or threshold) without regenerating.

    Only scoring options may change; the previous manifest and results are kept under history/.
    """
    from safetylens.benchmarks import get
    from safetylens.runs import RunDir, rescore

    run = RunDir.open(run_dir)
    if refusal:
        _print_refusal(run, refusal_classifier)
        if classifier is None and judge is None and not option:
            return
    manifest = run.manifest()
    overrides: dict[str, dict[str, Any]] = {b.name: {} for b in manifest.benchmarks}
    for flag, key, value in (("--classifier", "classifier", classifier), ("--judge", "judge", judge)):
        if value is None:
            continue
        takers = [n for n in overrides if key in get(n).Options.model_fields]
        if not takers:
            raise ConfigError(f"{flag} does not apply to the benchmarks of this run")
        for n in takers:
            overrides[n][key] = value
    for assignment in option or []:
        _apply_option(overrides, assignment)
    results = rescore(run, {k: v for k, v in overrides.items() if v}, log=_log)
    _print_results(results)
    console.print(f"\nResults: [bold]{escape(str(run.results_path))}[/]")


def _print_refusal(run: Any, classifier: str) -> None:
    from safetylens.refusal_rate import run_refusal_rates

    report = run_refusal_rates(run, classifier)
    table = Table(title=f"refusal rate of the answers ({report['classifier']['id']})", title_justify="left")
    for col in ("benchmark", "refusal %", "95% CI", "n", "empty answers"):
        table.add_column(col)
    for bench, row in report["benchmarks"].items():
        e = row["refusal_pct"]
        table.add_row(
            escape(bench),
            f"{e['value']:.1f}",
            f"[{e['ci_low']:.1f}, {e['ci_high']:.1f}]",
            str(e["n"]),
            str(row["empty"]),
        )
    console.print(table)
    console.print(f"Refusal rates: [bold]{escape(report['file'])}[/]")
