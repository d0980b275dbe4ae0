"""``python -m packager`` is the same as ``ignite-pack``."""

from packager.cli import entry

if __name__ == "__main__":
    entry()
