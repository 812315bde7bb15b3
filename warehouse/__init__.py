"""The warehouse: its code and SQL live here; the data a run writes here is git-ignored."""
