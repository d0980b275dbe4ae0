"""The ignite launcher: a stdlib-only HTTP runtime embedded in every artifact as ``__ignite__``."""

__version__ = "0.1.0"
