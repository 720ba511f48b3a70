"""The engine's error hierarchy: every user mistake becomes one of these, with a message that says what to fix."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class TraceError(EngineError):
    """A trace folder or file is missing, malformed or inconsistent.

    The message names the file, the row (1-based data row, header excluded) and column where known,
    and what was expected.
    """

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None):
        where = ", ".join(
            part for part in (
                file and f"{file}",
                row is not None and f"row {row}",
                column and f"column '{column}'",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.column = file, row, column


class SettingsError(EngineError):
    """Settings are invalid; the message names the setting and the accepted values."""


class UnknownNameError(EngineError):
    """A task, policy or model name is not registered."""


class BudgetExhausted(EngineError):
    """No affordable action is left and the budget behaviour is `refuse`."""


class ClientError(EngineError):
    """A model call failed after its retries (the message never contains a secret)."""


class WorkspaceError(EngineError):
    """The workspace directory cannot be used (read-only, full disk, locked by another run)."""
