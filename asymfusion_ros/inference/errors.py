"""The inference layer's errors: one class for running models, one for building engines."""

from __future__ import annotations


class BackendError(RuntimeError):
    """A model could not be loaded or run: missing file, not a model, wrong inputs."""


class EngineBuildError(BackendError):
    """A TensorRT engine could not be built, or was built for another GPU / TensorRT version."""
