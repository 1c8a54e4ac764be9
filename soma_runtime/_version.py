"""The package version, in a module of its own so that any layer can read it without importing
the package root (which would make the layer depend on everything the root re-exports)."""

__version__ = "0.1.0"
