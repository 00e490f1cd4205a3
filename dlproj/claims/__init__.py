"""The course report's claims (the `claims:` of conf/study/) judged from the runs the report has
read: which runs each arm compares (arms.py), the effect, its interval and verdict (judge.py), and
claims.md, claims.csv and the figure (write.py)."""
