"""Federated next-location training: client data windows, one round loop, aggregation."""
