"""nmftrans: automatic music transcription with nonnegative matrix factorization."""

__version__ = "0.1.0"
