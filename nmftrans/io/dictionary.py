"""The dictionary file: spectral templates W with the settings they were learned with.

Format (``.npz``, read with ``allow_pickle=False``; every entry a plain numeric or unicode array):

=================  ==========================  ==================================================
key                dtype / shape               meaning
=================  ==========================  ==================================================
``format``         str, ()                     ``"nmftrans-dictionary"``
``version``        int32, ()                   format version: 1, or 2 for a convolutive W
``W``              float32, (n_bins, n_comp)   nonnegative templates (columns of unit sum);
                   or (n_bins, n_comp, n_fr)   version 2: τ-frame templates W[:, k, τ], each of
                                               unit sum over frequency and frames (a template
                                               shorter than n_fr ends in all-zero frames)
``pitches``        int16, (n_comp,)            MIDI pitch of each column
``roles``          int8, (n_comp,)             0 = sustain (or only) template, 1 = attack/onset
``settings``       str, ()                     :class:`FeatureSettings` as JSON
``beta``           float64, ()                 β of the divergence the templates were fitted for
``provenance``     str, ()                     JSON object: source, method, tool version, date
``deep_W``         float32, (K, n_bins, n_comp)  optional: per-layer templates of a deep (unfolded)
                                               dictionary (:mod:`nmftrans.core.deep`); absent otherwise
``deep_adapt``     int8, ()                    optional, with ``deep_W``: 1 = after the layers, the
                                               per-block adaptation of W and its H updates run
``floor_octaves``  float64, ()                 optional: the spacing of the solver's floor templates
                                               this dictionary is meant for (absent: the solver's
                                               default, 2 octaves)
=================  ==========================  ==================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmftrans.errors import NmftransError
from nmftrans.io.fileio import atomic_path, read_npz
from nmftrans.core.settings import FeatureSettings

FORMAT_NAME = "nmftrans-dictionary"
FORMAT_VERSION = 1
CONVOLUTIVE_VERSION = 2  # written only for a 3-D (convolutive) W, so one-frame files stay version 1
ROLE_SUSTAIN = 0
ROLE_ATTACK = 1
ROLE_NAMES = {ROLE_SUSTAIN: "sustain", ROLE_ATTACK: "attack"}
SHIPPED = ("piano", "guitar")
_KEYS = ("format", "version", "W", "pitches", "roles", "settings", "beta", "provenance")


@dataclass
class Dictionary:
    """Templates and their metadata.

    Attributes
    ----------
    W : np.ndarray [shape=(n_bins, n_components)] or [shape=(n_bins, n_components, n_frames)], float32
        One-frame templates, or τ-frame (convolutive) templates ``W[:, k, τ]`` for
        ``n_frames > 1`` (see :func:`nmftrans.core.kernels.update_activations_conv`).
    pitches : np.ndarray [shape=(n_components,)], int16
        MIDI pitch of each template.
    roles : np.ndarray [shape=(n_components,)], int8
        ``ROLE_SUSTAIN`` or ``ROLE_ATTACK`` for each template.
    settings : FeatureSettings
        The analysis that produced the templates; ``transcribe`` reuses it.
    beta : float
        β of the divergence used to learn them (and the default for solving).
    provenance : dict
        JSON-serialisable description of the source.
    deep_W : np.ndarray [shape=(K, n_bins, n_components)], float32, or None
        Deep dictionary: the templates of each of K unfolded KL MU layers, which replace the
        solve of H (:mod:`nmftrans.core.deep`); None for an ordinary dictionary.
    deep_adapt : bool
        Deep dictionary only: the layers replace the first solve only, and the per-block
        adaptation of W (from the last layer's templates) and its H updates follow as usual.
    floor_octaves : float or None
        Octaves between the broadband floor templates solved along with these templates
        (:func:`nmftrans.core.templates.floor_templates`) when ``SolverParams.floor_octaves`` is None
        (the default); None: the solver's default spacing. The shipped guitar sets 0.25: narrow
        floors take a guitar body's resonances (energy near 100 and 200 Hz on a real steel-string
        guitar), which 2-octave floors leave to the pitch templates an octave or a twelfth below
        the played notes.

    The provenance may hold ``"program"`` (the General MIDI program transcriptions get) and
    ``"note_ends"`` (:attr:`note_ends`).
    """

    W: np.ndarray
    pitches: np.ndarray
    roles: np.ndarray
    settings: FeatureSettings
    beta: float = 1.0
    provenance: dict = field(default_factory=dict)
    deep_W: np.ndarray | None = None
    deep_adapt: bool = False
    floor_octaves: float | None = None

    def __post_init__(self) -> None:
        self.W = np.ascontiguousarray(self.W, dtype=np.float32)
        self.pitches = np.asarray(self.pitches, dtype=np.int16)
        self.roles = np.asarray(self.roles, dtype=np.int8)
        _validate(self.W, self.pitches, self.roles, self.settings, self.beta, source="dictionary")
        if self.deep_W is not None:
            self.deep_W = np.ascontiguousarray(self.deep_W, dtype=np.float32)
            _validate_deep(self.deep_W, self.W, self.beta, source="dictionary")
        elif self.deep_adapt:
            raise NmftransError("dictionary: deep_adapt needs deep_W")
        self.deep_adapt = bool(self.deep_adapt)
        if self.floor_octaves is not None:
            self.floor_octaves = _check_floor(self.floor_octaves, "dictionary")
        _check_note_ends(self.provenance, "dictionary")

    @property
    def frames(self) -> int:
        """Frames of the longest template: 1 for the ordinary (2-D) model."""
        return 1 if self.W.ndim == 2 else int(self.W.shape[2])

    @property
    def note_ends(self) -> str:
        """Where notes transcribed with this dictionary end by default (``NoteParams.note_ends``):
        the provenance's ``"note_ends"``, else ``"release"``. The shipped guitar says ``"sound"``."""
        return note_ends_of(self.provenance)

    @property
    def pitch_set(self) -> np.ndarray:
        """Sorted distinct MIDI pitches, shape ``(n_pitches,)``."""
        return np.unique(self.pitches)


