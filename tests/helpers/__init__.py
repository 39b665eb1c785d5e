"""Shared test helpers (doubles, image builders); see doubles.py."""
