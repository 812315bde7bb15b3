"""Input readers: files and folders, feeds, web pages, and HTTP fetches, into raw records (I/O)."""
