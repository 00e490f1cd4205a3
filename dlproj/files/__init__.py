"""Files a run writes: whole or not at all (atomic), and CSV logs appended row by row."""
