"""The run folder (report.json, model.pt, schema.json, vocab.parquet, config.json) and its report."""
from lightfmp.runs.folder import Run, load_run, write_run
from lightfmp.runs.report import REQUIRED_KEYS, count_params, make_report

__all__ = ["REQUIRED_KEYS", "Run", "count_params", "load_run", "make_report", "write_run"]
