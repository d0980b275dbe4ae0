"""The launcher's own log lines: plain text on stderr, no ``logging`` module.

``logging`` costs import time and per-call overhead on the hot path; each line
here is one ``os.write`` on fd 2 (atomic for lines up to PIPE_BUF on a pipe),
which is also safe to call from any thread.  Per-request access lines are queued
by the server and written in batches of whole lines (``Server.flush_access``).
"""

from __future__ import annotations

import os

DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40

LEVELS = {
    "debug": DEBUG,
    "info": INFO,
    "warning": WARNING,
    "warn": WARNING,
    "error": ERROR,
    "critical": 50,
    "off": 100,
    "none": 100,
}

_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}

#: ``os._exit`` as it was before the handler's import: the launcher's own exits use this, the
#: handler's ``os._exit`` is logged first (main._hook_os_exit).
real_exit = os._exit


class Log:
    """Minimal leveled logger writing ``[ignite] LEVEL message`` lines to stderr."""

    __slots__ = ("level",)

    def __init__(self, level: int = INFO) -> None:
        self.level = level

    def enabled(self, level: int) -> bool:
        return level >= self.level

    def write(self, level: int, message: str) -> None:
        if level < self.level:
            return
        if level == 50:
            level = INFO
        self.write_raw(f"[ignite] {_NAMES.get(level, 'INFO')} {message}\n")

    @staticmethod
    def write_raw(text: str) -> None:
        """Write already formatted lines (the server's batched access lines)."""
        data = text.encode("utf-8", "backslashreplace")
        try:
            while data:
                n = os.write(2, data)
                data = data[n:]
        except OSError:
            pass

    def debug(self, message: str) -> None:
        if self.level <= DEBUG:
            self.write(DEBUG, message)

    def info(self, message: str) -> None:
        if self.level <= INFO:
            self.write(INFO, message)

    def notice(self, message: str) -> None:
        """Start/stop lines: shown at every level except ``off``."""
        if self.level <= 50:
            self.write(50, message)

    def warning(self, message: str) -> None:
        self.write(WARNING, message)

    def error(self, message: str) -> None:
        self.write(ERROR, message)


def parse_level(value: str) -> int:
    """Map a level name (or a number) to its value; unknown names mean INFO."""
    value = value.strip().lower()
    if value.isdigit():
        return int(value)
    return LEVELS.get(value, INFO)
