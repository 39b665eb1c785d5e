"""What `affectlab synth` can write, by name, apart from the generators: the CLI's help and checks read
these without importing the renderer (a tenth of a second of every command's start-up)."""

from __future__ import annotations

#: AffectNet's layouts (affectlab.data.synth writes them).
LAYOUTS: tuple[str, ...] = ("repackaged", "official", "folders", "manifest")
#: Other datasets' formats (affectlab.data.synth_formats writes them).
FORMATS: tuple[str, ...] = ("rafdb", "rafdb-original", "fer2013", "ferplus", "expw")
