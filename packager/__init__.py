"""ignite-packager: compile a Python function into a deterministic artifact.

The core library never prints and never exits; :mod:`packager.cli` does both.
"""

__version__ = "0.1.0"
