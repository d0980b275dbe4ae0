"""``@record`` (packager.records) behaves as ``@dataclass(frozen=True)`` for everything the packager
uses: each test declares the same class body with both and compares what they do."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from typing import Any, ClassVar, Optional

import pytest

from packager import records
from packager.records import FrozenRecordError, record


class _Spec:
    """A field declared with ``field(**kwargs)``: built by records.field or dataclasses.field."""

    # (dataclasses finds a ClassVar in a string annotation only where this module imports it)
    kind: ClassVar[str] = "field"

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def _pair(*specs: tuple[str, Any], annotation: str = "Any") -> tuple[type, type]:
    """The same class body declared with @record and with @dataclass(frozen=True)."""
    def body(make_field: Any) -> dict[str, Any]:
        ns: dict[str, Any] = {"__annotations__": {}, "__doc__": "a record", "__module__": __name__}
        for name, default in specs:
            ns["__annotations__"][name] = annotation
            if isinstance(default, _Spec):
                ns[name] = make_field(**default.kwargs)
            elif default is not _REQUIRED:
                ns[name] = default
        return ns

    return (record(type("Rec", (), body(records.field))),
            dataclasses.dataclass(frozen=True)(type("Rec", (), body(dataclasses.field))))


_REQUIRED = object()


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "value", fn(*args)
    except Exception as exc:
        return "raised", type(exc)

SHAPES = {
    "plain": (("a", _REQUIRED), ("b", "x"), ("c", None)),
    "no fields": (),
    "one field": (("a", _REQUIRED),),
    "excluded from compare": (("a", _REQUIRED), ("cache", _Spec(default=0, compare=False))),
    "hash only some": (("a", _REQUIRED), ("b", _Spec(default=1, hash=False))),
    "hidden from repr": (("a", _REQUIRED), ("secret", _Spec(default="s", repr=False))),
    "default factory": (("a", _REQUIRED), ("items", _Spec(default_factory=tuple))),
    "list factory": (("a", _REQUIRED), ("items", _Spec(default_factory=list))),
    "options without default": (("a", _Spec(compare=False)), ("b", _Spec(repr=False))),
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
        assert _outcome(hash, rec(**left)) == _outcome(hash, ref(**left))
        assert repr(rec(**left)) == repr(ref(**left))
        assert records.asdict(rec(**left)) == dataclasses.asdict(ref(**left))
        assert records.replace(rec(**left), **required) == rec(**{**left, **required})
        assert [(f.name, f.compare, f.hash, f.repr) for f in records.fields(rec)] == \
            [(f.name, f.compare, f.hash, f.repr) for f in dataclasses.fields(ref)]
        for f in dataclasses.fields(ref):  # (the class attribute a dataclass leaves, or none)
            assert getattr(rec, f.name, "none") == getattr(ref, f.name, "none"), f.name


@pytest.mark.parametrize("shape", SHAPES)
def test_a_record_takes_the_frozen_dataclass_s_arguments_and_refuses_the_same(shape: str) -> None:
    import inspect

    rec, ref = _pair(*SHAPES[shape])
    def shape_of(cls: type) -> list[tuple[str, Any, bool]]:
        return [(p.name, p.kind, p.default is p.empty) for p in inspect.signature(cls).parameters.values()]

    assert shape_of(rec) == shape_of(ref)
    names = [f.name for f in dataclasses.fields(ref)]
    positional = [10 + i for i in range(len(names))]
    assert records.asdict(rec(*positional)) == dataclasses.asdict(ref(*positional))
    for bad_args, bad_kwargs in (((), {"nope": 1}), ((*positional, 1), {})):
        with pytest.raises(TypeError):
            ref(*bad_args, **bad_kwargs)
        with pytest.raises(TypeError):
            rec(*bad_args, **bad_kwargs)


def test_a_default_factory_makes_a_new_value_for_each_record() -> None:
    rec, _ = _pair(("a", _REQUIRED), ("items", _Spec(default_factory=list)))
    one, two = rec(1), rec(1)
    assert one.items == [] and one.items is not two.items


def test_a_record_is_frozen_and_has_fields_replace_and_asdict() -> None:
    rec, _ = _pair(("a", _REQUIRED), ("b", "x"))
    r = rec(a=1)
    assert records.is_record(r) and records.is_record(rec) and not records.is_record(object())
    assert [f.name for f in records.fields(r)] == ["a", "b"]
    assert records.replace(r, b="y") == rec(1, "y")
    with pytest.raises(FrozenRecordError, match="cannot assign to field 'a'"):
        r.a = 2
    with pytest.raises(FrozenRecordError):
        r.other = 2  # (a record's own attributes are all frozen, as a frozen dataclass's)
    with pytest.raises(FrozenRecordError):
        del r.b
    assert isinstance(FrozenRecordError(), AttributeError)  # (as dataclasses.FrozenInstanceError)
    with pytest.raises(TypeError):
        rec()  # a required field
    with pytest.raises(TypeError):
        records.fields(object())
    with pytest.raises(TypeError):
        records.asdict(rec)  # (the class, not a record)


def test_what_a_frozen_dataclass_refuses_to_declare_a_record_refuses_too() -> None:
    for make_field, decorate in ((records.field, record), (dataclasses.field, dataclasses.dataclass(frozen=True))):
        with pytest.raises(ValueError):  # a mutable default
            decorate(type("R", (), {"__annotations__": {"a": "Any"}, "a": []}))
        with pytest.raises(TypeError):  # a required field after one with a default
            decorate(type("R", (), {"__annotations__": {"a": "Any", "b": "Any"}, "a": 1}))
        with pytest.raises(ValueError):
            make_field(default=1, default_factory=list)
        with pytest.raises(TypeError):  # a record's __setattr__ is its own
            decorate(type("R", (), {"__annotations__": {"a": "Any"}, "__setattr__": lambda *a: None}))


def test_class_variables_and_post_init_behave_as_in_a_dataclass() -> None:
    seen: list[Any] = []

    def post_init(self: Any) -> None:
        seen.append(self.a)
        object.__setattr__(self, "b", self.a * 2)  # (the frozen dataclass idiom)

    for decorate in (record, dataclasses.dataclass(frozen=True)):
        cls = decorate(type("R", (), {"__annotations__": {"kind": "ClassVar[str]", "a": "int", "b": "int"},
                                      "kind": "k", "b": 0, "__post_init__": post_init}))
        r = cls(3)
        assert (r.a, r.b, cls.kind) == (3, 6, "k")
        assert [f.name for f in (records.fields(cls) if decorate is record else dataclasses.fields(cls))] == ["a", "b"]
    assert seen == [3, 3]


def test_a_subclass_redeclaring_a_field_keeps_its_place() -> None:
    made = []
    for decorate in (record, dataclasses.dataclass(frozen=True)):
        base = decorate(type("Base", (), {"__annotations__": {"a": "int", "b": "int"}, "b": 1}))
        child = decorate(type("Child", (base,), {"__annotations__": {"a": "int", "c": "int"}, "a": 5, "c": 2}))
        made.append(child)
    assert [f.name for f in records.fields(made[0])] == [f.name for f in dataclasses.fields(made[1])] == ["a", "b", "c"]
    assert records.asdict(made[0]()) == dataclasses.asdict(made[1]()) == {"a": 5, "b": 1, "c": 2}


def test_a_field_redeclared_without_a_default_keeps_the_base_s_as_in_a_dataclass() -> None:
    made = []
    for decorate in (record, dataclasses.dataclass(frozen=True)):
        base = decorate(type("Base", (), {"__annotations__": {"x": "int"}, "x": 5}))
        made.append(decorate(type("Child", (base,), {"__annotations__": {"x": "int"}})))
    assert records.asdict(made[0]()) == dataclasses.asdict(made[1]()) == {"x": 5}


@pytest.mark.parametrize("annotation", ["ClassVar[int]", "typing.ClassVar[int]", "t.ClassVar", "ClassVar"])
def test_every_spelling_of_classvar_is_a_class_variable(annotation: str) -> None:
    cls = record(type("R", (), {"__annotations__": {"kind": annotation, "a": "int"}, "kind": 1}))
    assert [f.name for f in records.fields(cls)] == ["a"] and cls(2).kind == 1
    other = record(type("R", (), {"__annotations__": {"kind": "ClassVariant", "a": "int"}, "kind": 1, "a": 0}))
    assert [f.name for f in records.fields(other)] == ["kind", "a"]  # (a type that only starts so)


def test_match_args_are_the_fields_in_order() -> None:
    rec, ref = _pair(("a", _REQUIRED), ("b", "x"))
    assert rec.__match_args__ == ("a", "b")
    if sys.version_info >= (3, 10):  # (dataclasses sets them from 3.10 on, as match statements came)
        assert ref.__match_args__ == rec.__match_args__


def test_a_plain_subclass_of_a_record_may_set_its_own_attributes() -> None:
    rec, ref = _pair(("a", _REQUIRED))
    for cls, err in ((rec, FrozenRecordError), (ref, dataclasses.FrozenInstanceError)):
        sub = type("Sub", (cls,), {})
        s = sub(1)
        s.extra = 2
        assert s.extra == 2
        with pytest.raises(err):
            s.a = 3


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
    assert opts == records.replace(opts, cache_tier=object())  # (compare=False, as declared)
    assert opts != records.replace(opts, level=9)


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
