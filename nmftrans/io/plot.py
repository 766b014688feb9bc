"""Pictures: piano rolls of notes (optionally over activations, optionally against a reference),
and a dictionary's templates.

matplotlib is optional (``pip install 'nmftrans[plot]'``) and imported only when a picture is
drawn; figures are built without pyplot on the Agg canvas, so no window or global backend is
touched. Files are written atomically; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from nmftrans.errors import NmftransError, SettingError
from nmftrans.io.fileio import atomic_path
from nmftrans.core.note_errors import match_onsets
from nmftrans.core.pitches import midi_to_name
from nmftrans.core.pooling import PICTURE_COLUMNS as _MAX_IMAGE_COLUMNS

IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
_FLOOR_DB = -40.0
_NOTE_COLOUR = "#ff7f0e"
_HIT, _FALSE_ALARM, _MISS, _REFERENCE = "#2ca02c", "#d62728", "#1f77b4", "#222222"


def require_matplotlib() -> None:
    """Raise the one-line :class:`NmftransError` of a missing matplotlib now, before any work."""
    _figure(1.0, 1.0)


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise NmftransError("plotting needs matplotlib: pip install 'nmftrans[plot]'") from None
    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def check_image_path(path: str | Path) -> Path:
    """The image format follows the suffix; raise for one matplotlib cannot write here."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise NmftransError(f"{path}: unknown image format {suffix or '(no suffix)'!r} "
                            f"(use {', '.join(IMAGE_SUFFIXES[:3])})")
    return path


def _save(fig, path: str | Path, overwrite: bool = True) -> None:
    path = check_image_path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format=path.suffix.lower().lstrip(".").replace("jpg", "jpeg"))


def _pitch_ticks(ax, lo: int, hi: int, axis: str = "y") -> None:
    span = hi - lo + 1
    every = 1 if span <= 16 else (2 if span <= 30 else None)
    if every is None:
        names = (0, 4, 7) if span <= 40 else ((0, 7) if span <= 72 else (0,))  # C E G, C G, or C
        major = [p for p in range(lo, hi + 1) if p % 12 in names]
        if len(major) < 2:
            major = list(range(lo, hi + 1, 6))
    else:
        major = list(range(lo, hi + 1, every))
    setter = ax.set_yticks if axis == "y" else ax.set_xticks
    setter(major, [midi_to_name(p) for p in major])
    setter(range(lo, hi + 1), minor=True)


class RollCounts(NamedTuple):
    """What a piano roll shows (inside its time window).

    ``notes`` estimated notes drawn; with a reference, ``hits`` + ``false_alarms`` == ``notes``,
    ``reference`` reference notes drawn, ``misses`` those not matched (else all three are 0).
    """

    notes: int
    reference: int = 0
    hits: int = 0
    false_alarms: int = 0
    misses: int = 0


def plot_transcription(path: str | Path, activations: np.ndarray, pitches: np.ndarray, frame_rate: float,
                       notes: np.ndarray, reference: np.ndarray | None = None, title: str | None = None, *,
                       time_range: tuple[float | None, float | None] | None = None,
                       overwrite: bool = True, n_frames: int | None = None) -> RollCounts:
    """Draw activations (dB colour scale) with notes as rectangles on top, and save to ``path``.

    Parameters
    ----------
    path : str or Path
        Image file; the format follows the suffix.
    activations : np.ndarray [shape=(n_pitches, n_frames)]
        Normalised activations (about 1 for a loud note).
    pitches : np.ndarray [shape=(n_pitches,)]
        MIDI pitch of each row.
    frame_rate : float
        Frames per second.
    notes : np.ndarray [shape=(n_notes, 4)]
        Detected notes: onset (s), offset (s), MIDI pitch, velocity.
    reference : np.ndarray [shape=(n_ref, 4)], optional
        Ground truth. Then estimated notes are drawn as hits (same pitch, onset within 50 ms, see
        :func:`~nmftrans.core.note_errors.match_onsets`) or false alarms, reference notes as outlines and unmatched ones as
        misses. Matching is done on the whole lists, before ``time_range`` cuts them.
    title : str, optional
    time_range : (start, end) in seconds, optional
        Only this window is drawn (activations and notes); None on a side: from the start, to
        the end. (``--plot-range`` of the CLI).
    overwrite : bool
        If False and ``path`` exists, raise instead of replacing it.
    n_frames : int, optional
        Given when ``activations`` were already max-pooled to the picture's width
        (:func:`nmftrans.core.pooling.max_pool_columns` with at most 2048 columns, as
        ``transcribe_file(..., pool_columns=2048)`` returns them): the number of frames they were
        pooled from, which ``frame_rate`` counts. Not with ``time_range``.

    Returns
    -------
    RollCounts
        The notes, hits, false alarms and misses drawn (the legend's numbers).
    """
    A = np.asarray(activations)  # no float64 copy: a long file's activations are large
    pitches = np.asarray(pitches).astype(int).reshape(-1)
    if A.ndim != 2 or A.shape[0] != len(pitches) or len(pitches) == 0:
        raise NmftransError("plot: activations must be (n_pitches, n_frames) with one pitch per row")
    if not (np.isfinite(frame_rate) and frame_rate > 0):
        raise NmftransError("plot: frame_rate must be positive")
    if n_frames is not None and (time_range is not None or A.shape[1] > min(n_frames, _MAX_IMAGE_COLUMNS)):
        raise NmftransError("plot: pooled activations need the whole time range and at most 2048 columns")
    return _draw_roll(path, notes, reference, title, time_range, overwrite, (A, pitches, float(frame_rate)),
                      n_frames)


