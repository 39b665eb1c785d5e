"""The one exception type that affectlab raises for user-facing problems."""

from __future__ import annotations


class AffectlabError(Exception):
    """A problem the user can fix; the message says what went wrong and what to do."""
