"""``python -m packager`` is the same as ``ignite-pack``."""

import os
import signal
import sys


def _early_stop(signum: int, _frame: object) -> None:
    """A signal while the command line is still being imported: nothing to clean up yet."""
    name = signal.Signals(signum).name
    from packager import prestart, pyprobe

    prestart.stop()
    pyprobe.stop_early()
    sys.stderr.write(f"error: stopped by {name} while starting: nothing was done\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def main() -> None:
    """Stop cleanly from the first moment (no traceback from a Ctrl-C during the imports), then run."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _early_stop)
    from packager import prestart

    prestart.begin(sys.argv[1:])  # before click: on the other core while the CLI is imported
    from packager.cli import entry

    entry()


if __name__ == "__main__":
    main()
