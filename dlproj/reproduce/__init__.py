"""`make reproduce`: a study's experiments (conf/study/NAME.yaml), then the report."""

from dlproj.reproduce.cli import Section4Data, assign, main, plan, section4_data

__all__ = ["Section4Data", "assign", "main", "plan", "section4_data"]
