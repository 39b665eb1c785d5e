"""Predictor on real photos and a generated video, with a tiny stand-in model (PyTorch and ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.inference import FaceResult, Predictor
from affectlab.inference.backends import OnnxBackend
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.preprocessing import Preprocess
from helpers.doubles import FACE_KEYS


def test_predict_image_finds_one_face_with_valid_outputs(standin_predictor: Predictor, astronaut) -> None:
    (face,) = standin_predictor.predict_image(astronaut)
    assert isinstance(face, FaceResult)
    assert list(face.probabilities) == list(AFFECTNET_CLASSES)
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    assert face.expression == max(face.probabilities, key=face.probabilities.get)
    assert -1 <= face.valence <= 1 and -1 <= face.arousal <= 1
    assert face.source == "<array>" and face.frame == 0 and face.face == 0 and face.score > 0.9
    d = face.to_dict()
    assert set(d) == FACE_KEYS  # track is None for photos; logits only when kept
    assert len(d["box"]) == 4


def test_no_face_gives_no_results(standin_predictor: Predictor, coffee) -> None:
    assert standin_predictor.predict_image(coffee) == []


def test_no_detect_uses_the_whole_image(standin_predictor: Predictor, coffee) -> None:
    (face,) = standin_predictor.predict_image(coffee, detect=False)
    assert face.box == (0.0, 0.0, 600.0, 400.0) and face.score == 1.0


def test_predict_image_from_path_and_bad_path(standin_predictor: Predictor, photo_folder: Path) -> None:
    (face,) = standin_predictor.predict_image(photo_folder / "astronaut.png")
    assert face.source.endswith("astronaut.png")
    with pytest.raises(AffectlabError, match="broken.jpg"):
        standin_predictor.predict_image(photo_folder / "sub" / "broken.jpg")


def test_predict_faces_is_batch_invariant(standin_predictor: Predictor, astronaut) -> None:
    crops = [
        astronaut[50:180, 170:280],
        astronaut[:100, :100],
        astronaut[200:, 200:],
        astronaut,
        astronaut[::2],
    ]
    together = standin_predictor.predict_faces(crops)  # batch size 4: two model calls
    alone = [standin_predictor.predict_faces([c])[0] for c in crops]
    assert [r.face for r in together] == [0, 1, 2, 3, 4]
    for a, b in zip(together, alone, strict=True):
        assert np.allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-6)
        assert a.valence == pytest.approx(b.valence, abs=1e-6)


def test_predict_video_one_row_per_face_per_frame(standin_predictor: Predictor, sample_video: Path) -> None:
    frames = list(standin_predictor.predict_video(sample_video))
    assert [f.frame for f in frames] == [0, 1, 2, 3, 4, 5]
    assert [len(f.faces) for f in frames] == [1] * 6
    times = [f.faces[0].time_s for f in frames]
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    # the face moves with the shifted frames (3 px right, 2 px down per frame)
    xs = [f.faces[0].box[0] for f in frames]
    assert xs[-1] - xs[0] == pytest.approx(15, abs=6)
    strided = list(standin_predictor.predict_video(sample_video, stride=2))
    assert [f.frame for f in strided] == [0, 2, 4]


def test_predict_video_errors_name_the_file(standin_predictor: Predictor, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(AffectlabError, match="bad.mp4"):
        list(standin_predictor.predict_video(bad))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_backend_matches_torch(standin_net, tmp_path: Path, astronaut) -> None:
    import torch

    from affectlab.inference.backends import TorchBackend

    path = tmp_path / "standin.onnx"
    torch.onnx.export(
        standin_net,
        (torch.zeros(1, 3, 64, 64),),
        str(path),
        input_names=["image"],
        output_names=["expression", "valence", "arousal"],
        dynamic_axes={"image": {0: "batch"}},
        dynamo=False,
    )
    pre = Preprocess(size=64)
    on_torch = Predictor(TorchBackend(standin_net, pre), AFFECTNET_CLASSES, pre, detector="retinaface")
    on_onnx = Predictor(OnnxBackend(path, pre), AFFECTNET_CLASSES, pre, detector="retinaface")
    crops = [astronaut, astronaut[50:180, 170:280], astronaut[::-1]]
    for a, b in zip(on_torch.predict_faces(crops), on_onnx.predict_faces(crops), strict=True):
        diff = np.abs(np.subtract(list(a.probabilities.values()), list(b.probabilities.values())))
        assert diff.max() < 1e-4
        assert abs(a.valence - b.valence) < 1e-4 and abs(a.arousal - b.arousal) < 1e-4


def test_bad_checkpoint_paths(tmp_path: Path) -> None:
    with pytest.raises(AffectlabError, match="model.safetensors"):
        Predictor.from_checkpoint(tmp_path)
    with pytest.raises(AffectlabError, match="batch size"):
        Predictor(None, AFFECTNET_CLASSES, Preprocess(), batch_size=0)  # type: ignore[arg-type]


def test_alignment_comes_from_the_model_and_changes_the_crop_not_the_box(
    standin_net, retinaface, astronaut
) -> None:
    from affectlab.inference.backends import TorchBackend

    pre, pre_aligned = Preprocess(size=64), Preprocess(size=64, align=True)
    plain = Predictor(TorchBackend(standin_net, pre), AFFECTNET_CLASSES, pre, detector=retinaface)
    aligned = Predictor(
        TorchBackend(standin_net, pre_aligned), AFFECTNET_CLASSES, pre_aligned, detector=retinaface
    )
    (a,) = plain.predict_image(astronaut)
    (b,) = aligned.predict_image(astronaut)
    assert a.box == b.box and a.probabilities != b.probabilities
