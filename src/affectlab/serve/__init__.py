"""affectlab.serve."""
