"""The dashboard's embedded run store (SQLite) and result exports."""
from core.store.runs import ENV_VAR, RunInfo, RunStore, default_path

__all__ = ["ENV_VAR", "RunInfo", "RunStore", "default_path"]