def note_ends_of(provenance: dict) -> str:
    """The ``note_ends`` a dictionary's provenance (or saved activations') asks for: its ``"note_ends"``,
    else ``"release"``."""
    return str(provenance.get("note_ends", "release"))


def _check_note_ends(provenance, source: str) -> None:
    from nmftrans.core.notes import NOTE_ENDS

    if isinstance(provenance, dict) and "note_ends" in provenance and provenance["note_ends"] not in NOTE_ENDS:
        raise NmftransError(f"{source}: provenance 'note_ends' must be one of {', '.join(NOTE_ENDS)}, "
                            f"got {provenance['note_ends']!r}")


def _check_floor(value, source: str) -> float:
    from nmftrans.core.settings import check_floor_octaves

    try:
        return check_floor_octaves(value)
    except NmftransError as e:
        raise NmftransError(f"{source}: {e}") from None


def _validate(W, pitches, roles, settings, beta, source) -> None:
    from nmftrans.core.features import frequencies

    if W.ndim not in (2, 3) or pitches.ndim != 1 or roles.ndim != 1:
        raise NmftransError(f"{source}: W must be 2-D (or 3-D, convolutive) and pitches/roles 1-D")
    if W.ndim == 3 and W.shape[2] < 2:
        raise NmftransError(f"{source}: a convolutive W needs 2 or more frames, got {W.shape[2]}")
    if W.shape[1] == 0 or W.shape[1] != len(pitches) or len(pitches) != len(roles):
        raise NmftransError(
            f"{source}: W has {W.shape[1]} templates but {len(pitches)} pitches and {len(roles)} roles"
        )
    n_bins = len(frequencies(settings))
    if W.shape[0] != n_bins:
        raise NmftransError(
            f"{source}: W has {W.shape[0]} frequency bins but its feature settings give {n_bins}"
        )
    if not np.isfinite(W).all() or (W < 0).any():
        raise NmftransError(f"{source}: W has negative or non-finite values")
    if (W.reshape(W.shape[0], W.shape[1], -1).sum(axis=(0, 2)) <= 0).any():
        raise NmftransError(f"{source}: W has an all-zero template")
    if pitches.min() < 0 or pitches.max() > 127:
        raise NmftransError(f"{source}: pitches must be MIDI numbers 0-127")
    if not np.isin(roles, list(ROLE_NAMES)).all():
        raise NmftransError(f"{source}: unknown template roles")
    if not np.isfinite(beta):
        raise NmftransError(f"{source}: beta must be finite")


