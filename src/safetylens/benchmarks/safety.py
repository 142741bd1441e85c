"""Safety on adversarial prompts: violation % and mean rating (the Llama 2 paper's Figures 17-19).

The paper had three trained raters score each model's answers to ~2,000 adversarial prompts on its
5-point scale (§4.4); a rating of 1 or 2 is a violation. Its prompts are not public; this benchmark
runs the public stand-ins (SimpleSafetyTests, Do-Not-Answer, HarmBench, AdvBench) or a user's own
file (single- or multi-turn), and rates each answer with a harm judge from the scorer registry.
The judge is not the paper's raters: its measured agreement with people is shown beside every
number, and `safetylens human import` can send the same answers to people.

Metrics, each with its interval and n: ``violation_pct`` (Wilson), ``mean_rating`` (bootstrap), by
prompt set, by the paper's risk category (the set's own categories mapped by a data file, recorded
in the results) and single- vs multi-turn. Tables: Figure 17 (with the paper's bars, read from the
chart), Figure 18 (single vs multi-turn) and Figure 19 (per risk category).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from safetylens.benchmarks.base import (
    Benchmark,
    BenchmarkContext,
    BenchmarkOptions,
    BenchmarkResult,
    PaperTable,
    Sample,
    SampleOutcome,
    TableRow,
    context_scorer,
    context_scorer_record,
    open_choice,
    register,
    score_answers,
    scorer_option,
    scores_by_id,
    scoring_option,
    subset_note,
)
from safetylens.benchmarks.prompting import resolve_system_prompt, stratified_sample
from safetylens.datasets.safety_prompts import (
    PAPER_CATEGORIES,
    PROMPT_SETS,
    RISK_CATEGORIES,
    CategoryMapping,
    SafetyPrompt,
    load_mapping,
    load_set,
    load_user_file,
)
from safetylens.errors import ConfigError
from safetylens.models.base import GenerationRequest, Message, Prompt
from safetylens.records import GenerationRecord, RecordLike, SampleScore, ScoreLike, as_records, as_scores
from safetylens.reference.safety import figure17_rows
from safetylens.spec import ScorerRecord
from safetylens.stats.ci import Estimate, bootstrap_mean, proportion

SLOT = "harm_judge"
"""Where the judge is kept in the benchmark context."""

CATEGORY_LABELS = {
    "illicit_criminal": "Illicit & criminal activities",
    "hateful_harmful": "Hateful & harmful activities",
    "unqualified_advice": "Unqualified advice",
    "other": "Other",
}


class SafetyOptions(BenchmarkOptions):
    """Options of the ``safety`` benchmark."""

    prompt_sets: tuple[str, ...] = Field(
        ("simplesafetytests",),
        min_length=1,
        description=f"prompt sets: {', '.join(PROMPT_SETS)}, or file:PATH for your own JSONL/CSV (prompt or "
        "messages, optional id and category)",
    )
    category_mapping: str | None = open_choice(
        None,
        "protocol.md §2.1",
        "a YAML file overriding entries of the shipped mapping from each set's categories to the paper's three "
        "risk categories (None = the shipped mapping; the mapping in effect and its sha256 are recorded)",
    )
    sample: int | None = Field(
        None, ge=1, description="seeded stratified subset: K prompts per (set, risk category); None = every prompt"
    )
    system_prompt: str | None = open_choice(
        None,
        "protocol.md §7.2",
        "chat models: none (the chat template's default, if any), llama2 (the paper's Table 31), or text:...",
    )
    max_new_tokens: int = open_choice(
        256, "protocol.md §2.1", "generation length; the paper does not state it for the safety evaluation", ge=1
    )
    judge: str = scorer_option(
        "harm",
        "offline",
        "harm judge from the scorer registry (`safetylens scorers list harm`): offline (a surrogate trained on "
        "604 human harm scores), ...",
    )
    judge_options: dict[str, Any] = scoring_option({}, "options of the judge")
    bootstrap_resamples: int = scoring_option(2_000, "bootstrap resamples for the mean rating's interval", ge=100)


def _opts(options: BenchmarkOptions) -> SafetyOptions:
    if not isinstance(options, SafetyOptions):
        raise TypeError(f"expected SafetyOptions, got {type(options).__name__}")
    return options


def _mapping(opts: SafetyOptions) -> CategoryMapping:
    return load_mapping(Path(opts.category_mapping) if opts.category_mapping else None)


def load_prompts(opts: SafetyOptions, data: Any) -> list[SafetyPrompt]:
    """Every prompt of the chosen sets, in set order then file order.

    Raises:
        ConfigError: An unknown set name.
    """
    mapping = _mapping(opts)
    out: list[SafetyPrompt] = []
    for name in opts.prompt_sets:
        if name.startswith("file:"):
            out.extend(load_user_file(Path(name[len("file:") :]), mapping=mapping))
        elif name in PROMPT_SETS:
            out.extend(load_set(data, name, mapping))
        else:
            raise ConfigError(f"unknown prompt set {name!r}", hint=f"use one of {', '.join(PROMPT_SETS)}, or file:PATH")
    return out


class SafetyMeta(BaseModel):
    """What a safety sample's record carries in ``meta``.

    Attributes:
        set: The prompt set's name.
        risk_category: The paper's risk category (or ``"other"``).
        source_category: The set's own category.
        multi_turn: Whether the prompt is a conversation of several turns.
        prompt: The last user turn (what the harm judge reads beside the answer).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    set: str
    risk_category: str
    source_category: str = ""
    multi_turn: bool = False
    prompt: str = ""


