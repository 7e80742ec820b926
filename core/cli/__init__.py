"""Command-line interface: one module per subcommand, registered in `core.cli.main.COMMANDS`."""
