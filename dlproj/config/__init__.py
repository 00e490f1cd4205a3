"""Configuration: the schemas of conf/ with each group's range rules, composition, the setting
of a run and the study file. It reads no experiment: checking a config against its experiment
is the runtime's (runtime/validate.py)."""
