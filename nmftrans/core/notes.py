"""Activations -> note events. Pure post-processing: no I/O, no solving.

A note list is ``np.ndarray [shape=(n_notes, 4)], float64`` with columns onset (s), offset (s),
MIDI pitch and MIDI velocity, sorted by onset then pitch.

The tracker works on per-pitch activations normalised frame by frame
(:func:`nmftrans.core.levels.normalise_frames`: a reference that follows the music, and no notes where
there is no music), so its thresholds do not depend on the recording's level or on the instrument
the dictionary was learned from. For each pitch it

1. finds candidate onsets where the activation rises (above ``rise_ratio`` times its minimum over
   the last ``rise_s`` seconds, by at least ``candidate_min``);
2. accepts a candidate whose peak over the next ``peak_window_s`` reaches ``onset_threshold`` and
   whose rise (the largest over its run of rising frames: an attack often creeps up for a few
   frames before it leaps) reaches ``rise_threshold``, unless a pitch an octave, a twelfth, two
   octaves or a seventeenth below rises more at the same time (``sub_ratio``: the candidate is
   then that note's partial, the classic octave error of NMF), and times it where the activation
   has risen ``onset_rise_fraction`` of the way from that minimum to its peak;
3. ends the note where the activation falls below ``frame_threshold`` times its peak, or at the
   next accepted onset of the same pitch (a re-struck note); where the activation fell steeply
   just before that end (``release_fall_db`` within ``release_fall_s``: a damper, a muted string,
   a lifted pedal), the note ends where that fall has lost ``release_end_db`` instead: the
   release, not its tail. With ``release_slow_db`` (off by default) the fall is followed back
   through slower, longer falls too (a release's tail in a reverberant room, whose level wavers
   and interrupts the steep frames), unless that takes it back to the note's peak.

Each pitch row is scanned by one compiled function (Numba, :func:`_track_row`); the loop over
pitches and the octave check's choice of rows stay in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numba
import numpy as np

from nmftrans.core.notearrays import empty_notes

_EPS = 1e-12

#: Where notes end (:attr:`NoteParams.note_ends`): at the release (MIDI note-offs) or where the sound fades.
NOTE_ENDS = ("release", "sound")


@dataclass(frozen=True)
class NoteParams:
    """Settings of the note tracker (thresholds in units of the normalised activation).

    Attributes
    ----------
    onset_threshold : float
        Minimum peak of a note's normalised activation (lower finds quieter notes).
    frame_threshold : float
        A note ends when its activation falls below this fraction of its peak.
    rise_threshold : float
        Minimum rise of the activation at an onset: the largest rise over the candidate's run of
        rising frames (from ``sub_window_s`` before its first frame to ``sub_window_s`` after it
        or to the run's last frame, whichever is later).
    rise_s : float
        The rise is measured against the minimum over this many seconds before.
    rise_ratio : float
        A candidate onset's activation must exceed this multiple of that minimum.
    candidate_min : float
        Smallest rise considered at all.
    peak_window_s : float
        A note's peak is looked for this long after its onset.
    sub_intervals : tuple of int
        Intervals (semitones) below a pitch whose partials fall on it.
    sub_ratio : float
        Reject an onset if a pitch ``sub_intervals`` below rises more than ``sub_ratio`` times as
        much within ``sub_window_s``; 0 disables the check.
    sub_window_s : float
    floor : float
        Absolute floor of the offset threshold.
    offset_gap_s : float
        A note ends only where its activation stays below the offset threshold this long;
        shorter dips (a decaying note whose energy other templates take for a moment) are bridged.
    offset_shift_s : float or None
        Subtracted from the end of a note that fades under ``frame_threshold`` (not from a
        release's end, which has no shift). None: half the window (``window_s / 2`` of
        :func:`activations_to_notes`: a centred window still overlaps a sound for half a window
        after it stops abruptly). Exact in seconds, not rounded to frames. The default is 0: the
        abrupt ends are the releases, and a centred frame over a slow fade reads the level at its
        centre. Against half the window it gave the same ends on synthetic notes with 30 ms
        releases, frame F +0.016 on the SMD recording, +0.007 on the real guitar, +0.005 / +0.003
        on the MAPS-sampled and held-out pieces, -0.001 on the development pieces, -0.002 on seven
        rendered guitars and -0.003 to -0.006 on the guitar pieces in noise and rooms (whose
        annotated ends are note-offs before the synthesiser's release; GuitarSet's follow the
        sound).
    min_duration_s : float
        Notes shorter than this are lengthened to it (a real onset still counts).
    min_note_s : float
        Notes whose activation lasts less than this are dropped (0: keep all).
    min_ioi_s : float
        Minimum time between two onsets of the same pitch: an onset less than this after the one
        before it, once both are timed, is merged into that note (onset the earlier, end the
        later, velocity the larger of the two).
    onset_lag_s : float
        Subtracted from note times (centred frames rise a little before the annotated onset).
    onset_lag_per_semitone_s : float
        Added to ``onset_lag_s`` for each semitone below MIDI 60, and taken off for each semitone
        above it: a low note's activation rises later than a high one's (its partials build up
        over longer, a high note's fade sooner, and the onset is timed on the rise to the peak).
    onset_rise_fraction : float or None
        Time each onset where the activation has risen this fraction of the way from its
        minimum just before the onset (over ``rise_s``) to its peak, interpolated between
        frames. A sudden onset enters a centred window gradually, so a fixed fraction of the
        rise marks the same moment for loud and soft notes alike, whereas the first rising
        frame comes early for loud notes in silence and late for soft notes under others.
        None: the first rising frame.
    steepest_onset : bool
        Move each onset to the steepest rise before its peak (before ``onset_rise_fraction``).
    lowest, highest : int
        MIDI pitch range kept.
    restrike_ratio : float
        Re-strikes of ringing notes (:mod:`nmftrans.core.onset_channel`, applied by ``transcribe``): onsets
        tracked with ``rise_ratio`` lowered to this split a note when ``restrike_share`` of the
        pitch's partials rise by ``restrike_rise`` (in magnitude) within a frame of them, more
        than ``restrike_gap_s`` inside the note. 0: off.
    restrike_share, restrike_rise, restrike_gap_s : float
    chord_ratio : float
        Soft chord notes (:mod:`nmftrans.core.chord_notes`, applied by ``transcribe``): an onset whose
        peak reaches only this fraction of ``onset_threshold`` is kept when a tracked note of another
        pitch, not an octave, twelfth or double octave away, starts within ``chord_window_s``. 0: off.
    chord_window_s : float
    release_fall_db : float
        Releases (a damper, a muted string, a lifted pedal). A fall is steep at frame ``t`` where
        ``a[t] >= 10 ** (release_fall_db / 20) * a[t + L]`` (``L``: ``release_fall_s`` in whole
        frames, at least 1; ``t + L`` inside the row). If it is steep at either of the two frames
        before the end ``e`` found with ``frame_threshold``, the fall's first frame ``s`` is found by
        stepping back from ``e - 1`` while the frame before is steep, no further than the peak; the
        note then ends at the first frame in ``s+1 .. e`` (inside the row) whose activation is at most
        ``a[s] * 10 ** (-release_end_db / 20)`` (linearly interpolated with the frame before it;
        ``e`` if none), with no ``offset_shift_s`` (a centred frame's level marks the release
        itself). Without it a note ends with its release's tail, 0.05-0.2 s after the key or
        string was let go. 0: off.
    release_fall_s, release_end_db : float
    release_slow_db : float
        Releases in a room. A room's tail after a release falls at its reverberation rate
        (60 dB per RT60) and its level wavers (the room's response is noise-like), so the frames
        steep by ``release_fall_db`` stop a few frames into the tail and the note ends 0.1-0.4 s
        after its release. With ``release_slow_db > 0`` a frame ``t`` also counts as steep (when
        the release is looked for and followed back) where ``a[t] >= 10 ** (release_slow_db / 20)
        * a[t + S]`` (``S``: ``release_slow_s`` in whole frames, at least 1); if the fall so
        followed back reaches the peak or the frame after it (a note fading since its peak: a
        plucked string, a high piano note), the rule falls back to ``release_fall_db`` alone.
        The default, 6 dB in 0.12 s (the steep fall's 50 dB/s over a span the tail's wavering does
        not break; the tail of a room of RT60 up to 1.2 s falls faster), ended notes
        earlier in rooms and noise (frame F of the rendered pianos with white noise at 20 dB SNR /
        in 0.4 s / 0.8 s rooms 0.780 / 0.767 / 0.699 → 0.794 / 0.793 / 0.716, of the guitars
        0.871 / 0.875 / 0.769 → 0.908 / 0.899 / 0.782) and on the clean renders (0.812 → 0.826),
        and lost nowhere measured (the real recordings and the MAPS-sampled pianos within ±0.001,
        no file more than 0.007). 6 dB in 0.15 s (40 dB/s) gained more in rooms but lost on the
        real guitar (-0.008) and the MAPS-sampled pianos (-0.004 / -0.009), where notes fade
        naturally with wavering partials. 0: off.
    release_slow_s : float
    ghost_ratio : float
        Harmonic ghosts (:mod:`nmftrans.core.ghosts`, applied by ``transcribe``): a note starting
        within ``ghost_window_s`` of a note ``ghost_intervals`` semitones below it (its 3rd and
        5th harmonics) is dropped when its activation peak at its onset is below ``ghost_ratio``
        times that note's. 0: off.
    ghost_intervals : tuple of int
    ghost_window_s : float
    semitone_ratio : float
        Semitone ghosts (:mod:`nmftrans.core.ghosts`, applied by ``transcribe``): a note starting
        within ``ghost_window_s`` of a note a semitone below or above it is dropped when its
        activation peak at its onset is below ``semitone_ratio`` times that note's (a partial
        spilling into the neighbouring template). 0: off.
    semitone_sounding_ratio : float
        The same for a note starting while a note a semitone away sounds (started more than
        ``ghost_window_s`` before, not ended): dropped when its onset peak is below this fraction of
        that note's activation at the same frame. 0: off.
    reonset_ratio : float
        Weak re-onsets (:mod:`nmftrans.core.reonsets`, applied by ``transcribe``): a note starting
        while the previous note of its pitch sounds (started more than ``ghost_window_s`` before,
        ended less than ``reonset_gap_s`` before) is merged back into that note when its onset
        peak is below ``reonset_ratio`` times that note's (the ringing note wavering, not a
        re-strike). 0: off.
    reonset_gap_s : float
        A note that ended less than this before a re-onset counts as sounding for
        ``reonset_ratio`` (a ringing note's activation dipping for a moment ends it early).
    reonset_attack_ratio : float
        ... and such a re-onset is merged too, whatever its peak, when the spectrum does not jump
        there: its attack ratio (:mod:`nmftrans.core.attacks`: the largest spectral flux within
        44 ms over the median flux within 1 s) is below this (a ringing note swelling, not struck
        again). Needs the audio (``transcribe``). 0: off.
    carpet_ratio : float
        Notes that do not stand out of their frames (:mod:`nmftrans.core.standout`, applied by
        ``transcribe``): a note is dropped when its onset peak (over ``peak_window_s``) is below
        this multiple of the frames' carpet there (the activation with 22 pitches above it: a
        hammer or pick noise, a click or a consonant lights up many pitches at once; dictionaries of
        22 pitches or fewer have no carpet). 0: off.
    neighbour_ratio : float
        Notes between lit neighbours (:func:`nmftrans.core.standout.between_neighbours`, applied by
        ``transcribe``): a note is dropped when, at the frame of its onset peak, the pitches a
        semitone below and above both reach this fraction of its activation (a bird's chirp or a
        burst spread over adjacent templates; a played note stands above at least one of its
        neighbours). The dictionary's top pitch, the only template for whatever sounds above it,
        is judged by the pitch below alone; a pitch the dictionary lacks is not lit. 0: off.
    note_ends : {"release", "sound"} or None
        Where a note ends, the two conventions of transcription data. ``"release"``: where its
        key or string is let go (MIDI note-offs: MAESTRO, MAPS, SMD, a synthesiser's input), found
        by the release rule above (``release_fall_db``). ``"sound"``: where its sound fades under
        ``frame_threshold`` of its peak, its release's decay included (GuitarSet's notes follow
        the strings' sound); the release rule is not applied. None (default): the dictionary's
        (:attr:`nmftrans.io.dictionary.Dictionary.note_ends`: the shipped guitar ``"sound"``, the
        piano ``"release"``), and ``"release"`` where no dictionary is known.
    steady_factor, steady_percentile : float
        Steady floors (:mod:`nmftrans.core.steady`, applied by ``transcribe`` before the
        normalisation): ``steady_factor`` times each pitch's ``steady_percentile``-th percentile
        over 14 s windows is taken off its activation (mains hum, a drone, a guitar body's
        resonance keep some templates busy the whole time). 0: off.
    """

    onset_threshold: float = 0.3
    frame_threshold: float = 0.05
    rise_threshold: float = 0.03
    rise_s: float = 0.035
    rise_ratio: float = 1.5
    candidate_min: float = 0.005
    peak_window_s: float = 0.1
    sub_intervals: tuple = (12, 19, 24, 28)
    sub_ratio: float = 0.0
    sub_window_s: float = 0.024
    floor: float = 0.005
    min_duration_s: float = 0.05
    min_note_s: float = 0.0
    min_ioi_s: float = 0.06
    onset_lag_s: float = 0.0
    onset_lag_per_semitone_s: float = 0.0005
    onset_rise_fraction: float | None = 0.2
    offset_gap_s: float = 0.1
    offset_shift_s: float | None = 0.0
    steepest_onset: bool = False
    lowest: int = 0
    highest: int = 127
    restrike_ratio: float = 1.1
    restrike_share: float = 0.8
    restrike_rise: float = 1.2
    restrike_gap_s: float = 0.1
    chord_ratio: float = 0.9
    chord_window_s: float = 0.03
    release_fall_db: float = 3.0
    release_fall_s: float = 0.06
    release_end_db: float = 3.0
    release_slow_db: float = 6.0
    release_slow_s: float = 0.12
    ghost_ratio: float = 0.5
    ghost_intervals: tuple = (19, 28)
    ghost_window_s: float = 0.03
    semitone_ratio: float = 0.35
    semitone_sounding_ratio: float = 0.5
    reonset_ratio: float = 0.5
    reonset_gap_s: float = 0.06
    reonset_attack_ratio: float = 1.3
    carpet_ratio: float = 10.0
    neighbour_ratio: float = 0.5
    steady_factor: float = 2.0
    steady_percentile: float = 10.0
    note_ends: str | None = None

    def __post_init__(self) -> None:
        from nmftrans.errors import SettingError

        for name in ("onset_threshold", "frame_threshold"):
            value = getattr(self, name)
            if not 0 <= value <= 1e3:  # NaN fails too
                raise SettingError(name, f"must be 0 or more (activations are normalised to about 1), got {value}")
        if not 0 <= self.release_fall_db <= 120:
            raise SettingError("release_fall_db", f"must be 0 (off) to 120 dB, got {self.release_fall_db}")
        if not 0 <= self.release_end_db <= 120:
            raise SettingError("release_end_db", f"must be 0 to 120 dB, got {self.release_end_db}")
        if not 0 <= self.release_slow_db <= 120:
            raise SettingError("release_slow_db", f"must be 0 (off) to 120 dB, got {self.release_slow_db}")
        if self.note_ends is not None and self.note_ends not in NOTE_ENDS:
            raise SettingError("note_ends", f"must be one of {', '.join(NOTE_ENDS)}, got {self.note_ends!r}")
        if not 0 <= self.carpet_ratio <= 1e3:
            raise SettingError("carpet_ratio", f"must be 0 (off) or more, got {self.carpet_ratio}")
        if not 0 <= self.neighbour_ratio <= 1e3:
            raise SettingError("neighbour_ratio", f"must be 0 (off) or more, got {self.neighbour_ratio}")
        if not 0 <= self.steady_factor <= 1e3:
            raise SettingError("steady_factor", f"must be 0 (off) or more, got {self.steady_factor}")
        if not 0 <= self.steady_percentile < 100:
            raise SettingError("steady_percentile", f"must be 0 or more and below 100, got {self.steady_percentile}")
        if not 0 <= self.ghost_ratio <= 1e3:
            raise SettingError("ghost_ratio", f"must be 0 (off) or more, got {self.ghost_ratio}")
        for name in ("semitone_ratio", "semitone_sounding_ratio", "reonset_ratio"):
            if not 0 <= getattr(self, name) <= 1e3:
                raise SettingError(name, f"must be 0 (off) or more, got {getattr(self, name)}")
        if not all(isinstance(k, (int, np.integer)) and 0 < k <= 127 for k in self.ghost_intervals):
            raise SettingError("ghost_intervals", f"must be semitones from 1 to 127, got {self.ghost_intervals}")
        if not 0 <= self.chord_ratio < 1:
            raise SettingError("chord_ratio", f"must be 0 (off) or above 0 and below 1 (a fraction of "
                                              f"onset_threshold), got {self.chord_ratio}")
        for name in ("rise_s", "peak_window_s", "sub_window_s", "chord_window_s", "min_duration_s", "min_note_s", "min_ioi_s",
                     "onset_lag_s", "offset_gap_s", "release_fall_s", "release_slow_s", "ghost_window_s",
                     "reonset_gap_s"):
            value = getattr(self, name)
            if not 0 <= value <= 1e3:
                raise SettingError(name, f"must be 0 or more seconds, got {value}")
        if not 0 <= self.reonset_attack_ratio <= 1e3:
            raise SettingError("reonset_attack_ratio", f"must be 0 (off) or more, got {self.reonset_attack_ratio}")
        if not 0 <= self.onset_lag_per_semitone_s <= 0.01:
            raise SettingError("onset_lag_per_semitone_s", f"must be 0 to 0.01 seconds, got "
                                                           f"{self.onset_lag_per_semitone_s}")
        if self.offset_shift_s is not None and not 0 <= self.offset_shift_s <= 1e3:
            raise SettingError("offset_shift_s", f"must be 0 or more seconds (or None), got {self.offset_shift_s}")
        if self.onset_rise_fraction is not None and not 0 < self.onset_rise_fraction <= 1:
            raise SettingError("onset_rise_fraction", f"must be above 0 and at most 1 (or None), got {self.onset_rise_fraction}")
        if not 0 <= self.lowest <= self.highest <= 127:
            raise SettingError("lowest", f"and highest must satisfy 0 <= lowest <= highest <= 127, got {self.lowest}, {self.highest}")

    def ending(self, default: str) -> NoteParams:
        """These settings with ``note_ends`` set to ``default`` where it is None (a dictionary's convention)."""
        if self.note_ends is not None:
            return self
        return replace(self, note_ends=default)


def pitch_activations(H: np.ndarray, pitches: np.ndarray, weights: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Sum the (weighted) activations of all templates of each pitch.

    Parameters
    ----------
    H : np.ndarray [shape=(n_components, n_frames)]
    pitches : np.ndarray [shape=(n_components,)], int
        MIDI pitch of each template.
    weights : np.ndarray [shape=(n_components,)], optional
        Weight of each template in the sum (default 1).

    Returns
    -------
    A : np.ndarray [shape=(n_pitches, n_frames)], float32
    pitch_set : np.ndarray [shape=(n_pitches,)], int
        The sorted distinct pitches, one per row of ``A``.
    """
    pitch_set, index = np.unique(np.asarray(pitches), return_inverse=True)
    index = index.reshape(-1)
    A = np.zeros((len(pitch_set), H.shape[1]), dtype=np.float32)
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    # the r-th template of every pitch at once (in template order, as np.add.at would add them)
    rank = np.zeros(len(index), dtype=np.intp)
    seen = np.zeros(len(pitch_set), dtype=np.intp)
    for k, i in enumerate(index):
        rank[k] = seen[i]
        seen[i] += 1
    for r in range(int(seen.max(initial=0))):
        comps = np.flatnonzero(rank == r)
        rows = H[comps] if w is None else H[comps] * w[comps, None]
        A[index[comps]] += rows
    return A, pitch_set


def reference_level(A: np.ndarray, percentile: float = 90.0) -> float:
    """A file's reference activation: a high percentile of the loudest pitch per frame.

    Frames far below the file's maximum (silence) are left out, so long pauses do not lower it.
    """
    if A.size == 0:
        return 0.0
    peak = A.max(axis=0)
    top = float(peak.max())
    if top <= 0:
        return 0.0
    active = peak[peak > 1e-3 * top]
    return float(np.percentile(active, percentile))


def normalise_activations(A: np.ndarray, percentile: float = 90.0, *, copy: bool = True) -> np.ndarray:
    """Divide per-pitch activations by the file's :func:`reference_level` (loud notes ≈ 1).

    The per-file normalisation; ``transcribe`` normalises frame by frame instead
    (:func:`nmftrans.core.levels.normalise_frames`), whose whole-file reference is this one. With ``copy=False`` a float32 ``A`` is divided in place (no second whole-file array).
    """
    ref = reference_level(A, percentile)
    out = np.array(A, dtype=np.float32, copy=True) if copy or A.dtype != np.float32 else A
    if ref > 0:
        np.divide(out, np.float32(ref), out=out)
    return out


@numba.njit(cache=True, nogil=True)
def _prev_min(a, k):  # pragma: no cover - compiled
    """Minimum of ``a[t-k:t]`` for each ``t`` of a nonnegative 1-D array (zeros before the start)."""
    n = len(a)
    out = np.zeros(n, dtype=a.dtype)
    if n > k:
        m = out[k:]
        for t in range(n - k):  # loops, not slice assignments: these kernels load faster
            m[t] = a[t]
        for j in range(1, k):  # k shifted minima: vectorised passes
            for t in range(n - k):
                m[t] = min(m[t], a[j + t])
    return out


@numba.njit(cache=True, nogil=True)
def _max_at(a, at, lo, hi):  # pragma: no cover - compiled
    """Maximum of ``a[t+lo : t+hi+1]`` and 0 for each ``t`` in ``at`` (zeros outside ``a``)."""
    n = len(a)
    out = np.zeros(len(at), dtype=a.dtype)
    for i in range(len(at)):
        m = 0.0
        for j in range(max(0, at[i] + lo), min(n, at[i] + hi + 1)):
            if a[j] > m:
                m = a[j]
        out[i] = m
    return out


@numba.njit(cache=True, nogil=True)
def _rise(a, k):  # pragma: no cover - compiled
    """Rise of ``a`` over its running minimum of the last ``k`` items, ``max(a - min, 0)``."""
    return np.maximum(a - _prev_min(a, k), 0.0)


@numba.njit(cache=True, nogil=True)
def _first_long_run(a, start, stop, threshold, length):  # pragma: no cover - compiled
    """First ``t`` in ``[start, stop)`` where ``a`` stays below ``threshold`` for ``length`` items
    (or up to ``stop``); ``stop`` when there is none. A scalar scan (compiled): notes usually
    end a few frames after their peak, and the per-note NumPy version cost ~25 µs of overhead."""
    run = -1
    for t in range(start, stop):
        if a[t] < threshold:
            if run < 0:
                run = t
            if t - run + 1 >= length:
                return run
        else:
            run = -1
    return run if run >= 0 else stop


@numba.njit(cache=True, nogil=True)
def _steep(a, t, length, ratio):  # pragma: no cover - compiled
    """Whether ``a`` falls steeply at ``t``: ``a[t] >= ratio * a[t + length]``, both inside ``a``."""
    return t >= 0 and t + length < len(a) and a[t] >= ratio * a[t + length]


@numba.njit(cache=True, nogil=True)
def _falls(a, t, length, ratio, slow_length, slow_ratio):  # pragma: no cover - compiled
    """Whether ``a`` falls steeply at ``t`` (:func:`_steep`), or slowly but long (``slow_length > 0``)."""
    return _steep(a, t, length, ratio) or (slow_length > 0 and _steep(a, t, slow_length, slow_ratio))


@numba.njit(cache=True, nogil=True)
def _fall_start(a, k, end, length, ratio, slow_length, slow_ratio):  # pragma: no cover - compiled
    """First frame of the run of :func:`_falls` frames through ``end - 1`` or ``end - 2``, back to
    no earlier than ``k``; -1 when neither falls."""
    if not (_falls(a, end - 1, length, ratio, slow_length, slow_ratio)
            or _falls(a, end - 2, length, ratio, slow_length, slow_ratio)):
        return -1
    s = max(end - 1, k)
    while s > k and _falls(a, s - 1, length, ratio, slow_length, slow_ratio):
        s -= 1
    return s


@numba.njit(cache=True, nogil=True)
def _release_end(a, k, end, length, ratio, end_ratio, slow_length, slow_ratio):  # pragma: no cover - compiled
    """Fractional frame where a note released just before ``end`` ends, or -1.0 (no release).

    The release is the run of steep frames (:func:`_steep`; with ``slow_length > 0``
    :func:`_falls`) through ``end - 1`` or ``end - 2``, back to no earlier than the peak ``k``; it
    ends where the activation first falls to ``1 / end_ratio`` of its level at the run's first
    frame (``end`` if it never does). A run of :func:`_falls` back to ``k + 1`` or earlier is
    replaced by the run of :func:`_steep` frames (a note fading since its peak is no release)."""
    s = -1
    if slow_length > 0:
        s = _fall_start(a, k, end, length, ratio, slow_length, slow_ratio)
        if s <= k + 1:
            s = -1
    if s < 0:
        s = _fall_start(a, k, end, length, ratio, 0, slow_ratio)
        if s < 0:
            return -1.0
    level = a[s] / end_ratio
    for t in range(s + 1, min(end, len(a) - 1) + 1):
        if a[t] <= level:
            return t - 1 + (a[t - 1] - level) / max(a[t - 1] - a[t], _EPS)
    return float(end)


@numba.njit(cache=True, nogil=True)
def _rise_time(a, o, k, back, fraction):  # pragma: no cover - compiled
    """Fractional frame where ``a`` first reaches ``fraction`` of its rise from the minimum of
    ``a[o-back : o+1]`` (its first occurrence) to the peak ``a[k]`` (``k >= o``)."""
    lo = max(0, o - back)
    b = lo
    for t in range(lo + 1, o + 1):
        if a[t] < a[b]:
            b = t
    threshold = a[b] + fraction * (a[k] - a[b])
    for j in range(b, k):  # a[j] < threshold <= a[j + 1]
        if a[j + 1] >= threshold:
            return j + (threshold - a[j]) / max(a[j + 1] - a[j], _EPS)
    return float(k)


@numba.njit(cache=True, nogil=True)
def _sorted_unique(x):  # pragma: no cover - compiled
    """``np.unique(x)`` of a 1-D integer array, sorting ``x`` in place (an insertion sort: the
    arrays here, onsets moved to their steepest rise, are nearly in order). ``np.unique`` in
    :func:`_track_row` compiled Numba's whole sort into that kernel: 358 -> 302 KB of cached
    code for every run to load."""
    for i in range(1, len(x)):
        v = x[i]
        j = i - 1
        while j >= 0 and x[j] > v:
            x[j + 1] = x[j]
            j -= 1
        x[j + 1] = v
    n = 0
    for i in range(len(x)):
        if n == 0 or x[i] != x[n - 1]:
            x[n] = x[i]
            n += 1
    return x[:n]


@numba.njit(cache=True, nogil=True)
def _track_row(a, sub_rises, n_rise, n_peak, sub_w, min_ioi, min_len, gap, shift, frame_rate,
               onset_threshold, frame_threshold, rise_threshold, rise_ratio, candidate_min, sub_ratio, floor,
               drop_len, onset_lag_s, rise_fraction, steepest_onset, release_len, release_ratio, release_end_ratio, slow_len, slow_ratio):  # pragma: no cover - compiled
    """Notes of one pitch: steps 1-3 of the module docstring on one activation row.

    ``a``: the row (float64, ``n`` frames), compared with its :func:`_prev_min` over ``n_rise``
    (computed here: one cached kernel less to load per run);
    ``sub_rises``: ``(n_sub, n)`` :func:`_rise` rows of the pitches below it for the octave check
    (``sub_ratio > 0``); ``rise_fraction < 0``: onsets at the first rising frame; ``shift``:
    ``offset_shift_s`` in (fractional) frames. Returns ``(onset_s, offset_s, velocity)``, one
    entry per note, float64.
    """
    n = len(a)
    prev = _prev_min(a, n_rise)
    rise = np.empty(n)
    # 1. candidate onsets: the first frame of each run of rising frames
    n_starts = 0
    starts = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)  # each run's last rising frame
    was = False
    for t in range(n):
        d = a[t] - prev[t]
        rise[t] = max(d, 0.0)
        now = d > candidate_min and a[t] > rise_ratio * prev[t]
        if now and not was:
            starts[n_starts] = t
            n_starts += 1
        if now:
            last[n_starts - 1] = t
        was = now
    starts = starts[:n_starts]
    # 2. accepted onsets
    # (scalar loops, not array expressions: NumPy's ufuncs compiled into this kernel made it
    # longer to load for every run)
    r = np.zeros(n_starts)
    for i in range(n_starts):  # the largest rise of the run
        hi = max(starts[i] + sub_w, last[i])
        for t in range(max(0, starts[i] - sub_w), min(n, hi + 1)):
            if rise[t] > r[i]:
                r[i] = rise[t]
    top = _max_at(a, starts, 0, n_peak - 1)
    keep = np.empty(n_starts, dtype=np.bool_)
    for i in range(n_starts):
        keep[i] = top[i] >= onset_threshold and r[i] >= rise_threshold
    if sub_ratio > 0 and sub_rises.shape[0] > 0:
        sub_rise = np.zeros(n_starts)
        for j in range(sub_rises.shape[0]):
            below = _max_at(sub_rises[j], starts, -sub_w, sub_w)
            for i in range(n_starts):
                if below[i] > sub_rise[i]:
                    sub_rise[i] = below[i]
        for i in range(n_starts):
            if sub_rise[i] > sub_ratio * r[i]:
                keep[i] = False
    onsets = np.empty(n_starts, dtype=np.int64)
    n_on = 0
    for i in range(n_starts):
        if keep[i] and not (n_on > 0 and starts[i] - onsets[n_on - 1] < min_ioi):
            onsets[n_on] = starts[i]
            n_on += 1
    onsets = onsets[:n_on]
    if steepest_onset and n_on > 0:
        # the steepest rise before the peak (with long centred frames the first rising frame
        # can come tens of milliseconds before a sharp attack); sorted, duplicates merged
        moved = np.empty(n_on, dtype=np.int64)
        for i in range(n_on):
            o = onsets[i]
            top = o + np.argmax(a[o:min(n, o + n_peak)])
            best = o
            for t in range(o + 1, top + 1):
                if a[t] - a[t - 1] > (a[best] - a[best - 1] if best > 0 else a[best]):
                    best = t
            moved[i] = best
        onsets = _sorted_unique(moved)
        n_on = len(onsets)
    # 3. peaks, onset times, ends
    onset_s = np.empty(n_on)
    offset_s = np.empty(n_on)
    velocity = np.empty(n_on)
    times = np.empty(n_on)
    peaks = np.empty(n_on, dtype=np.int64)
    for j in range(n_on):
        o = onsets[j]
        lim = onsets[j + 1] if j + 1 < n_on else n
        k = o + np.argmax(a[o:min(o + n_peak, lim)])
        peaks[j] = k
        t = float(o) if rise_fraction < 0 else _rise_time(a, o, k, n_rise, rise_fraction)
        times[j] = max(0.0, t / frame_rate - onset_lag_s)
    n_out = 0
    for j in range(n_on):
        o, k = onsets[j], peaks[j]
        lim = onsets[j + 1] if j + 1 < n_on else n
        peak = a[k]
        run = _first_long_run(a, k, lim, max(floor, frame_threshold * peak), gap)
        released = _release_end(a, k, run, release_len, release_ratio, release_end_ratio, slow_len, slow_ratio) if release_len > 0 else -1.0
        end = max(k + 1.0, run - shift) if released < 0 else released
        if end - o < drop_len:
            continue
        end = max(end, float(min(o + min_len, n)))
        onset = times[j]
        offset = end / frame_rate - onset_lag_s
        if j + 1 < n_on:  # a re-struck note ends where the next one starts
            offset = min(offset, times[j + 1])
        onset_s[n_out] = onset
        offset_s[n_out] = max(offset, onset + 1.0 / frame_rate)
        velocity[n_out] = min(127.0, max(1.0, np.rint(30.0 + 90.0 * np.sqrt(min(1.0, peak)))))
        n_out += 1
    return onset_s[:n_out], offset_s[:n_out], velocity[:n_out]


def _merge_close_onsets(onset: np.ndarray, offset: np.ndarray, velocity: np.ndarray, min_ioi_s: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pitch's notes (in the order of their onset frames) with each onset less than ``min_ioi_s``
    after the one kept before it (or before it: a long ``rise_s`` can time a later onset earlier)
    merged into that note (its onset the earlier of the two, its end the later, its velocity the
    larger).

    The tracker keeps accepted onsets at least ``min_ioi_s`` apart in whole frames, but then times
    each one on its rise (``onset_rise_fraction``), which can move it a few frames back: an attack
    that rises in two steps gave two onsets 44-59 ms apart, the second false in 38 of 39 cases over
    the piano data (development and real-piano-sampled pieces).
    """
    if len(onset) < 2 or min_ioi_s <= 0:
        return onset, offset, velocity
    keep = np.ones(len(onset), dtype=bool)
    last = 0
    for j in range(1, len(onset)):
        if onset[j] - onset[last] < min_ioi_s:
            onset[last] = min(onset[last], onset[j])
            offset[last] = max(offset[last], offset[j])
            velocity[last] = max(velocity[last], velocity[j])
            keep[j] = False
        else:
            last = j
    return onset[keep], offset[keep], velocity[keep]


def activations_to_notes(A: np.ndarray, pitch_set: np.ndarray, frame_rate: float,
                         params: NoteParams = NoteParams(), window_s: float = 0.0) -> np.ndarray:
    """Track notes in normalised per-pitch activations.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Normalised activations (about 1 for the loud notes of the file).
    pitch_set : np.ndarray [shape=(n_pitches,)], int
    frame_rate : float
        Frames per second; frame ``t`` is centred at ``t / frame_rate`` seconds.
    params : NoteParams
    window_s : float
        Length of the analysis window in seconds (sets ``offset_shift_s=None``'s shift).

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)], float64
    """
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] != len(pitch_set):
        raise ValueError(f"A has shape {A.shape} but there are {len(pitch_set)} pitches")
    n_p, n = A.shape
    if n == 0 or n_p == 0:
        return empty_notes()
    frames = lambda s: max(1, int(round(s * frame_rate)))  # noqa: E731
    releases = params.release_fall_db > 0 and params.note_ends != "sound"
    n_rise = frames(params.rise_s)
    sub_w = frames(params.sub_window_s) if params.sub_window_s > 0 else 0
    shift_s = window_s / 2.0 if params.offset_shift_s is None else params.offset_shift_s
    fixed = dict(n_rise=n_rise, n_peak=frames(params.peak_window_s), sub_w=sub_w, min_ioi=frames(params.min_ioi_s),
                 min_len=frames(params.min_duration_s), gap=int(round(params.offset_gap_s * frame_rate)),
                 shift=float(shift_s * frame_rate), frame_rate=float(frame_rate),
                 onset_threshold=float(params.onset_threshold), frame_threshold=float(params.frame_threshold),
                 rise_threshold=float(params.rise_threshold), rise_ratio=float(params.rise_ratio),
                 candidate_min=float(params.candidate_min), sub_ratio=float(params.sub_ratio),
                 floor=float(params.floor), drop_len=float(params.min_note_s * frame_rate),
                 onset_lag_s=float(params.onset_lag_s),
                 rise_fraction=-1.0 if params.onset_rise_fraction is None else float(params.onset_rise_fraction),
                 steepest_onset=bool(params.steepest_onset),
                 release_len=frames(params.release_fall_s) if releases else 0,
                 release_ratio=float(10.0 ** (params.release_fall_db / 20.0)),
                 release_end_ratio=float(10.0 ** (params.release_end_db / 20.0)),
                 slow_len=frames(params.release_slow_s) if releases and params.release_slow_db > 0 else 0,
                 slow_ratio=float(10.0 ** (params.release_slow_db / 20.0)))
    row_of = {int(p): i for i, p in enumerate(pitch_set)}
    no_subs = np.zeros((0, n))
    rises: dict[int, np.ndarray] = {}  # rise rows of the pitches below, for the octave check

    def rise(i: int) -> np.ndarray:
        if i not in rises:
            if len(rises) > 2 * (len(params.sub_intervals) + 1):  # a few rows, whatever the file's length
                rises.clear()
            rises[i] = _rise(np.asarray(A[i], dtype=np.float64), n_rise)
        return rises[i]

    parts = []
    for i, p in enumerate(pitch_set):
        if p < params.lowest or p > params.highest:
            continue
        a = np.asarray(A[i], dtype=np.float64)
        if a.max() < params.onset_threshold:  # no onset can reach the threshold
            continue
        subs = [row_of[int(p) - k] for k in params.sub_intervals if int(p) - k in row_of]
        sub_rises = np.stack([rise(j) for j in subs]) if subs and params.sub_ratio > 0 else no_subs
        lag = params.onset_lag_s + params.onset_lag_per_semitone_s * (60.0 - float(p))
        onset, offset, velocity = _merge_close_onsets(*_track_row(a, sub_rises, **dict(fixed, onset_lag_s=lag)),
                                                      params.min_ioi_s)
        if len(onset):
            parts.append(np.stack([onset, offset, np.full(len(onset), float(p)), velocity], axis=1))
    if not parts:
        return empty_notes()
    notes = np.concatenate(parts)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


# start-up: load the cached kernels without registering all of Numba (see core/jitcache.py)
from nmftrans.core.jitcache import load_without_refresh  # noqa: E402

load_without_refresh(vars())