def plot_notes(path: str | Path, notes: np.ndarray, reference: np.ndarray | None = None,
               title: str | None = None, *, time_range: tuple[float | None, float | None] | None = None,
               overwrite: bool = True) -> RollCounts:
    """Draw notes on a piano roll without activations (e.g. a MIDI file scored against its reference).

    Parameters and colours as in :func:`plot_transcription`, on a white background.
    """
    return _draw_roll(path, notes, reference, title, time_range, overwrite, None)


def _max_pool_columns(A: np.ndarray, limit: int) -> np.ndarray:
    """See :func:`nmftrans.core.pooling.max_pool_columns`."""
    from nmftrans.core.pooling import max_pool_columns

    return max_pool_columns(A, limit)


def _draw_roll(path, notes, reference, title, time_range, overwrite, activity, pooled_from=None) -> RollCounts:
    """The piano roll of :func:`plot_transcription` (``activity`` = (A, pitches, frame_rate);
    ``pooled_from``: A's columns are already pooled from that many frames) and :func:`plot_notes`
    (``activity`` None)."""
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    ref = None if reference is None else np.asarray(reference, dtype=np.float64).reshape(-1, 4)
    check_image_path(path)
    if ref is not None:
        hit, found = match_onsets(notes, ref)  # on the whole lists: a window does not change a match
    frame_rate = activity[2] if activity is not None else 100.0
    n_frames = (pooled_from or activity[0].shape[1]) if activity is not None else 0
    end_of_all = max(n_frames / frame_rate, float(notes[:, 1].max()) if len(notes) else 0.0,
                     float(ref[:, 1].max()) if ref is not None and len(ref) else 0.0, 1.0 / frame_rate)
    start, end = time_range if time_range is not None else (None, None)
    t0 = float(start) if start is not None else (-0.5 / frame_rate if activity is not None else 0.0)
    if start is not None and float(start) >= end_of_all:
        raise SettingError("time_range", f"starts at {float(start):g} s, after the end ({end_of_all:.2f} s)")
    t1 = min(float(end), end_of_all) if end is not None else end_of_all  # a window past the end is clipped

    def inside(rows_: np.ndarray) -> np.ndarray:
        return (rows_[:, 1] > t0) & (rows_[:, 0] < t1) if len(rows_) else np.zeros(0, dtype=bool)

    note_in = inside(notes)
    ref_in = inside(ref) if ref is not None else None

    # the frames of the window (one frame of margin on each side)
    if activity is not None:
        A, pitches, _ = activity
        k0 = int(np.clip(np.floor(t0 * frame_rate) - 1, 0, n_frames))
        k1 = int(np.clip(np.ceil(t1 * frame_rate) + 2, k0, n_frames))
        A = A if pooled_from else A[:, k0:k1]  # pooled: the whole range (k0, k1 = 0, n_frames)
    # pitch range shown: where there are notes (or clear activity) in the window, a little margin
    shown = np.r_[notes[note_in, 2], ref[ref_in, 2] if ref is not None else []]
    if len(shown) == 0 and activity is not None and A.shape[1]:
        shown = pitches[(A >= 0.1).any(axis=1)]
    shown = np.round(shown).astype(int)
    if activity is not None:
        floor_, ceiling = int(pitches.min()), int(pitches.max())
    else:
        floor_, ceiling = 0, 127
    if len(shown):
        lo, hi = max(int(shown.min()) - 2, floor_), min(int(shown.max()) + 2, ceiling)
        lo, hi = min(lo, int(shown.min())), max(hi, int(shown.max()))
    elif activity is not None:
        lo, hi = floor_, ceiling
    else:
        lo, hi = 60, 72  # nothing at all: an octave from middle C

    rows = hi - lo + 1
    height = float(np.clip(1.4 + 0.075 * rows, 3.0, 6.0))
    width = float(np.clip(4.0 + 0.5 * (t1 - t0), 8.0, 14.0))
    fig = _figure(width, height)
    ax = fig.add_subplot()
    import matplotlib

    if activity is not None:
        keep = (pitches >= lo) & (pitches <= hi)
        A = _max_pool_columns(A, _MAX_IMAGE_COLUMNS)[keep]  # a long file: no more columns than pixels
        grid = np.full((rows, max(A.shape[1], 1)), np.nan, dtype=np.float32)
        if A.shape[1]:
            grid[pitches[keep] - lo] = A
        db = 20 * np.log10(np.maximum(grid, np.float32(10 ** (_FLOOR_DB / 20))))
        cmap = matplotlib.colormaps["Greys"].with_extremes(bad="white")
        # a mesh of cells, not imshow: Agg's image resampling took about 80 MB whatever the size
        x_edges = np.linspace((k0 - 0.5) / frame_rate, (max(k1, k0 + 1) - 0.5) / frame_rate, db.shape[1] + 1)
        image = ax.pcolormesh(x_edges, np.arange(lo, hi + 2) - 0.5, db, cmap=cmap, vmin=_FLOOR_DB, vmax=0.0,
                              shading="flat", rasterized=True)
        colorbar = fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03)
        colorbar.set_label("activation (dB)")

    from matplotlib.patches import Patch

    def rgba(colour, alpha):
        return (*matplotlib.colors.to_rgb(colour), alpha)

    def boxes(rows_, colour, *, fill_alpha: float, style: str = "-", width_: float = 1.2):
        from matplotlib.collections import PolyCollection

        rows_ = np.asarray(rows_, dtype=np.float64).reshape(-1, 4)
        rows_ = rows_[(rows_[:, 2] >= lo) & (rows_[:, 2] <= hi)]
        if len(rows_):  # one collection of vertex arrays, no patch object per note: a long file has thousands
            x0, x1 = rows_[:, 0], rows_[:, 0] + np.maximum(rows_[:, 1] - rows_[:, 0], 0.01)
            y0, y1 = rows_[:, 2] - 0.4, rows_[:, 2] + 0.4
            verts = np.stack([np.stack([x0, y0], 1), np.stack([x0, y1], 1), np.stack([x1, y1], 1),
                              np.stack([x1, y0], 1)], axis=1)
            ax.add_collection(PolyCollection(verts, closed=True, linewidths=width_, linestyles=style,
                                             edgecolors=colour, facecolors=rgba(colour, fill_alpha)), autolim=False)

    if ref is None:
        boxes(notes[note_in], _NOTE_COLOUR, fill_alpha=0.25)
        counts = RollCounts(notes=int(note_in.sum()))
        handles = [Patch(edgecolor=_NOTE_COLOUR, facecolor=rgba(_NOTE_COLOUR, 0.25),
                         label=f"detected notes ({counts.notes})")]
    else:
        counts = RollCounts(notes=int(note_in.sum()), reference=int(ref_in.sum()), hits=int((hit & note_in).sum()),
                            false_alarms=int((~hit & note_in).sum()), misses=int((~found & ref_in).sum()))
        boxes(notes[hit & note_in], _HIT, fill_alpha=0.3)
        boxes(notes[~hit & note_in], _FALSE_ALARM, fill_alpha=0.3)
        boxes(ref[found & ref_in], _REFERENCE, fill_alpha=0.0, style=":", width_=1.0)
        boxes(ref[~found & ref_in], _MISS, fill_alpha=0.0, style="--", width_=1.4)
        handles = [Patch(edgecolor=_HIT, facecolor=rgba(_HIT, 0.3), label=f"hits ({counts.hits})"),
                   Patch(edgecolor=_FALSE_ALARM, facecolor=rgba(_FALSE_ALARM, 0.3),
                         label=f"false alarms ({counts.false_alarms})"),
                   Patch(edgecolor=_MISS, facecolor="none", linestyle="--", label=f"misses ({counts.misses})"),
                   Patch(edgecolor=_REFERENCE, facecolor="none", linestyle=":",
                         label=f"reference, found ({counts.reference - counts.misses})")]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85)
    ax.set_xlim(t0, t1)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    _pitch_ticks(ax, lo, hi)
    ax.grid(axis="y", which="major", color="0.88", linewidth=0.5)
    ax.set_axisbelow(False)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    _save(fig, path, overwrite=overwrite)
    return counts


