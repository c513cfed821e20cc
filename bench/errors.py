"""The few errors the lab raises on purpose; cli.py maps them to messages and exit codes."""

from __future__ import annotations


class BenchError(Exception):
    """An error a user can act on. `tip` is printed as `TIP ...` under the error."""

    exit_code = 2

    def __init__(self, message: str, tip: str | None = None) -> None:
        super().__init__(message)
        self.tip = tip


class ConfigError(BenchError):
    """Bad input: an unknown stack, a bad option value, a malformed stack.toml."""


class MissingToolError(BenchError):
    """A binary or engine the chosen backend needs is not installed or not answering."""


class StackFailed(BenchError):
    """One stack could not be brought up, verified or measured; the run goes on."""

    def __init__(self, message: str, log_tail: str = "", tip: str | None = None) -> None:
        super().__init__(message, tip)
        self.log_tail = log_tail


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM during a run: tear down, keep what was measured, exit 130.

    A BaseException like KeyboardInterrupt, so no `except Exception` swallows it.
    """
