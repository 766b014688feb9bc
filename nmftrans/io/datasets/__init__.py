"""Find audio files and their note annotations in dataset folders, one module per layout.

Two kinds of collections:

* **labelled** (:func:`discover_labelled`, :mod:`.labelled`): recordings of music, each with an
  annotation of many notes: MAESTRO (:mod:`.maestro`), GuitarSet (:mod:`.guitarset`), MAPS or
  any folder of audio with same-name annotations (:mod:`.generic`);
* **isolated** (:func:`discover_isolated`, :mod:`.isolated`): one note per audio file, for
  learning templates.

Discovery only looks at file names and metadata tables (plus, for isolated notes, the small
per-file annotations); it never decodes audio. Problems with single files are returned in
``skipped`` as ``(path, reason)``; only a missing source or a broken metadata table raises
:class:`~nmftrans.errors.NmftransError`. Results are sorted by path, so they are deterministic.
"""

from nmftrans.io.datasets.common import Discovery
from nmftrans.io.datasets.isolated import (IsolatedDiscovery, IsolatedNote, discover_isolated, looks_isolated,
                                           pitch_from_filename, velocity_from_filename)
from nmftrans.io.datasets.labelled import LAYOUTS, DatasetOptions, check_dataset_options, discover_labelled
from nmftrans.io.datasets.maestro import SPLITS, read_maestro_metadata

__all__ = [
    "SPLITS",
    "LAYOUTS",
    "Discovery",
    "DatasetOptions",
    "IsolatedNote",
    "IsolatedDiscovery",
    "pitch_from_filename",
    "velocity_from_filename",
    "check_dataset_options",
    "discover_labelled",
    "discover_isolated",
    "looks_isolated",
    "read_maestro_metadata",
]
