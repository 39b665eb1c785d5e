"""affectlab.inference."""
