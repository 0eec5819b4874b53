"""study.yaml: the JSON-schema check and the cross-references it cannot express, in words a reviewer can act on.

The schema is ``src/livertrials/validate/schemas/study.schema.yaml``.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from livertrials.io.extraction import StudyFolder
from livertrials.io.text import character_hint, quoted, shorten
from livertrials.validate import risk_of_bias
from livertrials.validate.cross_field import validate_groups
from livertrials.validate.issues import Issue

STUDY_SCHEMA = Path(__file__).resolve().parent / "schemas" / "study.schema.yaml"


@lru_cache(maxsize=1)
def study_schema() -> dict:
    return yaml.safe_load(STUDY_SCHEMA.read_text(encoding="utf-8"))


def groups(meta: dict, key: str) -> list[dict]:
    """The mappings listed under ``arms`` or ``contrasts``; anything else (reported by the schema) is skipped."""
    value = meta.get(key)
    return [g for g in value if isinstance(g, dict)] if isinstance(value, list) else []


def group_ids(meta: dict, key: str) -> list[str]:
    return [g["id"] for g in groups(meta, key) if isinstance(g.get("id"), str)]


_TYPE_WORDS = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true, false",
               "null": "null", "array": "a list", "object": "a mapping (key: value)"}
_ID_FORMS = {
    "id": "must start with a letter or digit and contain only letters, digits, '_', '.' and '-' (at most 80 characters; "
          "no spaces or slashes)",
    "arms.id": "must start with a lower-case letter and contain only lower-case letters, digits and '_' (at most 40 characters)",
}
_ID_FORMS["contrasts.id"] = _ID_FORMS["arms.id"]


def _found(value) -> str:
    kind = {str: "text", bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "a mapping"}
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return "null" if value is None else f"{kind.get(type(value), type(value).__name__)}: {shown}"


def _words(types) -> str:
    words = ", ".join(_TYPE_WORDS.get(t, t) for t in ([types] if isinstance(types, str) else types))
    head, _, last = words.rpartition(", ")
    return f"{head} or {last}" if head else last


def _quote_hint(path: list[str], instance, expected) -> str:
    """Why YAML read a value as something other than text, and how to keep it text (``country: NO`` is false);
    for text where a number belongs, the characters that kept it from being one."""
    if isinstance(instance, str):  # e.g. a size typed with Arabic-Indic digits is read as text
        hint = character_hint(instance)
        return f" ({hint})" if hint else ""
    if "string" not in ([expected] if isinstance(expected, str) else expected) or isinstance(instance, (list, dict)) \
            or instance is None:
        return ""
    key = next((p for p in reversed(path) if not p.isdigit()), "key")
    if isinstance(instance, bool):
        return (f"; YAML reads an unquoted yes, no, on, off, true or false (in any case) as true/false: put the text in "
                f'quotes, e.g. {key}: "{"NO" if instance is False else "YES"}"')
    return f'; YAML reads the unquoted value as {_found(instance).split(":")[0]}: put it in quotes, e.g. {key}: "{instance}"'


def _schema_issues(error: jsonschema.ValidationError) -> list[tuple[str, str, str]]:
    """(column, value, message) for one schema violation, in words a reviewer can act on."""
    path = [str(p) for p in error.path]
    column = ".".join(path)
    where = quoted(column) if column else "study.yaml"
    instance, expected = error.instance, error.validator_value
    value = "" if isinstance(instance, (dict, list)) else str(instance)
    if error.validator == "required" and isinstance(instance, dict):
        return [(".".join(path + [k]), "", f"required key {k!r} is missing in {where}")
                for k in expected if k not in instance]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        issues = []
        for key in instance:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
            issues.append((".".join(path + [str(key)]), "", f"unknown key '{shorten(str(key))}' in {where} is not part of the format ({hint})"))
        return issues
    if error.validator == "type":
        return [(column, value, f"{where} must be {_words(expected)}; found {_found(instance)}{_quote_hint(path, instance, expected)}")]
    if error.validator == "enum":
        allowed = ", ".join("null" if v is None else str(v) for v in expected)
        return [(column, value, f"{quoted(instance)} is not one of the allowed values for {where}: {allowed}")]
    if error.validator == "pattern":
        form = _ID_FORMS.get(column) or _ID_FORMS.get(".".join(p for p in path if not p.isdigit()))
        hint = character_hint(instance)
        return [(column, value, f"{where} {form or 'does not have the required form ' + expected}: found {quoted(instance)}"
                                + (f" ({hint})" if hint else ""))]
    if error.validator == "oneOf":
        types = [t for option in expected for t in ([option.get("type")] if isinstance(option.get("type"), str) else option.get("type", []))]
        return [(column, value, f"{where} must be {_words(types)}; found {_found(instance)}")]
    if error.validator == "minItems":
        return [(column, value, f"{where} must list at least {'one entry' if expected == 1 else f'{expected} entries'}")]
    if error.validator == "minLength":
        return [(column, value, f"{where} must not be empty")]
    if error.validator == "minimum":
        return [(column, value, f"{where} must be at least {expected}, not {quoted(instance)}")]
    if error.validator == "maximum":
        return [(column, value, f"{where} must be at most {expected:,}, not {quoted(instance)}")]
    return [(column, value, error.message)]


def validate_study_meta(study: StudyFolder) -> list[Issue]:
    file = str(study.folder / "study.yaml")
    issues = []
    validator = jsonschema.Draft202012Validator(study_schema(), registry=risk_of_bias.schema_registry())
    for error in sorted(validator.iter_errors(study.meta), key=lambda e: [str(p) for p in e.path]):
        for column, value, message in _schema_issues(error):
            issues.append(Issue(study.study_id, file, None, "", column, value, "study.yaml schema", message))
    study_id = study.meta.get("id")
    if isinstance(study_id, str) and study_id != study.folder.name:  # a missing or non-text id is a schema error
        hint = character_hint(study_id)
        issues.append(Issue(study.study_id, file, None, "", "id", study_id, "id matches folder",
                            f"id must equal the folder name {quoted(study.folder.name)}" + (f" ({hint})" if hint else "")))
    arm_ids = group_ids(study.meta, "arms")
    contrast_ids = group_ids(study.meta, "contrasts")
    seen = set()
    for group_id in arm_ids + contrast_ids:
        if group_id in seen:
            issues.append(Issue(study.study_id, file, None, "", "arms", group_id, "unique arm ids",
                                f"arm or contrast id {quoted(group_id)} is used twice"))
        seen.add(group_id)
    for contrast in groups(study.meta, "contrasts"):
        refs = contrast.get("intervention")
        refs = [refs] if isinstance(refs, str) else refs if isinstance(refs, list) else []  # other types: schema error
        control = contrast.get("control")
        for ref in refs + ([control] if isinstance(control, str) and control else []):
            if ref not in arm_ids:
                issues.append(Issue(study.study_id, file, None, "", f"contrasts.{contrast.get('id')}", str(ref),
                                    "contrast refers to an arm", f"contrast refers to unknown arm {quoted(ref)}"))
    issues += validate_groups(study.meta, study.study_id, file)
    issues += risk_of_bias.validate_risk_of_bias(study.meta, study.study_id, file)
    return issues
