"""Which registry a command outside the workflow uses, found from any working directory.

Snakemake runs in the project root, so the config's relative paths (``registry:
resources/registry/outcomes.yaml``) resolve there. A command run elsewhere (``livertrials validate
~/review/resources/studies/X`` from the home folder) finds the project the same way: a config file
given with ``--config``, else ``config/config.yaml`` in the working directory or in a study folder's
ancestors; the config's ``registry`` is then taken relative to the project root, the folder holding
``config/``. No registry is packaged with livertrials (the package data holds only schemas), so
without a config or ``--registry`` the answer is an error that says what to pass.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from livertrials.io.registry import Registry, load_registry
from livertrials.io.text import quoted
from livertrials.settings import defaults

CONFIG_FILE = Path("config") / "config.yaml"


class ProjectError(Exception):
    """A registry or config that cannot be found or read: one line for the user, no traceback."""


def project_root(config: Path) -> Path:
    """The folder relative paths of ``config`` are taken from: the one holding ``config/``, else the file's own."""
    config = Path(config).resolve()
    return config.parent.parent if config.parent.name == CONFIG_FILE.parent.name else config.parent


def find_config(folder: Path, cwd: Path) -> Path | None:
    """config/config.yaml in ``cwd``, else in ``folder`` or its nearest ancestor that has one."""
    folder = Path(folder).resolve()
    for base in [Path(cwd).resolve(), folder, *folder.parents]:
        if (base / CONFIG_FILE).is_file():
            return base / CONFIG_FILE
    return None


def registry_from_config(config: Path) -> Path:
    """The ``registry`` of a config file (its default if the key is left out), relative to its project root."""
    config = Path(config)
    if not config.is_file():
        raise ProjectError(f"config file {config} does not exist")
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProjectError(f"config file {config} cannot be read: {first}") from None
    if not isinstance(data, dict):
        raise ProjectError(f"config file {config} must be a mapping of keys to values")
    registry = data.get("registry", defaults()["registry"])
    if not isinstance(registry, str) or not registry.strip():
        raise ProjectError(f"config file {config}: registry must be a path, not {quoted(registry)}")
    path = Path(registry).expanduser()
    return path if path.is_absolute() else project_root(config) / path


def locate_registry(folder: Path, registry: str | None = None, config: str | None = None, cwd: Path | None = None) -> Path:
    """The outcome registry to validate ``folder`` with: ``registry`` as given, else the one of ``config``, else
    the one of the config found from ``cwd`` or ``folder``. Raises ProjectError if there is none or it is missing."""
    if registry:
        path, said = Path(registry).expanduser(), "--registry"
    else:
        found = Path(config) if config else find_config(folder, cwd or Path.cwd())
        if found is None:
            raise ProjectError(
                f"no registry for {folder}: no {CONFIG_FILE} in the working directory or above the study folder; "
                "pass --registry resources/registry/outcomes.yaml or --config PROJECT/config/config.yaml")
        path, said = registry_from_config(found), f"registry in {found}"
    if not path.is_file():
        raise ProjectError(f"the outcome registry {path} ({said}) does not exist")
    return path


def project_registry(folder: Path, registry: str | None = None, config: str | None = None) -> Registry:
    """The registry locate_registry finds, loaded; a file that cannot be read is a ProjectError too."""
    path = locate_registry(folder, registry, config)
    try:
        return load_registry(path.resolve())
    except Exception as error:  # noqa: BLE001 - any broken registry file: one line for the user, not a traceback
        first = str(error).splitlines()[0] if str(error) else ""
        raise ProjectError(f"the outcome registry {path} cannot be read: {type(error).__name__}: {first}") from None
