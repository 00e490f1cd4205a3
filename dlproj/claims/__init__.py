"""The course report's claims judged from the runs (the `claims:` of conf/study/, read by
dlproj/config/study.py): for each pair of arms a claim orders, the effect, its 95% interval over
seeds (Welch's t, scipy), n per arm, a verdict in words and the seeds per arm the effect would
need for 80% power. The report (dlproj/report/build.py) calls it on the runs it has read.

    arms.py    which runs each arm compares, and each run's value of what the claim measures
    judge.py   the statistics and the verdicts: a row per claim and pair of arms
    write.py   claims.md, claims.csv and the figure (drawn by dlproj/plots/claims.py)
"""
