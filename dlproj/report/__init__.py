"""The results report: every run under outputs/ as one table, beside the course report's numbers.

`python -m dlproj.report` (= `make report-table`) writes outputs/report/results.{md,csv,tex},
figures/ and index.md (dlproj.report.build); `callback.AggregateOnMultirunEnd` builds one per
sweep as it ends. Nothing is imported here: a run that only loads the callback stays light.
"""
