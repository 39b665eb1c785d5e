"""affectlab.data."""
