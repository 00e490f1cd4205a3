"""What every run shares: its directory, metrics CSVs, atomic files, progress and final record."""
