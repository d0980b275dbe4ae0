"""Build configuration from ``ignite.toml`` or ``pyproject.toml`` ``[tool.ignite]``.

The files are looked up *on the filesystem next to the source*: in the source
directory itself, or in the directory that holds ``handler.py`` / the archive.
Nothing is ever read from inside an uploaded archive. When both exist,
``ignite.toml`` wins and ``pyproject.toml`` is not read.

Keys mirror the build flags (``max-size`` or ``max_size``, both accepted).
Relative paths (``lock``, ``requirements``, ``wheelhouse``, ``output``, ``cache-dir``) are relative to
the configuration file. Command-line flags always win; the CLI decides that with
click's ``ParameterSource``.
"""

from __future__ import annotations

from pathlib import Path

from packager.errors import ConfigError
from packager.records import field, record
from packager.tomlparser import parser

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

CONFIG_FILES = ("ignite.toml", "pyproject.toml")


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise TypeError("a non-empty string")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("true or false")
    return v


def _level(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 9:
        raise TypeError("an integer from 1 to 9")
    return v


def _size(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise TypeError('a size such as "50MB" or a number of bytes')
    return str(v)


def _strs(v: Any) -> tuple[str, ...]:
    if isinstance(v, str) and v:
        return (v,)
    if isinstance(v, list) and all(isinstance(x, str) and x for x in v):
        return tuple(v)
    raise TypeError("a string or a list of strings")


#: key -> (click parameter name, validator, is a path)
KEYS: dict[str, tuple[str, Callable[[Any], Any], bool]] = {
    "entry": ("entry", _str, False),
    "convention": ("convention", _str, False),
    "init": ("init", _str, False),
    "init-param": ("init_params", _strs, False),
    "lambda-payload": ("lambda_payload", _str, False),
    "profile": ("profile", _str, False),
    "level": ("level", _level, False),
    "max-size": ("max_size", _size, False),
    "index-url": ("index_url", _str, False),
    "extra-index-url": ("extra_index_urls", _strs, False),
    "wheelhouse": ("wheelhouses", _strs, True),
    "offline": ("offline", _bool, False),
    "cache-dir": ("cache_dir", _str, True),
    "cache-url": ("cache_url", _str, False),
    "cache-push": ("cache_push", _bool, False),
    "vendor-anyway": ("vendor_anyway", _strs, False),
    "resolver": ("resolver", _str, False),
    "compile": ("compile", _bool, False),
    "slim": ("slim", _bool, False),
    "slim-drop": ("slim_drop", _strs, False),
    "slim-keep": ("slim_keep", _strs, False),
    "sbom": ("sbom", _str, True),
    "sbom-format": ("sbom_format", _str, False),
    "lock": ("lock", _str, True),
    "requirements": ("requirements", _str, True),
    "group": ("groups", _strs, False),
    "output": ("output", _str, True),
    "python": ("python", _str, False),
    # [budget] max-growth = "10%": `ignite-pack diff --max-growth`
    "budget.max-growth": ("max_growth", _size, False),
}


@record
class Config:
    """Settings read from a configuration file, keyed by click parameter name."""

    path: Optional[Path] = None
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, param: str, default: Any = None) -> Any:
        return self.values.get(param, default)


def config_dir(source: Path) -> Path:
    """Where the configuration of *source* lives: the directory itself, else its parent."""
    source = Path(source)
    return source if source.is_dir() else (source.parent if str(source.parent) else Path("."))


def find_config(source: Path) -> Optional[Path]:
    d = config_dir(source)
    for name in CONFIG_FILES:
        p = d / name
        if p.is_file():
            if name == "pyproject.toml" and _table(p) is None:
                continue
            return p
    return None


def _read(path: Path) -> dict[str, Any]:
    tomllib = parser()
    try:
        doc: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return doc
    except UnicodeDecodeError as exc:
        raise ConfigError("not UTF-8", where=str(path), hint="save the file as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", where=str(path), hint="fix the TOML syntax") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", where=str(path)) from exc


def _table(path: Path) -> Optional[dict[str, Any]]:
    doc = _read(path)
    if path.name == "pyproject.toml":
        tool = doc.get("tool")
        t = tool.get("ignite") if isinstance(tool, dict) else None
        if t is None:
            return None
        if not isinstance(t, dict):
            raise ConfigError("[tool.ignite] must be a table", where=str(path))
        return t
    return doc


def parse_config(table: dict[str, Any], path: Path) -> Config:
    """Validate *table* (the keys of ``[tool.ignite]`` or ``ignite.toml``)."""
    where_prefix = f"{path} [tool.ignite]" if path.name == "pyproject.toml" else str(path)
    values: dict[str, Any] = {}
    flat: list[tuple[str, Any]] = []
    for raw_key, raw in table.items():
        if isinstance(raw, dict):  # a sub-table such as [tool.ignite.budget]: its keys as "budget.KEY"
            flat += [(f"{raw_key}.{k}", v) for k, v in raw.items()]
        else:
            flat.append((raw_key, raw))
    for raw_key, raw in flat:
        key = raw_key.replace("_", "-")
        spec = KEYS.get(key)
        if spec is None:
            raise ConfigError(
                f"unknown key {raw_key!r}", where=where_prefix,
                hint="known keys: " + ", ".join(sorted(KEYS)),
            )
        param, check, is_path = spec
        try:
            value = check(raw)
        except TypeError as exc:
            raise ConfigError(f"{raw_key} must be {exc}", where=f"{where_prefix}: {raw_key}") from None
        if is_path:
            value = (tuple(str(path.parent / v) for v in value) if isinstance(value, tuple)
                     else str(path.parent / value))
        values[param] = value
    return Config(path=path, values=values)


def load_config(source: Path, explicit: Optional[Path] = None) -> Config:
    """The configuration for *source* (``explicit`` replaces the lookup); empty when none exists."""
    path = Path(explicit) if explicit is not None else find_config(source)
    if path is None:
        return Config()
    if not path.is_file():
        raise ConfigError("configuration file not found", where=str(path), hint="check --config")
    table = _table(path)
    if table is None:
        raise ConfigError("no [tool.ignite] table", where=str(path), hint="add a [tool.ignite] table")
    return parse_config(table, path)
