"""One validation finding: file, line, row_id, column, value, rule and message."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from livertrials.io.text import SHOWN_LIMIT, shorten

MESSAGE_LIMIT = 1000  # messages show values cut to 80 characters; this only bounds what no rule foresaw


@dataclass(frozen=True)
class Issue:
    study: str
    file: str
    row: int | None  # line in the file (1 = header), None for the whole file
    row_id: str
    column: str
    value: str
    rule: str
    message: str
    severity: str = "error"  # error rejects the study; warning becomes a flag

    def __post_init__(self):
        # text from the extraction is kept bounded: one absurd cell cannot flood the report
        for name, limit in (("row_id", SHOWN_LIMIT), ("column", SHOWN_LIMIT), ("value", SHOWN_LIMIT), ("message", MESSAGE_LIMIT)):
            text = getattr(self, name)
            if isinstance(text, str) and len(text) > limit:
                object.__setattr__(self, name, shorten(text, limit))

    def __str__(self) -> str:
        # text from the extraction is shown with repr(): a newline in it cannot forge a report line
        where = f"line {self.row}" + (f" (row_id {self.row_id!r})" if self.row_id else "") if self.row else "file"
        column = f", column {self.column!r}" if self.column else ""
        value = f", value {self.value!r}" if self.value != "" else ""
        message = self.message.replace("\n", " ").replace("\r", " ")
        return f"{self.severity.upper()} {self.file}: {where}{column}{value}: {message} [rule: {self.rule}]"

    def to_dict(self) -> dict:
        return asdict(self)


def unexpected_error(study: str, file, doing: str, error: BaseException) -> Issue:
    """The error Issue of a study on which something no rule foresaw went wrong (a bug, or input no rule covers)."""
    detail = shorten(f"{type(error).__name__}: {error}".replace("\n", " "), 300)
    return Issue(study, str(file), None, "", "", "", "internal error",
                 f"the pipeline failed while {doing} ({detail}); the study is excluded and every other study is "
                 "still built; please report it")
