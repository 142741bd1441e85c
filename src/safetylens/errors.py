"""Exceptions with messages meant for people.

Every error a user can cause (bad path, bad data, unreachable server, bad rating) is raised as a
:class:`SafetylensError` subclass; the CLI prints its message and hint without a traceback.
"""

from __future__ import annotations


class SafetylensError(Exception):
    """Base class for errors caused by input or environment, not by a bug.

    Args:
        message: What went wrong, naming the file, value or server involved.
        hint: How to fix it (a command to run, an option to set), if known.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class ConfigError(SafetylensError):
    """A run configuration, option or flag is invalid."""


class DataError(SafetylensError):
    """A data file is missing, malformed, or fails its checksum."""


class ModelError(SafetylensError):
    """A model cannot be loaded or a backend cannot serve a request."""


class BackendUnavailable(ModelError):
    """A backend's optional dependency is not installed."""
