"""environment.yml (conda users) stays in step with the package's dependencies."""

import re
import tomllib

import yaml
from conftest import ROOT


def names(requirements):
    return {re.split(r"[<>=\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_environment_yml_lists_every_package_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = names(project["dependencies"])
    for group in ("test", "lint"):   # the conda environment is for development too: tests and style checks
        wanted |= names(project["optional-dependencies"][group])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = names(d for d in env["dependencies"] if isinstance(d, str))
    assert wanted <= listed, f"missing from environment.yml: {sorted(wanted - listed)}"
    assert any(isinstance(d, dict) and "-e ." in d.get("pip", []) for d in env["dependencies"])
