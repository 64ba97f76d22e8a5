"""The exception type that the CLI turns into a one-line message and exit code 2, and the advice it prints."""


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix."""

    exit_code = 2


class Damaged(UserError):
    """Stored data lrface relies on - a model file, a gallery, their metadata - is damaged or does not belong
    together: one line naming the fix; the service answers 503 (its own data, not the request, is at fault)."""


class BadImage(UserError):
    """An image that cannot be used (unreadable, too small, blank, no face found); ``reason`` is a short
    machine-readable tag, ``path`` the file or upload name."""

    def __init__(self, path, reason: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path, self.reason = str(path), reason


class WrongType(UserError, TypeError):
    """An argument of the wrong type (Python API): a TypeError, as Python raises, that the CLI and the service
    still report as one line like any other bad input."""


class Hint(UserWarning):
    """Advice on input that works but probably not as meant (e.g. a photo embedded without --align): a Python
    warning through the API; the CLI prints each as one ``warning:`` line once the command has succeeded."""
