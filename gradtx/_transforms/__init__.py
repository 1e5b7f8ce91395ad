"""Gradient transformations, one family a module."""
