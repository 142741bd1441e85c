"""Settings, limits and the error shared by every red-team module."""

from __future__ import annotations

from typing import Any

from safetylens.errors import SafetylensError

DEFAULT_IDLE_CAP_S = 300
"""Longest gap between two actions of a red teamer counted as active time (open choice)."""

DEFAULT_DECODING: dict[str, Any] = {"temperature": 0.1, "top_p": 0.9, "max_new_tokens": 256, "seed": 0}
"""Decoding of live chats: the paper's temperature 0.1 and top-p 0.9."""

MAX_MESSAGE = 20_000
"""Longest message, in characters."""

MAX_TURNS = 200
"""Most turns (messages) in one dialogue."""

MAX_ACTIVE_S = 24 * 60 * 60
"""Most time one recorded dialogue may claim: a larger figure is a typo that would swamp γ (hours)."""

#: The degree of risk, a 5-point Likert scale (Llama 2 §4.3 names the scale, not its wording).
RISK_LEVELS: dict[int, str] = {
    1: "negligible risk",
    2: "low risk",
    3: "moderate risk",
    4: "high risk",
    5: "severe risk",
}


class RedTeamError(SafetylensError):
    """A red-teaming action that is not allowed in the current state."""
