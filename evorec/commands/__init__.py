"""CLI commands, one module per command group; each imports heavy libraries lazily."""
