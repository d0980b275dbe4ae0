"""``@record``: how the packager declares its typed values (frozen, compared by value).

A record behaves as ``@dataclass(frozen=True)`` for everything the packager uses (fields with
defaults, ``field(default_factory=..., compare=..., hash=..., repr=...)``, ``__post_init__``,
subclasses, equality, hashing, repr, pickling, ``replace``, ``asdict``; tests/test_records.py
compares the two class by class), but it is not made by :mod:`dataclasses`. Measured on the
build without requirements (issue 36 asks 50 ms over the interpreter's start): importing
``dataclasses`` imports ``inspect``, ``dis``, ``tokenize`` and ``linecache`` (23 M instructions,
~6 ms), and it compiles three methods per class with ``exec`` while the class statement runs
(~0.45 ms per class; that build defines 27). Here a class costs one small ``exec`` for its
``__init__`` (~50 µs); ``__setattr__``, ``__delattr__``, ``__eq__``, ``__hash__`` and
``__repr__`` are shared functions that read the class's :class:`Field` tuple. Measured with
callgrind: defining 27 four-field classes 68 M -> 16 M instructions; a warm build without
requirements 286 M -> 217 M (``python -c pass``: 90 M).
"""

from __future__ import annotations

import re
from operator import attrgetter
from reprlib import recursive_repr

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, TypeVar

    from typing_extensions import dataclass_transform

    _T = TypeVar("_T")
else:
    def dataclass_transform(**_kwargs: Any) -> Callable[[_T], _T]:
        return lambda decorated: decorated


class _Missing:
    """No default (a sentinel, as ``dataclasses.MISSING``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenRecordError(AttributeError):
    """A field of a record was assigned or deleted (``dataclasses.FrozenInstanceError``'s role)."""


class Field:
    """One declared field: its name, default and whether it takes part in ``==``, hash and repr."""

    __slots__ = ("compare", "default", "default_factory", "hash", "name", "repr")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, compare: bool = True,
                 hash: Optional[bool] = None, repr: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.hash = hash
        self.repr = repr

    def __repr__(self) -> str:
        return (f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r}, "
                f"compare={self.compare!r}, hash={self.hash!r}, repr={self.repr!r})")


def field(*, default: Any = MISSING, default_factory: Any = MISSING, compare: bool = True,
          hash: Optional[bool] = None, repr: bool = True) -> Any:
    """A field's default and options, as ``dataclasses.field`` takes them."""
    return Field(default, default_factory, compare, hash, repr)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record (class or instance), in declaration order, bases' first."""
    try:
        return obj.__record_fields__  # type: ignore[no-any-return]
    except AttributeError:
        raise TypeError(f"{obj!r} is not a record") from None


def is_record(obj: Any) -> bool:
    return hasattr(obj, "__record_fields__")


def replace(obj: _T, **changes: Any) -> _T:
    """A copy of the record *obj* with *changes* (its class's ``__init__`` checks them)."""
    for f in fields(obj):
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)  # type: ignore[no-any-return]


