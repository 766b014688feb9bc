"""Pictures: activations with the detected notes on top, and a dictionary's templates.

matplotlib is optional (``pip install 'nmftrans[plot]'``) and imported only when a picture is
drawn; figures are built without pyplot on the Agg canvas, so no window or global backend is
touched. Files are written atomically; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nmftrans.errors import NmftransError
from nmftrans.fileio import atomic_path
from nmftrans.pitches import midi_to_name

IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
ONSET_TOLERANCE_S = 0.05
_FLOOR_DB = -40.0
_NOTE_COLOUR = "#ff7f0e"
_HIT, _FALSE_ALARM, _MISS = "#2ca02c", "#d62728", "#1f77b4"


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise NmftransError("plotting needs matplotlib: pip install 'nmftrans[plot]'") from None
    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(fig, path: str | Path) -> None:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise NmftransError(f"{path}: unknown image format {suffix!r} (use {', '.join(IMAGE_SUFFIXES[:3])})")
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format=suffix.lstrip(".").replace("jpg", "jpeg"))


def match_onsets(estimated: np.ndarray, reference: np.ndarray, tolerance: float = ONSET_TOLERANCE_S):
    """Pair estimated and reference notes of the same pitch whose onsets are within ``tolerance``.

    Each note is used at most once (closest pairs first).

    Returns
    -------
    hit : np.ndarray [shape=(n_est,)], bool
        Estimated notes that match a reference note (the others are false alarms).
    found : np.ndarray [shape=(n_ref,)], bool
        Reference notes that were matched (the others are misses).
    """
    est = np.asarray(estimated, dtype=np.float64).reshape(-1, 4)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1, 4)
    hit = np.zeros(len(est), dtype=bool)
    found = np.zeros(len(ref), dtype=bool)
    pairs = []
    for i, (onset, _, pitch, _) in enumerate(est):
        close = np.flatnonzero((np.round(ref[:, 2]) == round(pitch)) & (np.abs(ref[:, 0] - onset) <= tolerance))
        pairs.extend((abs(ref[j, 0] - onset), i, j) for j in close)
    for _, i, j in sorted(pairs):
        if not hit[i] and not found[j]:
            hit[i] = found[j] = True
    return hit, found


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


def plot_transcription(path: str | Path, activations: np.ndarray, pitches: np.ndarray, frame_rate: float,
                       notes: np.ndarray, reference: np.ndarray | None = None, title: str | None = None) -> None:
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
        Ground truth. Then estimated notes are drawn as hits (same pitch, onset within 50 ms) or
        false alarms, and unmatched reference notes as misses.
    title : str, optional
    """
    A = np.asarray(activations, dtype=np.float64)
    pitches = np.asarray(pitches).astype(int).reshape(-1)
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    ref = None if reference is None else np.asarray(reference, dtype=np.float64).reshape(-1, 4)
    if A.ndim != 2 or A.shape[0] != len(pitches) or len(pitches) == 0:
        raise NmftransError("plot: activations must be (n_pitches, n_frames) with one pitch per row")
    n_frames = A.shape[1]
    duration = max(n_frames / frame_rate, float(notes[:, 1].max()) if len(notes) else 0.0,
                   float(ref[:, 1].max()) if ref is not None and len(ref) else 0.0, 1.0 / frame_rate)

    # pitch range shown: where there are notes or clear activity, a little margin; all if nothing
    shown = np.r_[notes[:, 2], ref[:, 2] if ref is not None else []]
    if len(shown) == 0 and n_frames:
        shown = pitches[(A >= 0.1).any(axis=1)]
    shown = np.round(shown).astype(int)
    if len(shown):
        lo, hi = max(int(shown.min()) - 2, int(pitches.min())), min(int(shown.max()) + 2, int(pitches.max()))
        lo, hi = min(lo, int(shown.min())), max(hi, int(shown.max()))
    else:
        lo, hi = int(pitches.min()), int(pitches.max())
    grid = np.full((hi - lo + 1, max(n_frames, 1)), np.nan)
    keep = (pitches >= lo) & (pitches <= hi)
    if n_frames:
        grid[pitches[keep] - lo] = A[keep]
    db = 20 * np.log10(np.maximum(grid, 10 ** (_FLOOR_DB / 20)))

    rows = hi - lo + 1
    height = float(np.clip(1.4 + 0.075 * rows, 3.0, 6.0))
    width = float(np.clip(4.0 + 0.5 * duration, 8.0, 14.0))
    fig = _figure(width, height)
    ax = fig.add_subplot()
    import matplotlib

    cmap = matplotlib.colormaps["Greys"].with_extremes(bad="white")
    image = ax.imshow(db, origin="lower", aspect="auto", cmap=cmap, vmin=_FLOOR_DB, vmax=0.0,
                      interpolation="nearest",
                      extent=(-0.5 / frame_rate, (max(n_frames, 1) - 0.5) / frame_rate, lo - 0.5, hi + 0.5))
    colorbar = fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03)
    colorbar.set_label("activation (dB)")

    from matplotlib.patches import Patch, Rectangle

    def boxes(rows_, colour, *, fill_alpha: float, style: str = "-", width_: float = 1.2):
        for onset, offset, pitch, _ in rows_:
            if lo <= pitch <= hi:
                ax.add_patch(Rectangle((onset, pitch - 0.4), max(offset - onset, 0.01), 0.8, linewidth=width_,
                                       linestyle=style, edgecolor=colour, facecolor=(*matplotlib.colors.to_rgb(colour), fill_alpha)))

    if ref is None:
        boxes(notes, _NOTE_COLOUR, fill_alpha=0.25)
        handles = [Patch(edgecolor=_NOTE_COLOUR, facecolor=(*matplotlib.colors.to_rgb(_NOTE_COLOUR), 0.25),
                         label=f"detected notes ({len(notes)})")]
    else:
        hit, found = match_onsets(notes, ref)
        boxes(ref[~found], _MISS, fill_alpha=0.0, style="--", width_=1.4)
        boxes(notes[hit], _HIT, fill_alpha=0.3)
        boxes(notes[~hit], _FALSE_ALARM, fill_alpha=0.3)
        handles = [Patch(edgecolor=_HIT, facecolor=(*matplotlib.colors.to_rgb(_HIT), 0.3), label=f"hits ({hit.sum()})"),
                   Patch(edgecolor=_FALSE_ALARM, facecolor=(*matplotlib.colors.to_rgb(_FALSE_ALARM), 0.3),
                         label=f"false alarms ({(~hit).sum()})"),
                   Patch(edgecolor=_MISS, facecolor="none", linestyle="--", label=f"misses ({(~found).sum()})")]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85)
    ax.set_xlim(-0.5 / frame_rate, duration)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    _pitch_ticks(ax, lo, hi)
    ax.grid(axis="y", which="major", color="0.88", linewidth=0.5)
    ax.set_axisbelow(False)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    _save(fig, path)


def plot_templates(path: str | Path, dictionary, title: str | None = None) -> None:
    """Draw a dictionary's templates: frequency (log axis) against template, log magnitude.

    Templates are ordered by pitch (attack templates after the sustain template of their pitch);
    each column is scaled to its own peak.
    """
    from nmftrans.features import frequencies

    W = np.asarray(dictionary.W, dtype=np.float64)
    order = np.lexsort((dictionary.roles, dictionary.pitches))
    W = W[:, order]
    pitches = np.asarray(dictionary.pitches)[order].astype(int)
    freqs = frequencies(dictionary.settings)
    db = 20 * np.log10(np.maximum(W / np.maximum(W.max(axis=0, keepdims=True), 1e-30), 1e-3))
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
    colorbar.set_label("magnitude (dB re column peak)")
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
    ax.set_xlabel(f"template ({W.shape[1]}: {W.shape[1] - n_attack} sustain, {n_attack} attack), by pitch"
                  if n_attack else f"template ({W.shape[1]}), by pitch")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    _save(fig, path)
