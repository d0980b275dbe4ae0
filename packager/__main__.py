"""``python -m packager`` is the same as ``ignite-pack``."""

from packager.cli import main

if __name__ == "__main__":
    main()
