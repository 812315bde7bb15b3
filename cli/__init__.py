"""The `newsflow` command line (cli.app)."""
