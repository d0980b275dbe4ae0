"""``--env-file FILE``: a function's settings for local runs, in dotenv syntax (python-dotenv parses it).

``KEY=VALUE`` lines, single/double quotes, ``#`` comments, ``export KEY=...``, ``${VAR}`` expansion
(python-dotenv's rules). A ``KEY`` without ``=`` takes no value from the file (the launcher inherits
the caller's environment anyway). Values are never put in an error message: a line python-dotenv
cannot parse is named by its number only.
"""

from __future__ import annotations

import io
from pathlib import Path

from packager.errors import UsageError


def load_env_file(path: Path) -> dict[str, str]:
    """The variables *path* sets, or a UsageError naming the file (and line) that is wrong."""
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise UsageError("env file does not exist", where=str(path),
                         hint="pass a file of KEY=VALUE lines to --env-file") from None
    except UnicodeDecodeError:
        raise UsageError("env file is not UTF-8 text", where=str(path),
                         hint="save it as UTF-8 (KEY=VALUE lines)") from None
    except OSError as exc:
        raise UsageError(f"cannot read the env file: {exc.strerror or exc}", where=str(path),
                         hint="pass a readable file of KEY=VALUE lines to --env-file") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise UsageError("env file line is not KEY=VALUE (dotenv syntax)",
                             where=f"{path}:{binding.original.line}",
                             hint="write KEY=VALUE, quote values with spaces or '#', comment lines with #")
    values = dotenv_values(stream=io.StringIO(text), interpolate=True)
    return {k: v for k, v in values.items() if v is not None}
