"""The generated demo world: a Chicago-like city (`city`), a week of its residents' phone traces
(`people`), both built by `world.make_demo_world`; and `resolve.resolve_dataset`, which names a
dataset as "demo" or a file.

It sits above `core.data` and `core.geo` (it builds road networks and trajectory datasets); neither
of them imports it.
"""
from core.demo.resolve import DEMO, resolve_dataset
from core.demo.world import DemoWorld, make_demo_city, make_demo_world

__all__ = ["DEMO", "DemoWorld", "make_demo_city", "make_demo_world", "resolve_dataset"]