def _meta(record: GenerationRecord) -> SafetyMeta:
    return record.meta_as(SafetyMeta)


def _parsed(score: SampleScore) -> bool:
    """Whether the judge's reply was a rating (scores written before model judges always were)."""
    return score.flag("parsed", default=True)


def _violation(scores: Sequence[SampleScore]) -> Estimate:
    return proportion(sum(s.flag("violation") for s in scores), len(scores))


def _mean_rating(scores: Sequence[SampleScore], resamples: int, seed: int) -> Estimate:
    return bootstrap_mean([s.number("rating") for s in scores], n_resamples=resamples, seed=seed)


@register
class Safety(Benchmark):
    """Violation % and mean rating on adversarial prompts, rated by a harm judge."""

    name = "safety"
    version = "1"
    description = "Safety on adversarial prompts: violation % and mean rating (Llama 2 Figures 17-19), harm judge"
    kind = "generate"
    Options = SafetyOptions
    default_max_new_tokens = 256

    def datasets(self, options: BenchmarkOptions) -> list[str]:
        """The registered sets among the chosen ones."""
        return sorted({PROMPT_SETS[n].dataset for n in _opts(options).prompt_sets if n in PROMPT_SETS})

    def build(self, ctx: BenchmarkContext) -> list[Sample]:
        """One generation per prompt (its last user turn answered after the conversation so far)."""
        opts = _opts(ctx.options)
        prompts = load_prompts(opts, ctx.data)
        if opts.sample is not None:
            prompts = stratified_sample(prompts, lambda p: (p.set, p.risk_category), opts.sample, ctx.seed)
        if ctx.limit is not None:
            prompts = prompts[: ctx.limit]
        if not prompts:
            raise ConfigError("safety: no prompts selected")
        ids = [p.id for p in prompts]
        if len(set(ids)) != len(ids):
            raise ConfigError("safety: two prompts share an id across the chosen sets; give user files their own ids")
        system = resolve_system_prompt(opts.system_prompt)
        samples = []
        for p in prompts:
            samples.append(
                Sample(
                    id=p.id,
                    meta=SafetyMeta(
                        set=p.set,
                        risk_category=p.risk_category,
                        source_category=p.source_category,
                        multi_turn=p.multi_turn,
                        prompt=p.prompt,
                    ).model_dump(),
                    generation=GenerationRequest(self._prompt(p, system, ctx.chat), ctx.decoding),
                )
            )
        return samples

    @staticmethod
    def _prompt(p: SafetyPrompt, system: str | None, chat: bool) -> Prompt:
        if chat:
            msgs = [Message(role="system", content=system)] if system is not None else []
            msgs.extend(Message(role=t.role, content=t.content) for t in p.turns)
            return tuple(msgs)
        if not p.multi_turn:
            return p.prompt
        # A base model continues a transcript; the roles are spelled out so the last turn is clear.
        lines = [f"{'User' if t.role == 'user' else 'Assistant'}: {t.content}" for t in p.turns]
        return "\n".join([*lines, "Assistant:"])

    def prompt_templates(self, options: BenchmarkOptions, chat: bool) -> dict[str, str]:
        """The prompt format and the category mapping in effect (its sha256 and files)."""
        opts = _opts(options)
        mapping = _mapping(opts)
        out = {"user": "{prompt} (multi-turn: the conversation's turns, the model answers the last user turn)"}
        if chat:
            system = resolve_system_prompt(opts.system_prompt)
            out["system"] = system if system is not None else "(none: the chat template's default)"
        else:
            out["prompt"] = "{prompt}; multi-turn: 'User: ...' / 'Assistant: ...' lines, then 'Assistant:'"
        out["category_mapping_sha256"] = mapping.sha256
        out["category_mapping_files"] = ", ".join(f"{s.path} ({s.sha256[:12]})" for s in mapping.sources)
        return out

    # -- scoring -----------------------------------------------------------------------------------

    def _judge(self, ctx: BenchmarkContext) -> Any:
        opts = _opts(ctx.options)
        return context_scorer(ctx, SLOT, "harm", opts.judge, opts.judge_options)

    def scorers(self, ctx: BenchmarkContext) -> list[ScorerRecord]:
        """Create the judge now, so a missing one fails the run before any model call."""
        return [self._judge(ctx).record]

    def score(self, ctx: BenchmarkContext, records: Sequence[RecordLike]) -> list[SampleScore]:
        """Rate every answer: harm (0-1), the paper's rating (1-5), violation and P(violation)."""
        judge = self._judge(ctx)
        return score_answers(
            ctx,
            self.name,
            as_records(records, self.name),
            "judge",
            lambda answers, prompts, advance: judge.judge(answers, prompts, progress=advance),
            lambda v: {
                "harm": v.harm,
                "rating": v.rating,
                "violation": v.violation,
                "p_violation": v.p_violation,
                "parsed": v.parsed,
            },
            ("judge", judge.record.id),
        )

    def sample_outcomes(
        self, ctx: BenchmarkContext, records: Sequence[RecordLike], scores: Sequence[ScoreLike]
    ) -> list[SampleOutcome] | None:
        """Per prompt: violation (bool) and rating, grouped by set, risk category and turns."""
        by_id = {s.id: s for s in as_scores(scores, self.name)}
        out = []
        for r in as_records(records, self.name):
            s = by_id.get(r.id)
            if s is None or not _parsed(s):
                continue
            m = _meta(r)
            out.append(
                SampleOutcome(
                    id=r.id,
                    values={"violation": s.flag("violation"), "rating": s.number("rating")},
                    groups=(
                        f"set:{m.set}",
                        f"risk_category:{m.risk_category}",
                        f"turns:{'multi' if m.multi_turn else 'single'}",
                    ),
                )
            )
        return out

    def aggregate_records(
        self, ctx: BenchmarkContext, all_records: Sequence[GenerationRecord], scores: Sequence[SampleScore]
    ) -> BenchmarkResult:
        """Violation % and mean rating overall and by set, risk category and turns; Figures 17-19."""
        opts = _opts(ctx.options)
        by_id = scores_by_id("safety", all_records, scores)
        # A model judge's answer that was not a rating is left out of every figure (and counted below),
        # never read as safe or unsafe.
        unparsed = [r for r in all_records if not _parsed(by_id[r.id])]
        records = [r for r in all_records if _parsed(by_id[r.id])]
        if not records:
            raise ConfigError("safety: the judge gave no usable rating for any answer", hint="check the judge model")
        rated = [by_id[r.id] for r in records]
        metas = [_meta(r) for r in records]
        boot = opts.bootstrap_resamples

        def figures(sel: Sequence[SampleScore]) -> dict[str, Estimate]:
            return {"violation_pct": _violation(sel), "mean_rating": _mean_rating(sel, boot, ctx.seed)}

        def grouped(key: Callable[[SafetyMeta], str]) -> dict[str, dict[str, Estimate]]:
            groups: dict[str, list[SampleScore]] = {}
            for m, s in zip(metas, rated, strict=True):
                groups.setdefault(key(m), []).append(s)
            return {g: figures(v) for g, v in sorted(groups.items())}

        headline = figures(rated)
        turns: dict[str, dict[str, Estimate]] = {}
        for label, multi in (("single", False), ("multi", True)):
            sel = [s for m, s in zip(metas, rated, strict=True) if m.multi_turn == multi]
            if sel:
                turns[label] = figures(sel)
        by_category = grouped(lambda m: m.risk_category)
        rec = self._scorer_record(ctx, scores)
        agreement = judge_agreement_note(rec)
        measured_note = f"judge: {rec.id} ({agreement})"
        tables = [
            PaperTable(
                id="llama2-fig17-safety",
                title="Safety: violation % and mean rating (Llama 2 Figure 17)",
                columns=["violation_pct", "mean_rating"],
                column_labels={"violation_pct": "Violation % (rating 1-2)", "mean_rating": "Mean rating (1-5)"},
                rows=[TableRow(label="this run", cells=dict(headline), note=measured_note), *figure17_rows()],
                digits=2,
                reference_source="the Llama 2 paper, Figure 17 (bar heights read from the chart)",
                note="Measured rows: a harm judge's ratings of public adversarial prompts, NOT the paper's three human "
                f"raters on its own prompts. {measured_note}. Paper rows: bar heights read from Figure 17 "
                "(approximate; its raters, its ~2,000 prompts).",
            ),
            PaperTable(
                id="llama2-fig18-safety-turns",
                title="Safety: violation % in single- and multi-turn conversations (Llama 2 Figure 18)",
                columns=[f"{t}_turn" for t in turns],
                column_labels={f"{t}_turn": f"{t.capitalize()}-turn violation %" for t in turns},
                rows=[
                    TableRow(
                        label="this run",
                        cells={f"{t}_turn": e["violation_pct"] for t, e in turns.items()},
                        note=measured_note,
                    )
                ],
                digits=1,
            ),
            PaperTable(
                id="llama2-fig19-safety-categories",
                title="Safety: violation % per risk category (Llama 2 Figure 19)",
                columns=[c for c in RISK_CATEGORIES if c in by_category],
                column_labels={c: CATEGORY_LABELS[c] for c in RISK_CATEGORIES},
                rows=[
                    TableRow(
                        label="this run",
                        cells={c: e["violation_pct"] for c, e in by_category.items()},
                        note=measured_note,
                    )
                ],
                digits=1,
                note="Risk categories mapped from each set's own categories by the shipped mapping (or the "
                "run's override); its sha256 is in the manifest's prompt templates.",
            ),
        ]
        mapping = _mapping(opts)
        notes = [measured_note]
        if unparsed:
            notes.append(
                f"{len(unparsed)} answers left out: the judge's reply was not a rating (first: {unparsed[0].id})"
            )
        other = sum(1 for m in metas if m.risk_category not in PAPER_CATEGORIES)
        if other:
            notes.append(f"{other} of {len(records)} prompts fall outside the paper's three risk categories ('other')")
        subset = subset_note(opts.sample, "set and category", ctx.limit, ctx.seed, len(records))
        if subset:
            notes.append(subset)
        metrics = {"empty_answer_pct": proportion(sum(s.flag("empty", default=False) for s in rated), len(rated))}
        return BenchmarkResult(
            benchmark=self.name,
            n_samples=len(records),
            headline=headline,
            metrics=metrics,
            breakdowns={"set": grouped(lambda m: m.set), "risk_category": by_category, "turns": turns},
            tables=tables,
            scorers=[rec.id],
            notes=notes,
            extra={"judge": rec.model_dump(mode="json"), "category_mapping": mapping.record()},
        )

    def _scorer_record(self, ctx: BenchmarkContext, scores: Sequence[SampleScore]) -> ScorerRecord:
        return context_scorer_record(ctx, SLOT, scores, "judge")


def judge_agreement_note(rec: ScorerRecord) -> str:
    """The judge's measured agreement with people, in words, from its record."""
    val = rec.validation if isinstance(rec.validation, dict) else {}
    loco = val.get("leave_one_category_out") if isinstance(val, dict) else None
    if isinstance(loco, dict) and "mae" in loco:
        return (
            f"agreement with human harm scores on categories it was not trained on: MAE {loco['mae']:.3f} "
            f"(SE {loco['mae_se']:.3f}, n={loco['n']}; a constant guess: {loco['constant_median_mae']:.3f}), "
            f"violation agreement {loco['violation_accuracy']:.3f}"
        )
    return "agreement with human harm scores not measured: check it with `safetylens scorers check harm`"
