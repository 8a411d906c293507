"""Single source of the package version (also sent in ``X-MeshAPI-SDK``)."""

__version__ = "0.1.0"
