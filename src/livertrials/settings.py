"""The workflow configuration: its schema, and the one place its defaults live.

Every key of ``config/config.yaml`` is declared in ``config.schema.yaml`` beside this module, with its
``default:``. Snakemake's ``validate()`` (workflow/rules/common.smk) fills those defaults into the
workflow's config; ``with_defaults()`` does the same for callers outside Snakemake (CLI, tests), so a
rule and a unit test see the same settings. No other module keeps a default of its own.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().with_name("config.schema.yaml")


@cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema() -> dict:
    """The configuration schema (a fresh copy: callers may change it)."""
    return copy.deepcopy(_schema())


def _fill(instance: dict, node: dict) -> dict:
    """Missing keys of ``instance`` take their schema default, recursively into objects (as Snakemake does)."""
    for key, sub in node.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and "properties" in sub:
            _fill(instance[key], sub)
    return instance


def with_defaults(config: dict | None = None) -> dict:
    """A copy of ``config`` with every missing key set to its default, validated against the schema.

    Raises jsonschema.ValidationError for an unknown key or a value of the wrong kind."""
    filled = _fill(copy.deepcopy(config or {}), _schema())
    jsonschema.validate(filled, _schema())
    return filled


def defaults() -> dict:
    """The configuration a run gets from an empty config file."""
    return with_defaults({})
