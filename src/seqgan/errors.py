"""The one error type the project raises for problems a user can fix.

Every bad file, config value, checkpoint or argument ends in a :class:`SeqGANError`
whose message says what is wrong and what to change. The CLI prints it on one line
and exits with status 2, without a traceback.
"""

from typing import Iterable


class SeqGANError(Exception):
    """A problem with the user's input (file, config, checkpoint, flag), with the fix in the message."""


def require_ints(section: str, config: object, keys: Iterable[str], low: int = 1) -> None:
    """Each of a config section's ``keys`` an integer (not a bool: TOML's true is no count) >= ``low``."""
    for key in keys:
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SeqGANError(f"{section}.{key} must be an integer >= {low}, got {value!r}")
