"""Write the README's sample inputs: photos/ (a face, no face, a broken file) and interview.mp4.

    python docs/examples/sample_media.py [FOLDER]

The photos are scikit-image's astronaut and coffee images (public domain; installed with the test extras,
or `pip install scikit-image`); the video pans across the astronaut photo and away to the rocket, so that
some frames have no face.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from affectlab.inference.video import VideoWriter


def write_samples(folder: Path, seconds: float = 6.0, fps: float = 15.0) -> None:
    """photos/astronaut.jpg, photos/coffee.jpg, photos/broken.jpg and interview.mp4 under `folder`."""
    photos = folder / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    astronaut = data.astronaut()
    Image.fromarray(astronaut).save(photos / "astronaut.jpg", quality=92)
    Image.fromarray(data.coffee()).save(photos / "coffee.jpg", quality=92)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    frames = round(seconds * fps)
    with VideoWriter(folder / "interview.mp4", fps) as video:
        for i in range(frames):
            # a 240 x 240 window: on the face, across to the rocket (no face), and back
            phase = np.sin(np.pi * i / (frames - 1)) ** 2
            x = round(110 + phase * (272 - 110))
            video.write(np.ascontiguousarray(astronaut[0:240, x : x + 240]))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    write_samples(target)
    print(f"wrote {target / 'photos'} (3 files) and {target / 'interview.mp4'}")
