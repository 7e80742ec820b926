"""Trajectory data: the dataset type, loaders for each supported format, preprocessing."""
