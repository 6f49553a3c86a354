"""Helpers for testing code against LocalZure."""
