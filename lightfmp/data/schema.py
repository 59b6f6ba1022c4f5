"""The schema: the single source of field order, kinds and vocabulary sizes.

Every field is encoded to local integer ids ``0 .. vocab_size-1`` with two reserved ids:
``OOV_ID`` (values seen fewer than ``min_count`` times, or never seen) and ``MISSING_ID``.
Models add per-field offsets themselves, so a subset of fields is a subset of columns.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lightfmp.errors import InputError

OOV_ID = 0
MISSING_ID = 1
FIRST_VALUE_ID = 2

CATEGORICAL = "categorical"
NUMERIC = "numeric"


@dataclass(frozen=True)
class FieldSpec:
    """One input field: its name, kind (categorical or numeric) and vocabulary size (reserved ids included)."""

    name: str
    kind: str
    vocab_size: int


@dataclass(frozen=True)
class Schema:
    """Ordered fields of a prepared data set, with the label name and how the data was prepared.

    ``protocol`` records the preprocessing (bucketing rule, min_count, split seed, ...) so that every
    AUC can be reported next to the protocol that produced it.
    """

    fields: tuple[FieldSpec, ...]
    label: str = "label"
    dataset: str = "unknown"
    protocol: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def vocab_sizes(self) -> list[int]:
        return [f.vocab_size for f in self.fields]

    @property
    def num_fields(self) -> int:
        return len(self.fields)

    @property
    def offsets(self) -> np.ndarray:
        """Start row of each field in one concatenated embedding table."""
        return np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)

    def index(self, keep: Sequence[int | str]) -> list[int]:
        """Field positions for names or positions, in schema order, duplicates refused."""
        names = self.names
        out = []
        for k in keep:
            if isinstance(k, str):
                if k not in names:
                    raise KeyError(f"unknown field {k!r}; fields are {names}")
                out.append(names.index(k))
            else:
                i = int(k)
                if not 0 <= i < len(names):
                    raise IndexError(f"field position {i} out of range 0..{len(names) - 1}")
                out.append(i)
        if len(set(out)) != len(out):
            raise ValueError(f"duplicate fields in {list(keep)}")
        return sorted(out)

    def subset(self, keep: Sequence[int | str]) -> "Schema":
        """A new schema with only the kept fields, in schema order."""
        idx = self.index(keep)
        return replace(self, fields=tuple(self.fields[i] for i in idx))

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "label": self.label,
            "fields": [asdict(f) for f in self.fields],
            "protocol": self.protocol,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Schema":
        return cls(
            fields=tuple(FieldSpec(**f) for f in d["fields"]),
            label=d.get("label", "label"),
            dataset=d.get("dataset", "unknown"),
            protocol=d.get("protocol", {}),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "Schema":
        """Read ``schema.json``; an unreadable, empty or malformed file is one InputError naming it
        (prepared and run folders are user files: they may be truncated or hand-edited)."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("missing (expected the schema of a prepared data or run folder)", path) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
        except UnicodeDecodeError:
            raise InputError("not a schema file (not UTF-8 text); prepare the data again", path) from None
        except json.JSONDecodeError as exc:
            what = "empty" if not path.read_bytes().strip() else f"not valid JSON ({exc.msg} at line {exc.lineno})"
            raise InputError(f"{what}; expected a schema written by lightfmp (prepare the data again)", path) from None
        try:
            schema = cls.from_dict(d)
            for f in schema.fields:
                if not isinstance(f.name, str) or f.kind not in (CATEGORICAL, NUMERIC) \
                        or not isinstance(f.vocab_size, int) or f.vocab_size < FIRST_VALUE_ID:
                    raise ValueError(f.name)
            if not isinstance(schema.protocol, dict) or not isinstance(schema.label, str):
                raise ValueError("protocol")
        except KeyError as exc:
            raise InputError(f"not a valid schema: missing key {exc}; prepare the data again", path) from None
        except (TypeError, ValueError, AttributeError):
            raise InputError("not a valid schema (malformed 'fields' or 'protocol'); prepare the data again",
                             path) from None
        return schema
