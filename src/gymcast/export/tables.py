"""CSV and Parquet: one row per event, nested fields flattened to dotted columns (`actions.player`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from gymcast.export.records import event_records
from gymcast.storage import EventStore


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}, "c": [1, 2]}` -> `{"a.b": 1, "c": "[1, 2]"}`: dicts become columns, lists JSON text."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (dict, list)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def events_table(store: EventStore, session_id: str | None = None) -> pa.Table:
    """All events as an Arrow table; a column whose values mix types is stored as JSON text."""
    rows = [flatten(record) for record in event_records(store, session_id)]
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else json.dumps(v) for v in values], type=pa.string())
    return pa.table(columns)


def export_table(store: EventStore, out: Path, fmt: str, session_id: str | None = None) -> int:
    """Write the events as `fmt` ("csv" or "parquet") to `out`; returns the number of rows."""
    table = events_table(store, session_id)
    if fmt == "csv":
        pa_csv.write_csv(table, out)
    else:
        pq.write_table(table, out)
    return table.num_rows
