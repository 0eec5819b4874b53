"""The configuration in one place: the schema's defaults, config/config.yaml and config/README.md agree.

Kept in step as PyPSA-Eur keeps its config, docs and schema: a key added to one and not the others
fails here.
"""

from __future__ import annotations

import re

import jsonschema
import pytest
import yaml
from conftest import ROOT

from livertrials.settings import defaults, schema, with_defaults

CONFIG = ROOT / "config" / "config.yaml"
README = ROOT / "config" / "README.md"


def schema_keys(node: dict, prefix: str = "") -> dict[str, dict]:
    """Every configurable key as a dotted path -> its schema. An object whose default is given whole
    (e.g. synthesis.subgroups) is one key: its members are examples, not settings of their own."""
    keys = {}
    for name, sub in node.get("properties", {}).items():
        path = prefix + name
        if "properties" in sub and sub.get("default") == {}:
            keys.update(schema_keys(sub, path + "."))
        else:
            keys[path] = sub
    return keys


def config_keys(value: dict, prefix: str = "", known: set[str] = frozenset()) -> set[str]:
    keys = set()
    for name, sub in value.items():
        path = prefix + name
        if isinstance(sub, dict) and path not in known:
            keys |= config_keys(sub, path + ".", known)
        else:
            keys.add(path)
    return keys


def readme_rows() -> dict[str, str]:
    """`key` -> the default column of the tables in config/README.md."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[a-z0-9_.]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1]
    return rows


KEYS = schema_keys(schema())


def test_every_key_has_a_default_and_a_description():
    for path, sub in KEYS.items():
        assert "default" in sub, f"{path}: no default in the schema"
        assert sub.get("description"), f"{path}: no description in the schema"


def _closed(node: dict, path: str = "config") -> None:
    if node.get("type") == "object" and "properties" in node:
        assert node.get("additionalProperties") is False, f"{path}: unknown keys must be errors"
    for name, sub in node.get("properties", {}).items():
        _closed(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        _closed(node["items"], f"{path}[]")


def test_unknown_keys_are_errors_at_every_depth():
    _closed(schema())
    with pytest.raises(jsonschema.ValidationError):
        with_defaults({"synthesis": {"unknown": 1}})
    with pytest.raises(jsonschema.ValidationError):
        with_defaults({"forest": {"max_rows": "many"}})


def test_shipped_config_lists_every_key_and_nothing_else():
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    jsonschema.validate(config, schema())
    assert config_keys(config, known=set(KEYS)) == set(KEYS)


def test_readme_documents_every_key_with_the_schema_default():
    rows = readme_rows()
    assert set(rows) == set(KEYS), f"only in README: {set(rows) - set(KEYS)}; undocumented: {set(KEYS) - set(rows)}"
    for path, sub in KEYS.items():
        default = sub["default"]
        if isinstance(default, (bool, int, float, str)) and not isinstance(default, (list, dict)):
            shown = yaml.safe_dump(default).splitlines()[0].strip("'\"") if not isinstance(default, str) else default
            assert shown in rows[path], f"{path}: README default {rows[path]!r} does not show the schema's {default!r}"


def test_empty_config_takes_every_default_and_a_given_key_wins():
    filled = defaults()
    assert config_keys(filled, known=set(KEYS)) == set(KEYS)
    assert filled["forest"]["max_rows"] == KEYS["forest.max_rows"]["default"]
    mine = with_defaults({"forest": {"max_rows": 5}})
    assert mine["forest"]["max_rows"] == 5
    assert mine["forest"]["measures"] == KEYS["forest.measures"]["default"]
    # a whole-object default is not merged key by key: the reviewer's subgroups replace the defaults
    assert with_defaults({"synthesis": {"subgroups": {"route": {}}}})["synthesis"]["subgroups"] == {"route": {}}
