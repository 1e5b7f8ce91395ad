"""Wrappers around a transformation: when it steps, what it checks, where its hyperparameters
live."""
