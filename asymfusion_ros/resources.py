"""Where the package's shipped files live, in a source checkout and in a colcon install.

A source checkout (pip -e, tests) reads them next to the package; a colcon install reads
them from ``share/asymfusion_ros`` through ament_index_python, which only exists on a robot.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "asymfusion_ros"
DEFAULT_MODEL = "asymfusion_r18_synthetic"


class ResourceError(FileNotFoundError):
    """A shipped file (model, class set, config) could not be found."""


def share_dir() -> Path:
    """The folder holding ``config/``, ``launch/`` and ``models/``."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "package.xml").is_file():
        return checkout
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError as err:
        raise ResourceError(f"no source checkout at {checkout} and no ament_index_python") from err
    return Path(get_package_share_directory(PACKAGE))


def config_path(relative: str) -> Path:
    """A file under ``config/``, e.g. ``config_path('classes/nyu40.yaml')``."""
    path = share_dir() / "config" / relative
    if not path.is_file():
        raise ResourceError(f"config file not found: {path}")
    return path


def resolve_model(name_or_path: str | Path, suffixes: tuple[str, ...] = (".onnx", ".pt")) -> Path:
    """A model file from a path, or a shipped model's name ('default' = the default model).

    A name is looked up in ``models/`` with each suffix in turn, so 'default' gives the
    ONNX bundle when one is shipped and the checkpoint otherwise.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    name = DEFAULT_MODEL if str(name_or_path) == "default" else str(name_or_path)
    models = share_dir() / "models"
    for suffix in suffixes:
        shipped = models / f"{name}{suffix}"
        if shipped.is_file():
            return shipped
    raise ResourceError(
        f"model {str(name_or_path)!r} is neither a file nor a shipped model in {models} "
        f"(tried suffixes {', '.join(suffixes)})"
    )
