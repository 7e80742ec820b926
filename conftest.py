"""pytest: the presence of this file puts the repository root on sys.path, so tests import `core`."""