def plot_templates(path: str | Path, dictionary, title: str | None = None) -> None:
    """Draw a dictionary's templates: frequency (log axis) against template, log magnitude.

    Templates are ordered by pitch (attack templates after the sustain template of their pitch);
    each column is scaled to its own peak. A convolutive template's τ frames are drawn side by side,
    scaled to the template's peak.
    """
    from nmftrans.core.features import frequencies

    W = np.asarray(dictionary.W, dtype=np.float64)
    order = np.lexsort((dictionary.roles, dictionary.pitches))
    W = W[:, order]
    pitches = np.asarray(dictionary.pitches)[order].astype(int)
    frames = 1 if W.ndim == 2 else W.shape[2]
    if frames > 1:  # convolutive: each template's τ frames side by side, scaled to the template's peak
        W = W / np.maximum(W.max(axis=(0, 2), keepdims=True), 1e-30)
        W = W.reshape(W.shape[0], -1)
        pitches = np.repeat(pitches, frames)
    freqs = frequencies(dictionary.settings)
    peak = np.maximum(W.max(axis=0, keepdims=True), 1e-30) if frames == 1 else 1.0  # frames > 1: done above
    db = 20 * np.log10(np.maximum(W / peak, 1e-3))
    fig = _figure(11.0, 4.8)
    ax = fig.add_subplot()
    # bin edges halfway between centres, on a log axis
    mids = np.sqrt(freqs[1:] * freqs[:-1]) if freqs[0] > 0 else (freqs[1:] + freqs[:-1]) / 2
    y_edges = np.r_[max(freqs[0] - (mids[0] - freqs[0]), freqs[0] * 0.97, 1.0), mids, freqs[-1] + (freqs[-1] - mids[-1])]
    x_edges = np.arange(W.shape[1] + 1) - 0.5
    mesh = ax.pcolormesh(x_edges, y_edges, db, cmap="magma", vmin=-60, vmax=0, shading="flat", rasterized=True)
    ax.set_yscale("log")
    ax.set_ylim(y_edges[0], y_edges[-1])
    ticks = [t for t in (30, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if y_edges[0] <= t <= y_edges[-1]]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_yticks([], minor=True)
    colorbar = fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.03)
    colorbar.set_label("magnitude (dB re column peak)" if frames == 1 else "magnitude (dB re template peak)")
    first = {}
    for j, p in enumerate(pitches):
        first.setdefault(int(p), j)
    span = pitches.max() - pitches.min() + 1
    labelled = [p for p in first if (span <= 24 and True) or p % 12 == 0]
    if span > 24 and len(labelled) < 2:
        labelled = sorted(first)[:: max(1, len(first) // 6)]
    ax.set_xticks([first[p] for p in labelled], [midi_to_name(p) for p in labelled],
                  rotation=90 if span <= 24 and len(labelled) > 12 else 0)
    n_attack = int((np.asarray(dictionary.roles) != 0).sum())
    n_templates = W.shape[1] // frames
    ax.set_xlabel((f"template ({n_templates}: {n_templates - n_attack} sustain, {n_attack} attack), by pitch"
                   if n_attack else f"template ({n_templates}), by pitch")
                  + (f"; each {frames} frames, left to right" if frames > 1 else ""))
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    _save(fig, path)
