"""The results report: every run under outputs/ as one table, beside the course report's numbers.

`python -m dlproj.report` (= `make report-table`) writes outputs/report/results.{md,csv,tex},
figures/ and index.md. `callback.AggregateOnMultirunEnd` builds one per sweep as it ends.
"""

from dlproj.report.build import Report, build_report

__all__ = ["Report", "build_report"]
