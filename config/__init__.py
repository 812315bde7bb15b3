"""Settings (config.settings) and the project config file newsflow.toml (config.project)."""
