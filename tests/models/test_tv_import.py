"""Building a model imports torchvision without TorchDynamo, and TorchDynamo still works afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_build_model_does_not_load_dynamo_and_compile_still_works() -> None:
    code = textwrap.dedent("""
        import sys
        from affectlab.models import build_model
        model = build_model("mobilenet_v2")
        assert "torch._dynamo" not in sys.modules, "torchvision pulled in TorchDynamo"
        import torch
        ra = sys.modules["torchvision.ops.roi_align"]
        assert ra.is_compile_supported("cpu") is True  # the stand-in delegates to the real function
        assert "torch._dynamo" in sys.modules and hasattr(torch._dynamo, "optimize")
        out = torch.compile(lambda x: x * 2, backend="eager")(torch.ones(2))
        assert out.tolist() == [2.0, 2.0]
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


def test_loading_weights_and_predicting_stay_off_dynamo_and_sympy(tmp_path: Path) -> None:
    """The whole predict path of a weights file: TorchDynamo and SymPy cost seconds of start-up each.

    (Building the model on the meta device to skip its random initialisation was tried: the first
    ``normal_`` on a meta tensor imports both, 1.6 s. This is the test that says so.)
    """
    from affectlab.labels import class_names
    from affectlab.models import ModelInfo, build_model, save_weights
    from affectlab.preprocessing import Preprocess

    path = tmp_path / "model.safetensors"
    save_weights(build_model("resnet18"), ModelInfo("resnet18", class_names(8), Preprocess(size=32)), path)
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from affectlab.models.artifacts import open_model
        from affectlab.inference.backends import make_backend
        backend = make_backend(open_model({str(path)!r}))
        logits, valence, arousal = backend.run(np.zeros((2, 32, 32, 3), dtype=np.uint8))
        assert logits.shape == (2, 8)
        heavy = [m for m in ("torch._dynamo", "sympy") if m in sys.modules]
        assert not heavy, heavy
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
