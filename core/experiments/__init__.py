"""Experiments: one federated run attacked by one or more attacks, defense sweeps, ablations."""
