"""Dynamic int8 quantization for ARM64 and x86 (ONNX Runtime's integer kernels)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from .weights_file import externalize


@dataclass(frozen=True)
class QuantizeSettings:
    weight_type: str = "uint8"  # "uint8" or "int8"
    per_channel: bool = False
    # Gather covers the embedding table, which is most of a small model's bytes.
    op_types: tuple[str, ...] = ("MatMul", "Gather")
    max_drop: float = 1.0  # refuse the bundle if int8 loses more than this (points)


def quantize(source: Path, target: Path, settings: QuantizeSettings) -> dict[str, object]:
    weight = QuantType.QUInt8 if settings.weight_type == "uint8" else QuantType.QInt8
    quantize_dynamic(str(source), str(target), weight_type=weight,
                     per_channel=settings.per_channel,
                     op_types_to_quantize=list(settings.op_types),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    ops = sorted({node.op_type for node in onnx.load(str(target)).graph.node})
    weights = externalize(target)
    return {"weights_file": weights.name, "scheme": "dynamic", "weights": settings.weight_type,
            "per_channel": settings.per_channel, "quantized_ops": list(settings.op_types),
            "target": "arm64,x86_64", "graph_ops": ops}
