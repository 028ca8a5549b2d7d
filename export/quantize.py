"""Dynamic int8 quantization for ARM64 and x86 (ONNX Runtime's integer kernels)."""

from __future__ import annotations

import tempfile
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
    # Fuse attention, GELU and layer norms with ONNX Runtime's transformer optimizer first:
    # far fewer nodes per layer, so less per-command overhead on small inputs.
    fuse: bool = False


def fuse_transformer(source: Path, target: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    # A fused EmbedLayerNormalization would keep the embedding table in fp32 (it is most of the
    # bytes); left unfused, its Gather is quantized.
    options.enable_embed_layer_norm = False
    model = optimize_model(str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
                           optimization_options=options)
    model.save_model_to_file(str(target))
    return {name: count for name, count in model.get_fused_operator_statistics().items() if count}


def quantize(source: Path, target: Path, settings: QuantizeSettings, num_heads: int = 12,
             hidden_size: int = 384) -> dict[str, object]:
    weight = QuantType.QUInt8 if settings.weight_type == "uint8" else QuantType.QInt8
    op_types = list(settings.op_types)
    fused: dict[str, int] = {}
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        if settings.fuse:
            fused_path = Path(work) / "fused.onnx"
            fused = fuse_transformer(source, fused_path, num_heads, hidden_size)
            source = fused_path
            if "MatMul" in op_types and "Attention" not in op_types:
                op_types.append("Attention")  # the fused attention holds the Q, K, V projections
        quantize_dynamic(str(source), str(target), weight_type=weight,
                         per_channel=settings.per_channel,
                         op_types_to_quantize=op_types,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    weights = externalize(target)
    # The graph alone (the weights now sit beside it): enough to list its operators.
    ops = sorted({node.op_type for node in onnx.load(str(target), load_external_data=False).graph.node})
    return {"weights_file": weights.name, "scheme": "dynamic", "weights": settings.weight_type,
            "per_channel": settings.per_channel, "quantized_ops": op_types, "fused": fused,
            "target": "arm64,x86_64", "graph_ops": ops}
