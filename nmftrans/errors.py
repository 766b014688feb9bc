"""The one exception type for errors a user can cause (bad files, bad options).

The CLI catches :class:`NmftransError` once and prints its message as a single line;
any other exception is a bug and may show a traceback.
"""


class NmftransError(Exception):
    """An error caused by input or options, reported to the user as one line."""
