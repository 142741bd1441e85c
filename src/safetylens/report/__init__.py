"""Reports, comparisons and replays of runs.

The paper's tables with CIs and reference rows, a self-contained HTML report with plots, a
methodology section generated from the manifests, paired comparison of runs, and replay of a run.
"""

from safetylens.report.build import FORMATS, Report, build_report, report_from_dirs, write_report
from safetylens.report.load import LoadedRun, load_run, load_runs

__all__ = [
    "FORMATS",
    "LoadedRun",
    "Report",
    "build_report",
    "load_run",
    "load_runs",
    "report_from_dirs",
    "write_report",
]
