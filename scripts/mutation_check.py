"""Mutation check: does the test suite catch small deliberate bugs?

Each mutant below is one small, plausible bug (a changed default, a lost interpolation, a
disconnected option, a wrong event order...). The script copies the repository (the files git
tracks or would track: no ``.git``, no ``.venv``) to a temporary folder, then for each mutant
replaces ONE exact piece of source text in that copy, runs the tests that should notice
(``python -m pytest -x`` on the mutant's test files, or the whole suite with ``--full``), and
restores the file. The working tree is never modified.

A mutant is *killed* when the tests fail (or time out), *survives* when they pass, and is *n/a*
when its source text is not found exactly once (the code changed: update the mutant).
Run it before calling a change to the kernel, tracker, normalisation, writers or option wiring
done, and add a mutant for each bug a test should have caught::

    python scripts/mutation_check.py                 # all mutants, their own test files
    python scripts/mutation_check.py --full          # all mutants, the whole suite each
    python scripts/mutation_check.py --only midi-on-before-off,onset-threshold-045
    python scripts/mutation_check.py --list          # the mutants, nothing run
    python scripts/mutation_check.py --tests-rev HEAD~3   # the same mutants against an older suite
    python scripts/mutation_check.py --only onset-lag-5ms --tests tests/test_regression.py

Exit status: 0 when every applicable mutant is killed, 1 when one survives, 2 when the
unmutated tests fail (nothing to compare against). The table (markdown) goes to stdout;
progress to stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Test files by area (the mutants' own selection; --full runs everything instead).
TRACKER = ["tests/test_notes.py", "tests/test_regression.py", "tests/test_cli_options.py"]
KERNEL = ["tests/test_kernels.py", "tests/test_regression.py", "tests/test_transcribe.py"]
NORMALISE = ["tests/test_notes.py", "tests/test_levels.py", "tests/test_transcribe.py", "tests/test_regression.py"]
WRITERS = ["tests/test_midi.py", "tests/test_cli_options.py", "tests/test_outputs.py"]
WIRING = ["tests/test_cli_options.py", "tests/test_outputs.py", "tests/test_regression.py"]
MOTION = ["tests/test_motion.py", "tests/test_levels.py"]
RESTRIKES = ["tests/test_restrikes.py", "tests/test_onset_channel.py", "tests/test_chord_notes.py"]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    old: str  # exact source text, found exactly once
    new: str
    what: str
    tests: tuple[str, ...]


MUTANTS = [
    # --- the note tracker (nmftrans/core/notes.py) ---------------------------------------------------
    Mutant("onset-threshold-045", "nmftrans/core/notes.py", "onset_threshold: float = 0.3", "onset_threshold: float = 0.45",
           "default onset threshold 0.3 -> 0.45", TRACKER),
    Mutant("onset-threshold-020", "nmftrans/core/notes.py", "onset_threshold: float = 0.3", "onset_threshold: float = 0.2",
           "default onset threshold 0.3 -> 0.2", TRACKER),
    Mutant("rise-time-no-interp", "nmftrans/core/notes.py",
           "return j + (threshold - a[j]) / max(a[j + 1] - a[j], _EPS)", "return float(j)",
           "_rise_time returns the frame before the crossing (no sub-frame interpolation)", TRACKER),
    Mutant("rise-fraction-05", "nmftrans/core/notes.py", "onset_rise_fraction: float | None = 0.2",
           "onset_rise_fraction: float | None = 0.5", "default onset rise fraction 0.2 -> 0.5", TRACKER),
    Mutant("onset-lag-5ms", "nmftrans/core/notes.py", "onset_lag_s: float = 0.0", "onset_lag_s: float = 0.005",
           "every note 5 ms early (default onset lag 0 -> 5 ms)", TRACKER),
    Mutant("offset-shift-half-window", "nmftrans/core/notes.py", "offset_shift_s: float | None = 0.0",
           "offset_shift_s: float | None = None", "fading notes end half a window early again", TRACKER),
    Mutant("frame-threshold-010", "nmftrans/core/notes.py", "frame_threshold: float = 0.05",
           "frame_threshold: float = 0.1", "default frame threshold 0.05 -> 0.1", TRACKER),
    Mutant("rise-at-run-start", "nmftrans/core/notes.py", "hi = max(starts[i] + sub_w, last[i])",
           "hi = starts[i] + sub_w", "an onset's rise read around its run's first frame only (a creeping attack lost)",
           TRACKER),
    Mutant("rise-past-run", "nmftrans/core/notes.py", "hi = max(starts[i] + sub_w, last[i])",
           "hi = max(starts[i] + sub_w, last[i] + 8)", "an onset's rise read past its run (a later run's leap)",
           TRACKER),
    Mutant("pitch-lag-sign", "nmftrans/core/notes.py", "params.onset_lag_per_semitone_s * (60.0 - float(p))",
           "params.onset_lag_per_semitone_s * (float(p) - 60.0)", "low notes timed later, high notes earlier",
           TRACKER),
    Mutant("pitch-lag-onset-only", "nmftrans/core/notes.py", "        offset = end / frame_rate - onset_lag_s\n",
           "        offset = end / frame_rate\n", "the per-pitch lag moves onsets but not ends", TRACKER),
    Mutant("reonset-gap-window", "nmftrans/transcribe.py", "note_params.ghost_window_s,\n                               note_params.reonset_gap_s, struck)",
           "note_params.ghost_window_s,\n                               note_params.ghost_window_s, struck)",
           "a weak re-onset just after its note ended (30-60 ms) is kept", ["tests/test_reonsets.py", "tests/test_regression.py"]),
    Mutant("attack-check-ignored", "nmftrans/core/reonsets.py",
           "or (struck is not None and not struck(j))):", "or False):", "a re-onset without an attack is kept",
           ["tests/test_attacks.py", "tests/test_reonsets.py"]),
    Mutant("attack-check-unwired", "nmftrans/transcribe.py", "pitch_set, settings, note_params, flux)\n        if pool_columns:",
           "pitch_set, settings, note_params)\n        if pool_columns:", "the whole-file path reads no attacks",
           ["tests/test_attacks.py"]),
    Mutant("attack-read-at-offsets", "nmftrans/transcribe.py", "attack_ratios(flux, np.round(notes[repeated, 0]",
           "attack_ratios(flux, np.round(notes[repeated, 1]", "the attack read where the note ends",
           ["tests/test_attacks.py", "tests/test_reonsets.py", "tests/test_regression.py"]),
    Mutant("attack-near-window", "nmftrans/core/attacks.py", "NEAR_FRAMES = 3", "NEAR_FRAMES = 1",
           "a moment's flux read one frame either side", ["tests/test_attacks.py"]),
    Mutant("flux-not-rectified", "nmftrans/core/attacks.py", "    np.maximum(rise, 0, out=rise)\n", "",
           "falls of the spectrum count as flux", ["tests/test_attacks.py"]),
    Mutant("restrike-not-cut", "nmftrans/core/notes.py", "offset = min(offset, times[j + 1])", "offset = offset",
           "a re-struck note no longer ends where the next one starts", TRACKER),
    Mutant("release-off", "nmftrans/core/notes.py", "release_fall_db: float = 3.0", "release_fall_db: float = 0.0",
           "released notes end with their tail again (no release rule)", TRACKER + ["tests/test_releases.py"]),
    Mutant("close-onsets-kept", "nmftrans/core/notes.py", "        if onset[j] - onset[last] < min_ioi_s:",
           "        if False:", "two timed onsets of a pitch closer than min_ioi_s both kept", TRACKER),
    Mutant("close-onsets-first-velocity", "nmftrans/core/notes.py",
           "            velocity[last] = max(velocity[last], velocity[j])", "            pass",
           "a merged attack keeps its first step's velocity", TRACKER),
    # --- harmonic ghosts (nmftrans/core/ghosts.py, applied by transcribe) ----------------------------
    Mutant("ghost-rule-off", "nmftrans/core/notes.py", "ghost_ratio: float = 0.5", "ghost_ratio: float = 0.0",
           "twelfth/seventeenth ghosts kept (no ghost rule)", ["tests/test_ghosts.py", "tests/test_regression.py"]),
    Mutant("ghost-ratio-inclusive", "nmftrans/core/ghosts.py", "ghost = np.asarray(ghost_peaks) < np.asarray(ratio)",
           "ghost = np.asarray(ghost_peaks) <= np.asarray(ratio)", "a possible ghost exactly at the ratio dropped too",
           ["tests/test_ghosts.py"]),
    Mutant("semitone-rule-off", "nmftrans/core/notes.py", "semitone_ratio: float = 0.35", "semitone_ratio: float = 0.0",
           "much softer semitone neighbours starting with a note kept (no semitone rule)", ["tests/test_ghosts.py"]),
    Mutant("semitone-sounding-off", "nmftrans/core/notes.py", "semitone_sounding_ratio: float = 0.5",
           "semitone_sounding_ratio: float = 0.0", "much softer semitone neighbours under a held note kept",
           ["tests/test_ghosts.py"]),
    Mutant("sounding-ended-counts", "nmftrans/core/ghosts.py", "sounding = notes[source, 1] > notes[ghost, 0]",
           "sounding = notes[source, 1] >= notes[ghost, 0]", "a note ending exactly at an onset still sounds",
           ["tests/test_ghosts.py"]),
    Mutant("semitone-one-way", "nmftrans/core/ghosts.py", "SEMITONES = (-1, 1)", "SEMITONES = (1,)",
           "only the neighbour above a note is looked at", ["tests/test_ghosts.py"]),
    Mutant("ghost-any-interval", "nmftrans/core/ghosts.py", "if pitches[j] - pitches[k] in intervals:",
           "if pitches[j] - pitches[k] > 0:", "any lower note starting with a note makes a pair",
           ["tests/test_ghosts.py"]),
    Mutant("ghost-spilled-skipped", "nmftrans/transcribe.py",
           "    notes = _drop_ghosts(notes, row, pitch_set, settings, note_params)",
           "    pass", "the flat-memory (spilled) path keeps the ghosts the whole-file path drops",
           ["tests/test_ghosts.py"]),
    # --- weak re-onsets (nmftrans/core/reonsets.py, applied by transcribe) -----------------------------
    Mutant("reonset-rule-off", "nmftrans/core/notes.py", "reonset_ratio: float = 0.5", "reonset_ratio: float = 0.0",
           "a swell inside a sounding note gives a second note (no re-onset rule)", ["tests/test_reonsets.py"]),
    Mutant("reonset-inclusive", "nmftrans/core/reonsets.py", "if sounding and peaks[j] > 0 and (peaks[j] < ratio",
           "if sounding and peaks[j] > 0 and (peaks[j] <= ratio", "a re-onset at exactly the ratio merged too",
           ["tests/test_reonsets.py"]),
    Mutant("reonset-zero-judged", "nmftrans/core/reonsets.py", "if sounding and peaks[j] > 0 and (peaks[j] < ratio",
           "if sounding and peaks[j] >= 0 and (peaks[j] < ratio", "a gated (zero-peak) held note merged away",
           ["tests/test_reonsets.py"]),
    Mutant("reonset-chain-from-last", "nmftrans/core/reonsets.py", "                keep[j] = False\n",
           "                keep[j] = False\n                current = j\n",
           "a run of weak rises judged against the last one, not the note that started it", ["tests/test_reonsets.py"]),
    Mutant("spilled-rules-ungated", "nmftrans/transcribe.py",
           "    seen = gain if gate is None else gain * gate.gate", "    seen = gain",
           "the spilled path's after-tracking rules read rows without the motion gate the whole-file path applied",
           ["tests/test_motion.py"]),
    Mutant("reonset-spilled-skipped", "nmftrans/transcribe.py",
           "    notes = _merge_reonsets(notes, row, pitch_set, settings, note_params, flux)",
           "    pass", "the flat-memory (spilled) path keeps the weak re-onsets the whole-file path merges",
           ["tests/test_reonsets.py"]),
    # --- notes that do not stand out (nmftrans/core/standout.py, applied by transcribe) ---------------
    Mutant("standout-rule-off", "nmftrans/core/notes.py", "carpet_ratio: float = 10.0", "carpet_ratio: float = 0.0",
           "a burst at a soft onset gives notes at many pitches (no standout rule)",
           ["tests/test_standout.py", "tests/test_regression.py"]),
    Mutant("standout-carpet-rank", "nmftrans/core/standout.py", "return frame_rank(A, A.shape[0] - 1 - int(above))",
           "return frame_rank(A, A.shape[0] - 2 - int(above))", "the carpet one pitch lower than documented",
           ["tests/test_standout.py"]),
    Mutant("standout-small-dictionary", "nmftrans/core/standout.py", "if A.shape[0] <= int(above):",
           "if A.shape[0] < int(above):", "a dictionary of exactly 22 pitches gets a carpet",
           ["tests/test_standout.py"]),
    Mutant("neighbour-rule-off", "nmftrans/core/notes.py", "neighbour_ratio: float = 0.5", "neighbour_ratio: float = 0.0",
           "chirps give notes between lit neighbours (no neighbour rule)", ["tests/test_standout.py"]),
    Mutant("neighbour-either-side", "nmftrans/core/standout.py",
           "return (peaks > 0) & (np.asarray(lower) >= ratio * peaks) & (np.asarray(upper) >= ratio * peaks)",
           "return (peaks > 0) & ((np.asarray(lower) >= ratio * peaks) | (np.asarray(upper) >= ratio * peaks))",
           "a note with one lit neighbour (a run, a trill) is dropped", ["tests/test_standout.py"]),
    Mutant("neighbour-judges-gated-notes", "nmftrans/core/standout.py", "return (peaks > 0) & (", "return (peaks >= 0) & (",
           "held notes under a voice (zero in the gated rows) are dropped",
           ["tests/test_standout.py", "tests/test_motion.py"]),
    Mutant("neighbour-top-not-special", "nmftrans/transcribe.py", "            elif i + 1 == len(pitch_set):",
           "            elif False:", "the top pitch, with no pitch above, is never judged",
           ["tests/test_standout.py"]),
    Mutant("neighbour-gap-lit", "nmftrans/transcribe.py", "            elif i + 1 == len(pitch_set):",
           "            else:", "a pitch missing inside the dictionary counts as lit", ["tests/test_standout.py"]),
    Mutant("onset-window-one-short", "nmftrans/core/ghosts.py", "np.arange(max(1, int(frames)))[None, :]",
           "np.arange(max(1, int(frames) - 1))[None, :]", "onset peaks read a window one frame short",
           ["tests/test_ghosts.py", "tests/test_standout.py"]),
    Mutant("neighbour-peak-frame-last", "nmftrans/core/ghosts.py",
           "return idx[np.arange(len(idx)), np.argmax(row[idx], axis=1)]",
           "return idx[np.arange(len(idx)), -1]", "the neighbours read at the window's last frame, not the peak's",
           ["tests/test_standout.py"]),
    Mutant("standout-spilled-skipped", "nmftrans/transcribe.py",
           "    notes = _drop_flat(notes, row, lambda: levels[2] * seen, pitch_set, settings, note_params)",
           "    notes = notes if True else _drop_flat(notes, row, lambda: levels[2] * seen, pitch_set, settings, note_params)",
           "the flat-memory (spilled) path keeps the notes the whole-file path drops", ["tests/test_standout.py"]),
    Mutant("release-end-at-fall-start", "nmftrans/core/notes.py", "    level = a[s] / end_ratio", "    level = a[s]",
           "a released note ends where its fall begins, not 3 dB down", TRACKER),
    Mutant("release-slow-ignored", "nmftrans/core/notes.py", "    if slow_length > 0:\n        s = _fall_start(", "    if False:\n        s = _fall_start(",
           "release_slow_db no longer bridges a room's wavering tail", TRACKER + ["tests/test_accuracy_guards.py"]),
    Mutant("release-slow-off-by-default", "nmftrans/core/notes.py", "    release_slow_db: float = 6.0",
           "    release_slow_db: float = 0.0", "notes in a room end with its tail by default",
           ["tests/test_accuracy_guards.py"]),
    # --- steady floors (nmftrans/core/steady.py, transcribe.py) ----------------------------------
    Mutant("steady-off-by-default", "nmftrans/core/notes.py", "    steady_factor: float = 2.0",
           "    steady_factor: float = 0.0", "hum becomes notes: no steady floor taken off by default",
           ["tests/test_steady.py"]),
    Mutant("steady-order-statistic", "nmftrans/core/steady.py",
           "        k = int(percentile / 100.0 * (window.shape[1] - 1))",
           "        k = min(window.shape[1] - 1, int(percentile / 100.0 * window.shape[1]))",
           "the floor read one order statistic too high", ["tests/test_steady.py"]),
    Mutant("steady-spilled-skipped", "nmftrans/transcribe.py",
           "        rows = steady_rows(lo - pad, min(hi + 1, len(pitch_set)))",
           "        rows = A.rows(lo - pad, min(hi + 1, len(pitch_set)))",
           "the flat-memory (spilled) path tracks the activations with their steady floors",
           ["tests/test_steady.py"]),
    Mutant("steady-levels-after", "nmftrans/transcribe.py",
           "        gain = frame_gains(*frame_levels(A), settings.frame_rate)\n        carpet = frame_carpet(A)\n        np.multiply(steady(A), gain[None, :], out=A)",
           "        carpet = frame_carpet(A)\n        steady(A)\n        gain = frame_gains(*frame_levels(A), settings.frame_rate)\n        np.multiply(A, gain[None, :], out=A)",
           "the music check reads the activations after the steady floors came off (noise becomes notes)",
           ["tests/test_levels.py", "tests/test_standout.py", "tests/test_steady.py"]),
    Mutant("release-slow-no-peak-check", "nmftrans/core/notes.py", "        if s <= k + 1:", "        if s < k:",
           "a slow fall back to the peak (a fading note) counts as a release", TRACKER),
    Mutant("note-ends-ignored", "nmftrans/core/notes.py",
           "    releases = params.release_fall_db > 0 and params.note_ends != \"sound\"",
           "    releases = params.release_fall_db > 0",
           "note_ends='sound' still ends notes at their release", ["tests/test_releases.py"]),
    Mutant("note-ends-not-from-dictionary", "nmftrans/transcribe.py",
           "    note_params = note_params.ending(dictionary.note_ends)",
           "    note_params = note_params.ending(\"release\")",
           "the dictionary's note_ends is not the default", ["tests/test_releases.py"]),
    Mutant("note-ends-retrack-release", "nmftrans/batch.py",
           "    params = _note_params(options).ending(note_ends_of(json.loads(saved[\"provenance\"])))",
           "    params = _note_params(options)",
           "re-tracked activations forget the dictionary's note_ends", ["tests/test_releases.py"]),
    Mutant("offset-full-window", "nmftrans/core/notes.py", "shift_s = window_s / 2.0 if", "shift_s = window_s if",
           "offsets moved back by the whole window instead of half", TRACKER),
    Mutant("velocity-linear", "nmftrans/core/notes.py", "np.sqrt(min(1.0, peak))", "min(1.0, peak)",
           "velocity linear in the peak instead of its square root", TRACKER),
    Mutant("highest-exclusive", "nmftrans/core/notes.py", "if p < params.lowest or p > params.highest:",
           "if p < params.lowest or p >= params.highest:", "the highest pitch of the range is dropped", TRACKER),
    Mutant("min-ioi-doubled", "nmftrans/core/notes.py", "min_ioi_s: float = 0.06", "min_ioi_s: float = 0.12",
           "default minimum re-strike interval 60 -> 120 ms", TRACKER),
    # --- normalisation ---------------------------------------------------------------------------
    Mutant("norm-percentile-99", "nmftrans/core/levels.py", "percentile: float = 90.0", "percentile: float = 99.0",
           "normalisation by the 99th instead of the 90th percentile", NORMALISE),
    Mutant("norm-counts-silence", "nmftrans/core/levels.py", "active = peak > SILENCE_FRACTION * top",
           "active = peak >= 0", "silent frames lower the reference level", NORMALISE),
    Mutant("norm-no-music-gate", "nmftrans/core/levels.py", "music_ratio_off: float = 18.0",
           "music_ratio_off: float = 0.0", "no-music gate off (noise becomes notes)", NORMALISE),
    Mutant("norm-no-noise-floor", "nmftrans/core/levels.py", "noise_ratio: float = 80.0", "noise_ratio: float = 0.0",
           "the reference has no floor above the noise carpet", NORMALISE),
    Mutant("norm-carpet-quartile-only", "nmftrans/core/levels.py", "CARPET_ABOVE = 12", "CARPET_ABOVE = 0",
           "the carpet is the upper quartile for any pitch count (chords silenced with a narrow dictionary)", NORMALISE),
    Mutant("norm-carpet-no-median-bound", "nmftrans/core/levels.py", "CARPET_LOWEST = 0.5", "CARPET_LOWEST = 0.0",
           "a small dictionary's carpet sinks to its weakest pitch", NORMALISE),
    Mutant("norm-no-loud-carpet", "nmftrans/core/levels.py", "loud_carpet: float = 0.8", "loud_carpet: float = 0.0",
           "sparse clicks over a quiet room read as music (the loud frames' carpet unread)", NORMALISE),
    Mutant("norm-loud-carpet-all-frames", "nmftrans/core/levels.py",
           "loudest = carpets[peaks >= _quantile(peaks, 100.0 * params.loud_quantile)]", "loudest = carpets",
           "the loud frames' carpet read over all frames", NORMALISE),
    Mutant("norm-no-sparse-verdict", "nmftrans/core/levels.py", "sparse_quantile: float = 0.99",
           "sparse_quantile: float = 1.0", "sparse notes over a quiet room read as noise", NORMALISE),
    Mutant("norm-no-sparse-share", "nmftrans/core/levels.py", "sparse_share: float = 0.5", "sparse_share: float = 0.0",
           "sparse notes judged against the room's level (every partial a note)", NORMALISE),
    Mutant("norm-sparse-ratio-of-means", "nmftrans/core/levels.py",
           "ratios = peaks[loudest_few] / np.maximum(carpets[loudest_few], 1e-30)",
           "ratios = peaks[loudest_few] / max(_quantile(carpets, 50.0), 1e-30)",
           "the loudest frames judged against the window's carpet, not their own", NORMALISE),
    # --- the motion gate (nmftrans/core/motion.py): speech and hum ------------------------------------
    Mutant("motion-no-glide-gate", "nmftrans/core/motion.py", "glide_on: float = 0.05", "glide_on: float = 1.0",
           "glide gate off (speech becomes notes)", MOTION),
    Mutant("motion-no-clear", "nmftrans/core/motion.py", "clear_s: float = 0.25", "clear_s: float = 0.0",
           "notes under a quiet voice kept only when held (no clear frames)", MOTION),
    Mutant("motion-clear-any-window", "nmftrans/core/motion.py", "clear = voice & little & (near == 0)",
           "clear = voice & (near == 0)", "clear frames also where the window glides a lot (speech alone)", MOTION),
    Mutant("motion-clear-one-glide", "nmftrans/core/motion.py", "clear = voice & little & (near == 0)",
           "clear = voice & little & (near <= 1)", "a frame with one gliding frame near it counts as clear", MOTION),
    Mutant("motion-clear-unused", "nmftrans/core/motion.py", "            kept |= gate.clear[at]", "            pass",
           "the clear frames computed but not used by gated_notes", MOTION),
    Mutant("motion-no-steady-gate", "nmftrans/core/motion.py", "steady_on: float = 0.7", "steady_on: float = 1.0",
           "steady gate off (hum becomes notes)", MOTION),
    Mutant("motion-no-slow-glides", "nmftrans/core/motion.py", "slow_on: float = 0.3", "slow_on: float = 1.0",
           "slow glides (an engine running up) are not gated", MOTION),
    Mutant("motion-held-under-slow-glides", "nmftrans/core/motion.py", "        voice &= slow_gate >= 0.5\n", "",
           "held notes are kept under a slow glide", MOTION),
    Mutant("motion-slow-lag-fast", "nmftrans/core/motion.py", "slow_lag_frames: int = 6", "slow_lag_frames: int = 2",
           "the slow check compares frames as close as the fast one", MOTION),
    Mutant("motion-no-vibrato-return", "nmftrans/core/motion.py", "return_match: float = 0.8", "return_match: float = 1.0",
           "vibrato counts as a glide", MOTION),
    Mutant("motion-no-held-notes", "nmftrans/core/motion.py", "held_drift: float = 0.05", "held_drift: float = 0.0",
           "notes of strings under a voice are not kept", MOTION),
    Mutant("motion-frame-numbers-lost", "nmftrans/core/motion.py", "off = (-self.n_pushed) % p.stride",
           "off = 0 * self.n_pushed", "glide frames depend on how the blocks were cut", MOTION),
    Mutant("restrikes-off", "nmftrans/core/notes.py", "restrike_ratio: float = 1.1", "restrike_ratio: float = 0.0",
           "no re-strike splits of ringing notes (core/onset_channel.py)", RESTRIKES),
    Mutant("chord-notes-off", "nmftrans/core/notes.py", "chord_ratio: float = 0.9", "chord_ratio: float = 0.0",
           "soft chord notes below the threshold no longer kept (core/chord_notes.py)", RESTRIKES),
    Mutant("motion-spilled-ungated", "nmftrans/transcribe.py",
           "parts.append(track(own, pitch_set[lo:hi]) if gate is None else gated_notes(",
           "parts.append(track(own, pitch_set[lo:hi]) if True else gated_notes(",
           "the flat-memory path ignores the gate", MOTION),
    # --- the kernel (nmftrans/core/kernels.py) --------------------------------------------------------
    Mutant("kl-gamma-175-as-1", "nmftrans/core/kernels.py", "x[j] *= t * r * math.sqrt(r)", "x[j] *= t",
           "the over-relaxed KL step (gamma 1.75) becomes the plain step", KERNEL),
    Mutant("mu-step-no-l1", "nmftrans/core/kernels.py", "x[j] *= nk[j] / max(dk[j] + l1, eps)",
           "x[j] *= nk[j] / max(dk[j], eps)", "the gamma = 1 MU step ignores the L1 weight", KERNEL),
    Mutant("rescale-wrong-sign", "nmftrans/core/kernels.py", "prev[j] = (now / max(prev[j], floor)) ** expo",
           "prev[j] = (now / max(prev[j], floor)) ** -expo", "lagged denominator rescaled the wrong way", KERNEL),
    # --- MIDI / CSV writers (nmftrans/io/midi.py) ---------------------------------------------------
    Mutant("midi-on-before-off", "nmftrans/io/midi.py", "order = np.lexsort((velocity, pitch, is_on, tick))",
           "order = np.lexsort((velocity, pitch, 1 - is_on, tick))",
           "note_on written before note_off at the same tick", WRITERS),
    Mutant("midi-tempo-ignored", "nmftrans/io/midi.py", "ticks_per_s = ticks_per_beat * 1e6 / us_per_beat",
           "ticks_per_s = ticks_per_beat * 2.0", "ticks computed at 120 bpm whatever the tempo written", WRITERS),
    Mutant("midi-velocity-zero", "nmftrans/io/midi.py", "np.clip(np.round(notes[:, 3]), 1, 127)",
           "np.clip(np.round(notes[:, 3]), 0, 127)", "a velocity under 0.5 becomes note_on 0 (a note_off)", WRITERS),
    Mutant("midi-zero-length", "nmftrans/io/midi.py",
           "off = np.maximum(np.round(notes[:, 1] * ticks_per_s).astype(np.int64), on + 1)",
           "off = np.round(notes[:, 1] * ticks_per_s).astype(np.int64)", "very short notes get zero length", WRITERS),
    Mutant("csv-3-decimals", "nmftrans/io/midi.py", 'f"{onset:.4f},{offset:.4f},', 'f"{onset:.3f},{offset:.3f},',
           "CSV times rounded to 1 ms", WRITERS),
    # --- option wiring (nmftrans/cli.py, nmftrans/batch.py) --------------------------------------
    Mutant("wire-min-note-ms", "nmftrans/cli.py", "min_note_ms=min_note_ms, standout=standout, pitch_range=",
           "min_note_ms=None, standout=standout, pitch_range=", "--min-note-ms disconnected in transcribe", WIRING),
    Mutant("wire-onset-threshold", "nmftrans/batch.py", 'changes["onset_threshold"] = options.onset_threshold',
           "pass", "--onset-threshold ignored", WIRING),
    Mutant("wire-frame-threshold", "nmftrans/batch.py", 'changes["frame_threshold"] = options.frame_threshold',
           "pass", "--frame-threshold ignored", WIRING),
    Mutant("wire-pitch-range", "nmftrans/batch.py",
           'changes["lowest"], changes["highest"] = options.pitch_range', "pass", "--lowest/--highest ignored",
           WIRING),
    Mutant("wire-iterations", "nmftrans/batch.py", 'given = {"n_iter": options.iterations,',
           'given = {"n_iter": None,', "--iterations ignored", WIRING),
    Mutant("wire-floor-octaves", "nmftrans/batch.py", '"floor_octaves": options.floor_octaves,',
           '"floor_octaves": None,', "--floor-octaves ignored", WIRING),
    Mutant("wire-eq-octaves", "nmftrans/batch.py", '"eq_octaves": options.eq_octaves,', '"eq_octaves": None,',
           "--eq-octaves ignored", WIRING),
    Mutant("wire-tempo", "nmftrans/batch.py", "write_notes(target, notes, tempo=options.tempo,",
           "write_notes(target, notes, tempo=120.0,", "--tempo ignored", WIRING),
    Mutant("wire-program", "nmftrans/batch.py", "program = options.program\n", "program = -1\n",
           "--program ignored (always the dictionary's)", WIRING),
    # --- start-up (nmftrans/core/jitcache.py) ---------------------------------------------------------
    Mutant("startup-no-freeze", "nmftrans/core/jitcache.py", "        gc.freeze()\n", "        pass\n",
           "Numba's objects not frozen after the import (every later full collection scans them)",
           ("tests/test_startup.py",)),
    Mutant("startup-collector-off", "nmftrans/core/jitcache.py", "        if collecting:\n", "        if False:\n",
           "the collector left paused after the import", ("tests/test_startup.py",)),
    Mutant("runtime-never-saved", "nmftrans/core/jitcache.py", "            fh.write(_pack(key, object_code, bitcode))",
           "            fh.write(b'')", "Numba's runtime compiled at every start (its object file left empty)",
           ("tests/test_startup.py",)),
    Mutant("runtime-file-ignored", "nmftrans/core/jitcache.py", "    if blob is not None:\n        parts = _unpack",
           "    if False:\n        parts = _unpack", "the runtime's object file never read",
           ("tests/test_startup.py",)),
    # --- tuning (nmftrans/core/tuning.py, transcribe.py, io/audio.py, batch.py) -------------------------
    Mutant("tuning-times-not-mapped-back", "nmftrans/transcribe.py", "        result.notes[:, :2] *= ratio\n",
           "        pass\n", "note times of a tuning-corrected input left on the resampled clock",
           ("tests/test_tuning.py",)),
    Mutant("tuning-not-resampled", "nmftrans/io/audio.py", "rate = sr * pitch_ratio if pitch_ratio != 1.0 else sr",
           "rate = sr", "a file read again for a tuning correction is read as it is", ("tests/test_tuning.py",)),
    Mutant("tuning-retrack-clock", "nmftrans/batch.py",
           "        notes[:, :2] *= settings.frame_rate / saved[\"frame_rate\"]", "        pass",
           "notes re-tracked from saved activations of a corrected input left on the resampled clock",
           ("tests/test_tuning.py",)),
    Mutant("tuning-align-clock", "nmftrans/align.py", "    result.notes[:, :2] *= ratio  # resampled time -> the recording's",
           "    pass", "align's performed times of a tuning-corrected recording left on the resampled clock",
           ("tests/test_align.py",)),
    Mutant("tuning-reference-ignored", "nmftrans/core/tuning.py", "    return float(stored) if abs(stored) > DEAD_CENTS else 0.0",
           "    return 0.0", "recordings compared with A440 even with a dictionary of a detuned instrument",
           ("tests/test_tuning.py",)),
    Mutant("tuning-relative-sign", "nmftrans/core/tuning.py", "    return float((reading - reference + 50.0) % 100.0 - 50.0)",
           "    return float((reference - reading + 50.0) % 100.0 - 50.0)",
           "the dictionary's tuning subtracted the wrong way round", ("tests/test_tuning.py",)),
    Mutant("tuning-labelled-not-read", "nmftrans/learn.py", "                    readings.append(prepared.reading)",
           "                    pass", "learning from labelled audio stores no tuning", ("tests/test_tuning.py",)),
    Mutant("tuning-no-dead-zone", "nmftrans/core/tuning.py", "DEAD_CENTS = 12.0", "DEAD_CENTS = 0.0",
           "every reading corrected, in-tune instruments' too", ("tests/test_tuning.py",)),
    Mutant("tuning-first-span-only", "nmftrans/core/tuning.py", "        if is_clear(reading):\n            self.reading = reading",
           "        if True:\n            self.reading = reading",
           "the first 30 s decide the tuning even when they hold no music", ("tests/test_tuning.py",)),
    Mutant("tuning-no-limit", "nmftrans/core/tuning.py",
           "self._left = max(1, int(round(MAX_TUNING_S * sample_rate)))", "self._left = 1 << 62",
           "the tuning is read to the end of a recording with no clear span", ("tests/test_tuning.py",)),
    Mutant("tuning-resynth-not-mapped-back", "nmftrans/resynth.py",
           "    back = resample(_model_signal(resample(y, sr * ratio, sr), dictionary, solver, pitches), sr, sr * ratio)",
           "    back = _model_signal(resample(y, sr * ratio, sr), dictionary, solver, pitches)",
           "--resynth of a tuning-corrected recording left in the corrected tuning and clock", ("tests/test_resynth.py",)),
    Mutant("tuning-resynth-not-corrected", "nmftrans/resynth.py", "    if not cents:\n        return _model_signal(",
           "    if True:\n        return _model_signal(", "--resynth models a detuned recording as it is",
           ("tests/test_resynth.py",)),
    Mutant("tuning-hum-read", "nmftrans/core/tuning.py", "STEADY_SHARE = 0.75", "STEADY_SHARE = 1.01",
           "mains hum's steady peaks are read as the recording's tuning", ("tests/test_tuning.py",)),
    Mutant("tuning-sign", "nmftrans/core/tuning.py", "    return float(2.0 ** (-float(cents) / 1200.0))",
           "    return float(2.0 ** (float(cents) / 1200.0))", "the correction doubles the detuning",
           ("tests/test_tuning.py",)),
]


def repository_files(root: Path) -> list[str]:
    """Files git tracks or would track (untracked but not ignored)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                         capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p and (root / p).is_file()]


