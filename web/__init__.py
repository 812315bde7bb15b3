"""`newsflow web`: the page, downloads and the read-only SQL endpoint over the warehouse."""
