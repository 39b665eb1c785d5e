"""affectlab.reports."""