def asdict(obj: Any) -> dict[str, Any]:
    """The record *obj* as a dict, records inside it too (as ``dataclasses.asdict``)."""
    if not is_record(obj) or isinstance(obj, type):
        raise TypeError("asdict() should be called on record instances")
    return _plain(obj)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if is_record(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in value.__record_fields__}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(_plain(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_plain(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return value
    import copy

    return copy.deepcopy(value)


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of the attributes *names* of an object (attrgetter gives a bare value for one)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return lambda obj: ()


def _eq(self: Any, other: object) -> Any:
    cls: Any = type(self)
    key = cls.__record_compared__  # (read from the class: a lambda there is not bound)
    if other.__class__ is not cls:
        return NotImplemented
    return key(self) == key(other)


def _hash(self: Any) -> int:
    cls: Any = type(self)
    return hash(cls.__record_hashed__(self))


@recursive_repr()
def _repr(self: Any) -> str:
    names = self.__class__.__record_shown__
    return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"


def _frozen(self: Any, name: str) -> bool:
    """As a frozen dataclass: a record's own attributes are all frozen, a plain subclass's only its fields."""
    cls = type(self)
    return "__record_fields__" in cls.__dict__ or name in cls.__record_names__


def _setattr(self: Any, name: str, value: Any) -> None:
    if _frozen(self, name):
        raise FrozenRecordError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _delattr(self: Any, name: str) -> None:
    if _frozen(self, name):
        raise FrozenRecordError(f"cannot delete field {name!r}")
    object.__delattr__(self, name)


_FACTORY = object()  # (the default of a field with a default_factory, in the generated __init__)


def _declared(cls: type) -> list[Field]:
    """The fields *cls* declares itself, from its annotations (ClassVar ones are not fields)."""
    out: list[Field] = []
    # (the class's own annotations: on 3.9 ``cls.__annotations__`` can be a base's)
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        text = annotation if isinstance(annotation, str) else repr(annotation)
        if _CLASSVAR.match(text):
            continue
        value = getattr(cls, name, MISSING)  # (a base's default too, as dataclasses reads it)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name = name
        if isinstance(f.default, (list, dict, set)):
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: use default_factory")
        if isinstance(value, Field):  # the class keeps the default itself, as dataclasses leaves it
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        out.append(f)
    return out


#: ``ClassVar``, ``ClassVar[...]``, ``typing.ClassVar[...]``, ``t.ClassVar``, as written or as
#: typing shows it: class variables, never fields (dataclasses decides it from the same text).
_CLASSVAR = re.compile(r"(?:[A-Za-z_][\w.]*\.)?ClassVar(?:\[|$)")


def _make_init(cls: type, all_fields: tuple[Field, ...]) -> Any:
    """``__init__(self, a, b=<default>, ...)`` for these fields: one small compile per class."""
    params, body = [], []
    ns: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    seen_default = False
    for i, f in enumerate(all_fields):
        if f.default is not MISSING:
            ns[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
            seen_default = True
        elif f.default_factory is not MISSING:
            ns[f"_f{i}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            body.append(f"    if {f.name} is _FACTORY: {f.name} = _f{i}()")
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            params.append(f.name)
        body.append(f"    _set(self, {f.name!r}, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    src = f"def __init__(self{''.join(', ' + p for p in params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(compile(src, f"<record {cls.__qualname__}>", "exec"), ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(cls: type[_T]) -> type[_T]:
    """Make *cls* a record: ``__init__`` from its annotated fields, frozen, compared by value."""
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("__record_fields__", ()):
            inherited[f.name] = f
    for f in _declared(cls):
        inherited[f.name] = f  # (a redeclared field keeps its base's place, as in dataclasses)
    all_fields = tuple(inherited.values())
    made: Any = cls
    made.__record_fields__ = all_fields
    made.__record_names__ = frozenset(inherited)
    made.__record_compared__ = _getter(tuple(f.name for f in all_fields if f.compare))
    made.__record_hashed__ = _getter(tuple(f.name for f in all_fields if (f.compare if f.hash is None else f.hash)))
    made.__record_shown__ = tuple(f.name for f in all_fields if f.repr)
    setattr(made, "__match_args__", tuple(f.name for f in all_fields))  # noqa: B010  (mypy refuses the assignment)
    if "__init__" not in cls.__dict__:
        made.__init__ = _make_init(cls, all_fields)
    frozen: tuple[tuple[str, Any], ...] = (("__setattr__", _setattr), ("__delattr__", _delattr))
    for name, method in frozen:
        if name in cls.__dict__:
            raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
        setattr(made, name, method)
    shared: tuple[tuple[str, Any], ...] = (("__eq__", _eq), ("__hash__", _hash), ("__repr__", _repr))
    for name, method in shared:
        if name not in cls.__dict__:  # (a method the class defines itself is kept, as dataclass does)
            setattr(made, name, method)
    return cls
