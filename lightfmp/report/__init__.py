"""Tables and figures over run folders, like the paper's Tables 2-3 and Figures 2-3; the paper's comparisons
with 95% intervals and verdicts; one self-contained HTML page of it all."""
from lightfmp.report.comparisons import all_comparisons
from lightfmp.report.grouping import method_of, settings, split_rows
from lightfmp.report.tables import load_reports, stage_times, table2, table3

__all__ = ["all_comparisons", "load_reports", "method_of", "settings", "split_rows", "stage_times", "table2", "table3"]