def copy_repository(root: Path, dest: Path) -> None:
    for rel in repository_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


def run_tests(copy: Path, tests: list[str], timeout: float) -> tuple[str, str, float]:
    """Run pytest in ``copy``; returns (``pass``/``fail``/``timeout``, first failing test, seconds)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NUMBA_CACHE_DIR", None)  # numba caches beside the copy's sources
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", "-p", "no:warnings", *tests]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", "", time.perf_counter() - start
    seconds = time.perf_counter() - start
    if proc.returncode == 0:
        return "pass", "", seconds
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, flags=re.M)
    first = failed[0] if failed else (proc.stdout.strip().splitlines() or ["?"])[-1]
    return "fail", first, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="run the whole suite for each mutant")
    parser.add_argument("--only", default="", help="comma-separated mutant names")
    parser.add_argument("--tests", default="", help="comma-separated test files or node ids for every mutant "
                        "(instead of each mutant's own files)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per test run (a timeout kills)")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository to copy (default: this one)")
    parser.add_argument("--tests-rev", default=None,
                        help="use tests/ as committed at this git revision (e.g. the suite before a change)")
    args = parser.parse_args(argv)
    mutants = MUTANTS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m.name for m in MUTANTS}
        if unknown:
            parser.error(f"unknown mutants: {', '.join(sorted(unknown))}")
        mutants = [m for m in MUTANTS if m.name in wanted]
    if args.list:
        for m in mutants:
            print(f"{m.name:24s} {m.path:20s} {m.what}")
        return 0
    root = args.root.resolve()
    with tempfile.TemporaryDirectory(prefix="nmftrans-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        copy_repository(root, copy)
        if args.tests_rev:
            shutil.rmtree(copy / "tests")
            archive = subprocess.run(["git", "archive", args.tests_rev, "tests"], cwd=root, check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x"], cwd=copy, input=archive, check=True)
        check = subprocess.run([sys.executable, "-c", "import nmftrans; print(nmftrans.__file__)"], cwd=copy,
                               env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True, text=True)
        if not check.stdout.strip().startswith(str(copy)):
            print(f"the copy's nmftrans is not the one imported: {check.stdout.strip()} {check.stderr.strip()}",
                  file=sys.stderr)
            return 2

        def selection(m: Mutant | None) -> list[str]:
            if args.tests:
                return args.tests.split(",")
            if args.full or m is None:
                return [] if args.full else sorted({t for x in mutants for t in x.tests if (copy / t).is_file()})
            return [t for t in m.tests if (copy / t).is_file()] or []

        base = selection(None)
        print(f"unmutated: {' '.join(base) or 'whole suite'} ...", file=sys.stderr)
        status, first, seconds = run_tests(copy, base, args.timeout)
        if status != "pass":
            print(f"the unmutated tests fail ({first}); nothing to compare against", file=sys.stderr)
            return 2
        print(f"unmutated: pass ({seconds:.0f} s)", file=sys.stderr)
        rows = []
        for m in mutants:
            path = copy / m.path
            original = path.read_text()
            stamp = path.stat()
            count = original.count(m.old)
            if count != 1:
                rows.append((m, "n/a", f"source text found {count} times", 0.0))
                print(f"{m.name}: n/a", file=sys.stderr)
                continue
            try:
                path.write_text(original.replace(m.old, m.new))
                tests = selection(m)
                status, first, seconds = run_tests(copy, tests, args.timeout)
            finally:
                path.write_text(original)  # the same bytes and time stamp: compiled caches stay valid
                os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
            result = {"pass": "SURVIVED", "fail": "killed", "timeout": "killed (timeout)"}[status]
            rows.append((m, result, first, seconds))
            print(f"{m.name}: {result} {first} ({seconds:.0f} s)", file=sys.stderr)
    print("| mutant | file | deliberate bug | result | first failing test |")
    print("|---|---|---|---|---|")
    for m, result, first, _ in rows:
        print(f"| {m.name} | {m.path} | {m.what} | {result} | {first} |")
    survived = [m.name for m, result, _, _ in rows if result == "SURVIVED"]
    killed = sum(result.startswith("killed") for _, result, _, _ in rows)
    print(f"\n{killed} killed, {len(survived)} survived, {sum(r == 'n/a' for _, r, _, _ in rows)} n/a "
          f"({'whole suite' if args.full else 'own test files'} per mutant)")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
