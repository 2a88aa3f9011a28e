"""The one error type the project raises for problems a user can fix.

Every bad file, config value, checkpoint or argument ends in a :class:`SeqGANError`
whose message says what is wrong and what to change. The CLI prints it on one line
and exits with status 2, without a traceback.
"""


class SeqGANError(Exception):
    """A problem with the user's input (file, config, checkpoint, flag), with the fix in the message."""
