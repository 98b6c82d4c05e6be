"""The package version: a leaf module, so nothing imports the half-initialised package root."""

__version__ = "0.1.0"
