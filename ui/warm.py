"""Imported by the worker fork server: make a forked worker start warm (no Streamlit here).

Builds the demo city (numpy only, cached by core per process) and imports the attack and defense
registries. No torch op runs here: a fork after torch has started its thread pools is unsafe.
"""
from core.attacks import registry as _attacks
from core.defenses import registry as _defenses
from core.experiments.config import RunConfig
from core.experiments.setup import load_inputs

_attacks.names()
_defenses.names()
load_inputs(RunConfig())  # the demo world, kept by core's lru_cache
