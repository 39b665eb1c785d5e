"""affectlab.bench."""
