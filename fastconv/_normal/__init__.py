"""Validation of public calls into the normal form (the problem objects)."""
