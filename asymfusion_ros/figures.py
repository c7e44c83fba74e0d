"""Figures written to files: matplotlib on the Agg backend, laid out, saved and closed.

Reports are made on robots, CI machines and over SSH, where no display exists; and pyplot
keeps every figure alive until it is closed, so a long run that plots must close each one.
matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any


def pyplot() -> ModuleType:
    """``matplotlib.pyplot``, drawing off-screen (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path, **savefig_options: Any) -> None:
    """Lay ``fig`` out tightly, write it to ``path`` (options go to ``savefig``) and close it."""
    fig.tight_layout()
    fig.savefig(path, **savefig_options)
    pyplot().close(fig)
