"""Configuration: the schemas of conf/ with their checks, composition, validation, the setting
of a run and the study file."""
