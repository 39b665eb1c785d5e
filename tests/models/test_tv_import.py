"""Building a model imports torchvision without TorchDynamo, and TorchDynamo still works afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap


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
