"""Picture of a decomposition: each reference track's gain and position against mix time.

matplotlib is optional and imported only here (see :mod:`nmftrans.io.plot`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nmftrans.io.plot import _figure, _save


def plot_decomposition(path: str | Path, result, *, title: str | None = None, overwrite: bool = True) -> None:
    """Draw gains (top) and positions (bottom, line width following the gain) of every track.

    Parameters
    ----------
    path : str or Path
        Image file; the format follows the suffix.
    result : nmftrans.decompose.Decomposition
    title : str, optional
    """
    n_tracks = len(result.tracks)
    fig = _figure(10.0, 6.0)
    ax_g, ax_p = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.4])
    colours = [f"C{i % 10}" for i in range(n_tracks)]
    for i, name in enumerate(result.tracks):
        ax_g.plot(result.times, result.gains[i], color=colours[i], lw=1.2, label=name)
        pos = result.positions[i]
        shown = ~np.isnan(pos)
        ax_p.scatter(result.times[shown], pos[shown], s=2.0 + 10.0 * result.gains[i][shown],
                     color=colours[i], linewidths=0)
    ax_g.set_ylabel("gain (share)")
    ax_g.set_ylim(-0.02, 1.02)
    ax_g.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    ax_p.set_ylabel("position in track (s)")
    ax_p.set_xlabel("mix time (s)")
    ax_g.grid(alpha=0.3)
    ax_p.grid(alpha=0.3)
    if title:
        ax_g.set_title(title)
    _save(fig, path, overwrite=overwrite)
