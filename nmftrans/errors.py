"""The one exception type for errors a user can cause (bad files, bad options).

The CLI catches :class:`NmftransError` once and prints its message as a single line;
any other exception is a bug and may show a traceback.
"""


class NmftransError(Exception):
    """An error caused by input or options, reported to the user as one line."""


class SettingError(NmftransError):
    """A setting outside its range, named as the Python API names it.

    The message reads ``"<setting> <problem>"``; the CLI shows the option instead of the Python
    name (``n_iter`` -> ``--iterations``), so that no layer below it speaks in flags.

    Parameters
    ----------
    setting : str
        The parameter's Python name (``beta``, ``n_iter``, ``before_s``).
    problem : str
        What is wrong, e.g. ``"must be between 0 and 2, got 3"``.
    """

    def __init__(self, setting: str, problem: str):
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting} {problem}")

    def __reduce__(self):  # picklable (a worker process or a dask task sends it back)
        return SettingError, (self.setting, self.problem)
