"""The plots of notebook 11 (the per-study heat maps are tested with an evaluation in
test_listeners)."""
import matplotlib.colors as mcolors
import pandas as pd

from vts.app.listener_plots import plot_leaderboard


def test_leaderboard_greys_the_published_rows_and_keeps_their_order():
    board = pd.DataFrame({
        "representation": ["CLAP", "ours: code mean + spread", "DAC"],
        "per_anchor": [0.438, 0.327, 0.316], "per_anchor_lo": [None, 0.276, None],
        "per_anchor_hi": [None, 0.387, None], "metric": "cosine",
        "source": ["Tian et al. (published)", "this run (9 studies)",
                   "Tian et al. (published)"]})
    ax = plot_leaderboard(board).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(board["representation"])
    bars = sorted(ax.patches, key=lambda p: -p.get_y())           # top row first
    assert [round(b.get_width(), 3) for b in bars] == [0.438, 0.327, 0.316]
    grey = mcolors.to_rgba("0.75")
    assert [b.get_facecolor() == grey for b in bars] == [True, False, True]
