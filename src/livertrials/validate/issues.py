"""One validation finding: file, line, row_id, column, value, rule and message."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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

    def __str__(self) -> str:
        # text from the extraction is shown with repr(): a newline in it cannot forge a report line
        where = f"line {self.row}" + (f" (row_id {self.row_id!r})" if self.row_id else "") if self.row else "file"
        column = f", column {self.column!r}" if self.column else ""
        value = f", value {self.value!r}" if self.value != "" else ""
        message = self.message.replace("\n", " ").replace("\r", " ")
        return f"{self.severity.upper()} {self.file}: {where}{column}{value}: {message} [rule: {self.rule}]"

    def to_dict(self) -> dict:
        return asdict(self)
