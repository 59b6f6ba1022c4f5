"""Errors a user can fix. The CLI prints them as one line and exits with status 2."""


class InputError(Exception):
    """Bad input: the message names the file, the line or column, and what was expected."""

    def __init__(self, message: str, path: object = None, line: int | None = None, column: str | None = None):
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ":".join(where[:1]) + (", " + ", ".join(where[1:]) if len(where) > 1 else "")
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.line, self.column = path, line, column


class NonFiniteLossError(RuntimeError):
    """Training diverged: the loss became NaN or infinite (too high a learning rate, or bad inputs).

    The message names the phase, the epoch and the step; the CLI prints it as one line (exit 1) and
    says which checkpoint, if any, holds the last good state.
    """
