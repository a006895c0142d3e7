"""Dataset export from the event store: JSONL, CSV, Parquet, and Minari (observations rebuilt by replay)."""

from gymcast.export.records import event_record, export_jsonl

FORMATS = ("jsonl", "csv", "parquet", "minari")

__all__ = ["FORMATS", "event_record", "export_jsonl"]
