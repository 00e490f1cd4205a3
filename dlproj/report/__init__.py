"""The results report (docs/report.md): every run under outputs/ as one table, beside the course
report's numbers. Nothing is imported here: a run that only loads the callback stays light."""
