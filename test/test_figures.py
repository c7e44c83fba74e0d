"""figures.py: off-screen pyplot, and save writes the file and closes the figure."""

from __future__ import annotations

from pathlib import Path

from asymfusion_ros import figures


def test_save_writes_a_png_and_closes_the_figure(tmp_path: Path) -> None:
    plt = figures.pyplot()
    assert plt.get_backend().lower() == "agg"
    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([0, 1], [1, 0])
    path = tmp_path / "line.png"
    figures.save(fig, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
