"""Red-team campaigns (Llama 2 §4.3): live or recorded dialogues, tags, roll-ups, γ and replay.

A *campaign* targets one model (any backend; the built-in SmolLM2 by default). Its red teamers
(campaign members) either chat with the model live on the platform, the server generating each
reply in a worker thread, or record a dialogue held elsewhere (pasted or imported as JSONL). Each
dialogue is then tagged with a risk category, attack vectors, the degree of risk on the paper's
5-point Likert scale, and, when the model violated the policy, the violating assistant turn.

Time is measured on the server: every turn carries the time it was recorded; a dialogue's active
time is the sum of the gaps between its events (start, each turn, submission), each gap capped
at the campaign's ``idle_cap_s`` so that a coffee break does not count as red teaming (the cap is
an open choice, recorded in every roll-up). Imported dialogues carry the time their file states,
or none (then they are left out of γ and counted as untimed).

Roll-ups (:func:`rollup`): violation counts and rates (Wilson intervals) by risk category, attack
vector and model; dialogue lengths; the degree-of-risk histogram; and γ, the paper's robustness
metric, "the average number of created prompts that would trigger a violating response from the
model per person per hour": violating prompts / person-hours, with an exact Poisson interval on the
count and, with two or more red teamers, a bootstrap interval over red teamers (which also carries
the variation between people that the Poisson interval ignores).

Replay (:func:`replay`): a campaign's violating prompts (each dialogue up to its violating user
turn) go to a new model and become a safety rating study; once rated, :func:`mitigation` gives the
paper's "model over model" rate: the share of earlier violating prompts whose new response the
raters' majority judges not violating, with a Wilson interval.

Modules: :mod:`~safetylens.human.redteam.base` (settings, limits, :class:`RedTeamError`),
:mod:`~.campaigns` (campaigns and their members), :mod:`~.dialogues` (live dialogues: start, tag,
submit, active time), :mod:`~.chat` (model backends and one chat turn), :mod:`~.transcripts`
(dialogues held elsewhere: parsing, recording, export), :mod:`~.stats` (roll-ups and γ) and
:mod:`~.replay` (replay and mitigation). Every public name is importable from this package.
"""

from __future__ import annotations

from safetylens.human.redteam.base import (
    DEFAULT_DECODING,
    DEFAULT_IDLE_CAP_S,
    MAX_ACTIVE_S,
    MAX_MESSAGE,
    MAX_TURNS,
    RISK_LEVELS,
    RedTeamError,
)
from safetylens.human.redteam.campaigns import (
    add_redteamers,
    create_campaign,
    find_campaign,
    get_campaign,
    is_member,
    list_campaigns,
    open_campaign,
    set_campaign_status,
)
from safetylens.human.redteam.chat import BackendPool, chat
from safetylens.human.redteam.dialogues import (
    active_ms,
    load_dialogue,
    messages_of,
    start_dialogue,
    submit_dialogue,
    turns_of,
    validate_tags,
)
from safetylens.human.redteam.replay import (
    ORIGINAL_SUFFIX,
    REPLAY_PREFIX,
    ReplaySummary,
    list_replays,
    mitigation,
    replay,
    violating_prompts,
)
from safetylens.human.redteam.stats import gamma_dict, gamma_estimate, rollup, user_turn_of_violation
from safetylens.human.redteam.transcripts import (
    ExternalDialogue,
    export_dialogues,
    parse_dialogue_obj,
    parse_transcript,
    read_dialogues_jsonl,
    record_dialogues,
)

__all__ = [
    "DEFAULT_DECODING",
    "DEFAULT_IDLE_CAP_S",
    "MAX_ACTIVE_S",
    "MAX_MESSAGE",
    "MAX_TURNS",
    "ORIGINAL_SUFFIX",
    "REPLAY_PREFIX",
    "RISK_LEVELS",
    "BackendPool",
    "ExternalDialogue",
    "RedTeamError",
    "ReplaySummary",
    "active_ms",
    "add_redteamers",
    "chat",
    "create_campaign",
    "export_dialogues",
    "find_campaign",
    "gamma_dict",
    "gamma_estimate",
    "get_campaign",
    "is_member",
    "list_campaigns",
    "list_replays",
    "load_dialogue",
    "messages_of",
    "mitigation",
    "open_campaign",
    "parse_dialogue_obj",
    "parse_transcript",
    "read_dialogues_jsonl",
    "record_dialogues",
    "replay",
    "rollup",
    "set_campaign_status",
    "start_dialogue",
    "submit_dialogue",
    "turns_of",
    "user_turn_of_violation",
    "validate_tags",
    "violating_prompts",
]