def _validate_deep(deep_W, W, beta, source) -> None:
    """Checks of the optional per-layer templates of a deep dictionary."""
    if deep_W.ndim != 3 or deep_W.shape[0] < 1 or deep_W.shape[1:] != W.shape:
        raise NmftransError(f"{source}: deep_W must have shape (layers, {W.shape[0]}, {W.shape[1]}), "
                            f"got {deep_W.shape}")
    if not np.isfinite(deep_W).all() or (deep_W < 0).any():
        raise NmftransError(f"{source}: deep_W has negative or non-finite values")
    if (deep_W.sum(axis=1) <= 0).any():
        raise NmftransError(f"{source}: deep_W has an all-zero template")
    if beta != 1.0:
        raise NmftransError(f"{source}: a deep dictionary needs beta 1 (its layers are KL updates), got {beta:g}")


def _optional_array(path: Path, key: str, source: str) -> np.ndarray | None:
    """The numeric entry ``key`` of an already validated ``.npz`` file, or None if it has none."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if key not in npz.files:
                return None
            value = npz[key]
    except (ValueError, OSError) as exc:
        raise NmftransError(f"{source}: cannot read entry {key!r} ({exc})") from None
    if value.dtype.kind not in "fiu":
        raise NmftransError(f"{source}: entry {key!r} must be numeric")
    return value


def save_dictionary(dictionary: Dictionary, path: str | Path, *, overwrite: bool = True) -> None:
    """Write a dictionary to ``path`` (``.npz``) atomically."""
    arrays = {
        "format": np.array(FORMAT_NAME),
        "version": np.array(FORMAT_VERSION if dictionary.W.ndim == 2 else CONVOLUTIVE_VERSION, dtype=np.int32),
        "W": dictionary.W,
        "pitches": dictionary.pitches,
        "roles": dictionary.roles,
        "settings": np.array(dictionary.settings.to_json()),
        "beta": np.array(float(dictionary.beta)),
        "provenance": np.array(json.dumps(dictionary.provenance, sort_keys=True)),
    }
    if dictionary.deep_W is not None:
        arrays["deep_W"] = dictionary.deep_W
        arrays["deep_adapt"] = np.array(int(dictionary.deep_adapt), dtype=np.int8)
    if dictionary.floor_octaves is not None:
        arrays["floor_octaves"] = np.array(float(dictionary.floor_octaves))
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _scalar_str(arrays, key: str, source: str) -> str:
    value = arrays[key]
    if value.shape != () or value.dtype.kind != "U":
        raise NmftransError(f"{source}: entry {key!r} must be a string")
    return str(value)


def shipped_path(name: str) -> Path:
    """Path of a shipped dictionary (``'piano'`` or ``'guitar'``).

    Installed, the top-level ``dictionaries/`` folder is the package ``nmftrans.dictionaries``; in a
    source checkout imported without installing, it sits beside the package folder.
    """
    from importlib.resources import files

    try:
        return Path(str(files("nmftrans.dictionaries").joinpath(f"{name}.npz")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "dictionaries" / f"{name}.npz"


def resolve_dictionary(name_or_path: str | Path | None) -> Path:
    """Map ``None`` (the default piano), a shipped name or a path to a dictionary file path."""
    if name_or_path is None:
        name_or_path = "piano"
    if str(name_or_path) in SHIPPED:
        path = shipped_path(str(name_or_path))
        if not path.exists():
            raise NmftransError(f"the shipped dictionary {name_or_path!r} is not installed")
        return path
    return Path(name_or_path)


def load_dictionary(name_or_path: str | Path | None = None) -> Dictionary:
    """Load and validate a dictionary: a path, ``'piano'``/``'guitar'``, or None for piano.

    Raises
    ------
    NmftransError
        Missing file, not an nmftrans dictionary, missing keys, object arrays, wrong shapes.
    """
    path = resolve_dictionary(name_or_path)
    source = str(path)
    arrays = read_npz(path, _KEYS, "dictionary")
    if _scalar_str(arrays, "format", source) != FORMAT_NAME:
        raise NmftransError(f"{source}: not an nmftrans dictionary")
    version = arrays["version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) not in (FORMAT_VERSION, CONVOLUTIVE_VERSION):
        shown = int(version) if version.shape == () and version.dtype.kind in "iu" else f"of shape {version.shape}, dtype {version.dtype}"
        raise NmftransError(f"{source}: unsupported dictionary format version {shown}")
    for key in ("W", "pitches", "roles", "beta"):
        if arrays[key].dtype.kind not in "fiu":
            raise NmftransError(f"{source}: entry {key!r} must be numeric")
    if arrays["beta"].shape != ():
        raise NmftransError(f"{source}: entry 'beta' must be a scalar")
    settings = FeatureSettings.from_json(_scalar_str(arrays, "settings", source))
    try:
        provenance = json.loads(_scalar_str(arrays, "provenance", source))
    except ValueError:
        raise NmftransError(f"{source}: provenance is not valid JSON") from None
    if not isinstance(provenance, dict):
        raise NmftransError(f"{source}: provenance must be a JSON object")
    _check_note_ends(provenance, source)
    pitches, roles = arrays["pitches"], arrays["roles"]
    if pitches.ndim == 1 and (pitches != np.round(pitches)).any():
        raise NmftransError(f"{source}: pitches must be integers")
    W = arrays["W"]
    if (W.ndim == 3) != (int(version) == CONVOLUTIVE_VERSION):
        raise NmftransError(f"{source}: format version {int(version)} with a {W.ndim}-D W")
    _validate(W, pitches, roles, settings, float(arrays["beta"]), source)
    deep_W = _optional_array(path, "deep_W", source)
    deep_adapt = _optional_array(path, "deep_adapt", source) if deep_W is not None else None
    if deep_W is not None:
        _validate_deep(deep_W, W, float(arrays["beta"]), source)
    if deep_adapt is not None and (deep_adapt.shape != () or int(deep_adapt) not in (0, 1)):
        raise NmftransError(f"{source}: entry 'deep_adapt' must be 0 or 1")
    floor = _optional_array(path, "floor_octaves", source)
    if floor is not None:
        if floor.shape != () or floor.dtype.kind not in "fiu":
            raise NmftransError(f"{source}: entry 'floor_octaves' must be a number")
        floor = _check_floor(floor, source)
    return Dictionary(W, pitches.astype(np.int16), roles.astype(np.int8), settings, float(arrays["beta"]), provenance,
                      deep_W, bool(deep_adapt is not None and int(deep_adapt)), floor)


def check_compatible(dictionary: Dictionary, settings: FeatureSettings) -> None:
    """Raise if features computed with ``settings`` cannot be explained by ``dictionary``."""
    if dictionary.settings != settings:
        raise NmftransError("the features were computed with other settings than the dictionary's")
