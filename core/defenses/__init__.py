"""Client-side defenses (paper §4, DESIGN.md §5), each a `ClientDefense` in the registry."""
