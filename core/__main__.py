"""Command line: `python -m core COMMAND ...` (see README)."""
from core.cli.main import main

raise SystemExit(main())
