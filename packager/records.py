"""``@record``: how the packager declares its typed values (frozen dataclasses), made cheaper to define.

``@dataclass(frozen=True)`` compiles six methods with ``exec`` while the class statement runs
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``): ~0.5 ms
per class on CPython 3.11, and a build without requirements defines 27 of them before it does
anything (issue 36 asks that build for 50 ms over the interpreter's start). ``@record`` is
``@dataclass(frozen=True, eq=False, repr=False)`` with one ``__eq__``, ``__hash__`` and
``__repr__`` shared by every record, which read the fields dataclasses recorded and follow its
rules (``compare``, ``hash`` and ``repr`` of each field; another class is NotImplemented):
~0.33 ms per class (a warm build without requirements: 340 M -> 302 M instructions, callgrind).
A record is still a dataclass: ``fields``, ``replace``, ``asdict`` and the frozen
assignment error behave as before.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from operator import attrgetter
from reprlib import recursive_repr

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    from typing_extensions import dataclass_transform

    _T = TypeVar("_T")
else:
    def dataclass_transform(**_kwargs: Any) -> Callable[[_T], _T]:
        return lambda decorated: decorated


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


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(cls: type[_T]) -> type[_T]:
    """``@dataclass(frozen=True)``, with the shared ``__eq__``, ``__hash__`` and ``__repr__`` above."""
    made = dataclass(frozen=True, eq=False, repr=False)(cls)
    declared = fields(made)  # type: ignore[arg-type]  # (a dataclass from here on)
    made.__record_compared__ = _getter(tuple(f.name for f in declared if f.compare))  # type: ignore[attr-defined]
    made.__record_hashed__ = _getter(tuple(  # type: ignore[attr-defined]
        f.name for f in declared if (f.compare if f.hash is None else f.hash)))
    made.__record_shown__ = tuple(f.name for f in declared if f.repr)  # type: ignore[attr-defined]
    for name, method in (("__eq__", _eq), ("__hash__", _hash), ("__repr__", _repr)):
        if name not in cls.__dict__:  # (a method the class defines itself is kept, as dataclass does)
            setattr(made, name, method)
    return made
