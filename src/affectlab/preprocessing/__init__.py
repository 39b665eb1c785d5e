"""affectlab.preprocessing: the one place that decodes, crops and normalises a face.

Every path that feeds a model — ``prepare`` and the raw-layout readers, training, ``evaluate``, ``predict``
(with a detector or ``--no-detect``), export's parity inputs and ``serve`` — goes through these functions, and
the settings that vary per model (:class:`Preprocess`: size, crop margin, alignment, mean, std) travel in the
model's file. The rules are in the module docstrings: :mod:`~affectlab.preprocessing.decode`,
:mod:`~affectlab.preprocessing.crop`, :mod:`~affectlab.preprocessing.normalise`,
:mod:`~affectlab.preprocessing.video`. Torch is imported only by the tensor functions.
"""

from __future__ import annotations

from affectlab.preprocessing.crop import Box, Eyes, check_box, crop_face, crop_faces, eyes_from_landmarks
from affectlab.preprocessing.decode import (
    ACCEPTED_FORMATS,
    ALPHA_BACKGROUND,
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    DecodedImage,
    ImageHeader,
    ImageProblem,
    decode_array,
    decode_bytes,
    decode_file,
    from_array,
    parse_pixel_string,
    probe,
)
from affectlab.preprocessing.faces import decode_source, load_face
from affectlab.preprocessing.normalise import normalise, normalise_tensor, normalise_unit, to_unit
from affectlab.preprocessing.spec import IMAGENET_MEAN, IMAGENET_STD, PIXEL_RULES_VERSION, Preprocess

__all__ = [
    "ACCEPTED_FORMATS",
    "ALPHA_BACKGROUND",
    "DEFAULT_MAX_PIXELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_SUFFIXES",
    "PIXEL_RULES_VERSION",
    "Box",
    "DecodedImage",
    "Eyes",
    "ImageHeader",
    "ImageProblem",
    "Preprocess",
    "check_box",
    "crop_face",
    "crop_faces",
    "decode_array",
    "decode_bytes",
    "decode_file",
    "decode_source",
    "eyes_from_landmarks",
    "from_array",
    "load_face",
    "normalise",
    "normalise_tensor",
    "normalise_unit",
    "parse_pixel_string",
    "probe",
    "to_unit",
]
