"""Files written whole or not at all: a reader sees the old content or the new one, never half."""
