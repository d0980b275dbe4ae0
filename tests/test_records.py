"""``@record`` (packager.records) behaves as ``@dataclass(frozen=True)`` for everything the packager uses."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import field
from typing import Any, Optional

import pytest

from packager.records import record


def _pair(*specs: tuple[str, Any]) -> tuple[type, type]:
    """The same class body declared with @record and with @dataclass(frozen=True)."""
    def body() -> dict[str, Any]:
        ns: dict[str, Any] = {"__annotations__": {}, "__doc__": "a record", "__module__": __name__}
        for name, default in specs:
            ns["__annotations__"][name] = "Any"
            if default is not _REQUIRED:
                ns[name] = default
        return ns

    return record(type("Rec", (), body())), dataclasses.dataclass(frozen=True)(type("Rec", (), body()))


_REQUIRED = object()

SHAPES = {
    "plain": (("a", _REQUIRED), ("b", "x"), ("c", None)),
    "no fields": (),
    "one field": (("a", _REQUIRED),),
    "excluded from compare": (("a", _REQUIRED), ("cache", field(default=0, compare=False))),
    "hash only some": (("a", _REQUIRED), ("b", field(default=1, hash=False))),
    "hidden from repr": (("a", _REQUIRED), ("secret", field(default="s", repr=False))),
    "default factory": (("a", _REQUIRED), ("items", field(default_factory=tuple))),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_a_record_compares_hashes_and_shows_as_the_frozen_dataclass(shape: str) -> None:
    rec, ref = _pair(*SHAPES[shape])
    required = {f.name: 1 for f in dataclasses.fields(ref)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    variants: list[dict[str, Any]] = [required, *({**required, f.name: 2} for f in dataclasses.fields(ref))]
    for left in variants:
        for right in variants:
            assert (rec(**left) == rec(**right)) == (ref(**left) == ref(**right)), (left, right)
            assert (rec(**left) != rec(**right)) == (ref(**left) != ref(**right))
        assert hash(rec(**left)) == hash(ref(**left))
        assert repr(rec(**left)) == repr(ref(**left))
        assert dataclasses.asdict(rec(**left)) == dataclasses.asdict(ref(**left))


def test_a_record_is_a_frozen_dataclass() -> None:
    rec, _ = _pair(("a", _REQUIRED), ("b", "x"))
    r = rec(a=1)
    assert dataclasses.is_dataclass(r)
    assert [f.name for f in dataclasses.fields(r)] == ["a", "b"]
    assert dataclasses.replace(r, b="y") == rec(1, "y")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.a = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del r.b
    with pytest.raises(TypeError):
        rec()  # a required field


def test_another_class_is_never_equal_even_with_the_same_fields() -> None:
    rec, ref = _pair(("a", _REQUIRED))
    other, _ = _pair(("a", _REQUIRED))
    assert rec(1) != ref(1) and rec(1) != other(1) and rec(1) != (1,)
    assert rec(1).__eq__(other(1)) is NotImplemented


def test_an_unhashable_value_makes_the_record_unhashable_as_a_dataclass() -> None:
    rec, ref = _pair(("a", _REQUIRED))
    for cls in (rec, ref):
        with pytest.raises(TypeError):
            hash(cls([]))


def test_a_recursive_repr_does_not_recurse_forever() -> None:
    rec, _ = _pair(("items", _REQUIRED))
    box: list[Any] = []
    r = rec(box)
    box.append(r)
    assert repr(r) == "Rec(items=[...])"


def test_a_subclass_record_has_its_own_fields_and_methods() -> None:
    @record
    class Base:
        """base"""
        a: int

    @record
    class Child(Base):
        """child"""
        b: Optional[int] = None

    assert repr(Child(1, 2)) == "test_a_subclass_record_has_its_own_fields_and_methods.<locals>.Child(a=1, b=2)"
    assert Child(1, 2) == Child(1, 2) and Child(1, 2) != Child(1, 3)
    assert Base(1) != Child(1)  # (another class)


def test_a_method_the_class_defines_itself_is_kept() -> None:
    @record
    class Shown:
        """shown"""
        a: int

        def __repr__(self) -> str:
            return "mine"

    assert repr(Shown(1)) == "mine" and Shown(1) == Shown(1)


def test_the_packager_s_records_pickle_and_compare_as_before() -> None:
    from packager.artifact.manifest import FileRecord
    from packager.options import BuildOptions

    rec = FileRecord("a.py", 3, 0o644, "0" * 64)
    assert pickle.loads(pickle.dumps(rec)) == rec and hash(rec) == hash(FileRecord("a.py", 3, 0o644, "0" * 64))
    from pathlib import Path

    opts = BuildOptions(source=Path("src"), output=Path("out.tar.gz"))
    assert opts == dataclasses.replace(opts, cache_tier=object())  # (compare=False, as declared)
    assert opts != dataclasses.replace(opts, level=9)


def test_the_packager_declares_its_frozen_values_with_record() -> None:
    """A new ``@dataclass(frozen=True)`` would bring back the three compiled methods per class."""
    import re
    from pathlib import Path

    import packager

    root = Path(packager.__file__).parent
    found = [f"{p.relative_to(root)}:{n}" for p in sorted(root.rglob("*.py"))
             for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
             if re.match(r"\s*@(dataclasses\.)?dataclass\(.*frozen=True", line)]
    assert found == [], "use @record (packager.records) for a frozen dataclass: " + ", ".join(found)
