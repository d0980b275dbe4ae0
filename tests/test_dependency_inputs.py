"""Issue 32: which file declares a build's dependencies, decided once (packager.deps.inputs),
and the formats it may be: requirements.txt, requirements.lock, pyproject.toml, uv.lock, pylock.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from packager.deps.inputs import decide, kind_of, load
from packager.deps.profile import load_profile
from packager.errors import RequirementsError, UsageError
from packager.options import BuildOptions
from packager.source.intake import read_source

HANDLER = "def handler(payload, ctx):\n    return payload\n"
PYPROJECT = """\
[project]
name = "fn"
version = "0.1"
dependencies = [
    "demo>=1",
    "oldonly; python_version < '3.12'",
]

[dependency-groups]
extra = ["plat"]
dev = [{include-group = "extra"}, "newonly"]
"""


def _tree(root: Path, files: dict[str, str]):  # type: ignore[no-untyped-def]
    for path, text in {"handler.py": HANDLER, **files}.items():
        p = root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return read_source(root)


@pytest.mark.parametrize(("present", "chosen"), [
    (["pylock.toml", "uv.lock", "requirements.lock", "requirements.txt", "pyproject.toml"], "pylock.toml"),
    (["pylock.prod.toml", "uv.lock", "requirements.txt"], "pylock.prod.toml"),
    (["uv.lock", "requirements.lock", "requirements.txt", "pyproject.toml"], "uv.lock"),
    (["requirements.lock", "requirements.txt", "pyproject.toml"], "requirements.lock"),
    (["requirements.txt", "pyproject.toml"], "requirements.txt"),
    (["pyproject.toml"], "pyproject.toml"),
])
def test_the_precedence_puts_a_lock_before_a_declaration(tmp_path: Path, present: list[str], chosen: str) -> None:
    contents = {"pyproject.toml": PYPROJECT, "requirements.txt": "demo\n"}
    tree = _tree(tmp_path, {p: contents.get(p, "# lock\n") for p in present})
    d = decide(tree)
    assert d.source is not None and d.source.path == chosen
    assert d.source.kind == kind_of(chosen) and d.source.locked == (chosen not in ("requirements.txt",
                                                                                   "pyproject.toml"))


def test_a_pyproject_with_only_tool_settings_declares_nothing(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"pyproject.toml": "[tool.ignite]\nlevel = 6\n"})
    assert decide(tree).source is None


def test_requirements_option_overrides_the_precedence(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"requirements.txt": "demo\n", "uv.lock": "# lock\n", "reqs/prod.txt": "plat\n"})
    d = decide(tree, requested=Path("reqs/prod.txt"), source_root=tmp_path)
    assert d.source is not None and (d.source.path, d.source.kind, d.source.in_source) == \
        ("reqs/prod.txt", "requirements.txt", True)
    # an absolute path inside the source (how a config file's relative path arrives) is the same file
    d = decide(tree, requested=tmp_path / "reqs" / "prod.txt", source_root=tmp_path)
    assert d.source is not None and d.source.path == "reqs/prod.txt"
    outside = tmp_path.parent / "elsewhere.txt"
    outside.write_text("newonly\n")
    d = decide(tree, requested=outside, source_root=tmp_path)
    assert d.source is not None and d.source.in_source is False and d.source.data == b"newonly\n"
    with pytest.raises(UsageError) as err:
        decide(tree, requested=Path("nope.txt"), source_root=tmp_path)
    assert err.value.where == "--requirements"


def test_requirements_option_reaches_the_decision_through_the_options(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"requirements.txt": "demo\n", "pyproject.toml": PYPROJECT})
    opts = BuildOptions(source=tmp_path, output=tmp_path / "a.tar.gz", requirements=Path("pyproject.toml"))
    d = opts.dependency_source(tree)
    assert d.source is not None and d.source.kind == "pyproject.toml"


def test_disagreeing_declarations_are_warned_about_naming_both(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"requirements.txt": "demo>=1\nrequests\n", "pyproject.toml": PYPROJECT})
    d = decide(tree)
    assert d.source is not None and d.source.path == "requirements.txt"
    [w] = d.warnings
    assert "requirements.txt and pyproject.toml" in w and "requirements.txt is used" in w
    assert "only in requirements.txt: requests" in w and "oldonly" in w
    same = _tree(tmp_path / "same", {"requirements.txt": "demo>=1\noldonly ; python_version < '3.12'\n",
                                     "pyproject.toml": PYPROJECT})
    assert decide(same).warnings == ()


def test_group_needs_a_format_with_groups(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"requirements.txt": "demo\n"})
    with pytest.raises(UsageError) as err:
        decide(tree, groups=("dev",))
    assert err.value.where == "--group"


def test_openfaas_folder_first_then_the_root_and_locks_before_declarations(tmp_path: Path) -> None:
    files = {"function/handler.py": "def handle(logger, request):\n    return request\n",
             "function/requirements.txt": "demo\n", "requirements.txt": "sdk\n"}
    opts = BuildOptions(source=tmp_path, output=tmp_path / "a.tar.gz", convention="openfaas")
    d = opts.dependency_source(_tree(tmp_path / "a", files))
    assert d.source is not None and d.source.path == "function/requirements.txt"
    d = opts.dependency_source(_tree(tmp_path / "b", {**files, "function/pyproject.toml": PYPROJECT,
                                                      "uv.lock": "# lock\n"}))
    assert d.source is not None and d.source.path == "uv.lock"


# ------------------------------------------------------------------ pyproject.toml


def test_pyproject_dependencies_and_groups(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"pyproject.toml": PYPROJECT})
    profile = load_profile(None)
    d = decide(tree)
    assert d.source is not None
    reqs = load(d.source, profile)
    assert [(r.line, str(r.requirement)) for r in reqs.lines] == [(5, "demo>=1"),
                                                                  (6, 'oldonly; python_version < "3.12"')]
    assert [r.name for r in reqs.for_target(profile.markers)] == ["demo"]  # markers for the target
    d = decide(tree, groups=("dev",))
    assert d.source is not None
    assert [r.name for r in load(d.source, profile).lines] == ["demo", "oldonly", "plat", "newonly"]
    d = decide(tree, groups=("nope",))
    assert d.source is not None
    with pytest.raises(RequirementsError) as err:
        load(d.source, profile)
    assert "nope" in err.value.message and "dev" in (err.value.hint or "")


@pytest.mark.parametrize(("dep", "what"), [
    ("demo @ https://example.invalid/demo-1.0-py3-none-any.whl", "URL"),
    ("demo @ git+https://example.invalid/demo.git", "VCS"),
    ("demo @ file:///srv/demo", "path"),
])
def test_pyproject_refuses_urls_paths_and_vcs_with_the_line(tmp_path: Path, dep: str, what: str) -> None:
    text = f'[project]\nname = "fn"\nversion = "0.1"\ndependencies = [\n    "newonly",\n    "{dep}",\n]\n'
    tree = _tree(tmp_path, {"pyproject.toml": text})
    d = decide(tree)
    assert d.source is not None
    with pytest.raises(RequirementsError) as err:
        load(d.source, load_profile(None))
    assert err.value.where == "pyproject.toml:6" and what in err.value.message


def test_pyproject_refuses_uv_sources_outside_the_index(tmp_path: Path) -> None:
    text = ('[project]\nname = "fn"\nversion = "0.1"\ndependencies = ["demo"]\n\n'
            '[tool.uv.sources]\ndemo = { path = "../demo", editable = true }\n')
    d = decide(_tree(tmp_path, {"pyproject.toml": text}))
    assert d.source is not None
    with pytest.raises(RequirementsError) as err:
        load(d.source, load_profile(None))
    assert err.value.where == "pyproject.toml:7" and "[tool.uv.sources] demo" in err.value.message


def test_pyproject_with_dynamic_dependencies_is_refused(tmp_path: Path) -> None:
    text = '[project]\nname = "fn"\nversion = "0.1"\ndynamic = ["dependencies"]\n'
    d = decide(_tree(tmp_path, {"pyproject.toml": text}))
    assert d.source is not None
    with pytest.raises(RequirementsError) as err:
        load(d.source, load_profile(None))
    assert "dynamic" in err.value.message and err.value.where == "pyproject.toml:4"


def test_config_names_the_file_and_the_groups(tmp_path: Path) -> None:
    from packager.config import load_config

    tree = _tree(tmp_path, {"requirements.txt": "demo\n", "pyproject.toml": PYPROJECT,
                            "ignite.toml": 'requirements = "pyproject.toml"\ngroup = ["dev"]\n'})
    cfg = load_config(tmp_path)
    assert cfg.get("groups") == ("dev",)
    opts = BuildOptions(source=tmp_path, output=tmp_path / "a.tar.gz", requirements=Path(cfg.get("requirements")),
                        groups=cfg.get("groups"))
    d = opts.dependency_source(tree)
    assert d.source is not None and (d.source.path, d.source.groups) == ("pyproject.toml", ("dev",))


def test_lock_and_requirements_together_are_a_usage_error(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"requirements.txt": "demo\n"})
    lock = tmp_path / "x.lock"
    lock.write_text("")
    with pytest.raises(UsageError):
        decide(tree, requested=Path("requirements.txt"), lock=lock)
    d = decide(tree, lock=lock)
    assert d.source is not None and (d.source.kind, d.source.in_source) == ("requirements.lock", False)


def test_a_nested_dependency_file_outside_the_convention_is_named(tmp_path: Path) -> None:
    d = decide(_tree(tmp_path, {"app/requirements.txt": "demo\n"}))
    assert d.source is None
    assert d.warnings and "app/requirements.txt is not at the root" in d.warnings[0]


def test_other_tools_locks_are_named_with_the_way_to_export_them(tmp_path: Path) -> None:
    d = decide(_tree(tmp_path, {"poetry.lock": "# poetry\n", "pyproject.toml": PYPROJECT}))
    assert d.source is not None and d.source.kind == "pyproject.toml"
    assert any("poetry.lock is not read" in w and "poetry export" in w for w in d.warnings)
    with pytest.raises(UsageError) as err:
        decide(_tree(tmp_path / "b", {"pdm.lock": "# pdm\n"}), requested=Path("pdm.lock"))
    assert "pdm export" in (err.value.hint or "")
