"""The bundle's own model rebuilt in PyTorch fp32: the baseline ``edge-slm bench`` compares to.

Weights come out of the int8 ONNX graph itself (dequantized), so the baseline
is the very model the device runs, computed in fp32 by PyTorch eager.
Imported only by the benchmark, and only when torch and transformers exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn
from transformers import BertConfig, BertModel

_MATMUL_OUT = re.compile(r"^/(.+)/MatMul_output_0")
_LAYER = re.compile(r"/encoder/encoder/layer\.(\d+)/")


class TorchJoint(nn.Module):
    def __init__(self, config: BertConfig, intents: int, tags: int) -> None:
        super().__init__()
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.intent_head = nn.Linear(config.hidden_size, intents)
        self.slot_head = nn.Linear(config.hidden_size, tags)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
        return self.intent_head(hidden[:, 0]), self.slot_head(hidden)


def _dequantized(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    raw = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    weights: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        if name.endswith("_quantized"):
            stem = name[: -len("_quantized")]
            scale, zero = raw[stem + "_scale"], raw[stem + "_zero_point"]
            weights[stem] = (value.astype(np.float32) - zero.astype(np.float32)) * scale
        elif not name.endswith(("_scale", "_zero_point")):
            weights[name] = value
    state: dict[str, np.ndarray] = {}
    for node in model.graph.node:
        if node.op_type in ("Attention", "QAttention"):
            # A fused graph packs the query, key and value projections side by side.
            layer = _LAYER.search(node.output[0])
            if not layer:
                raise ValueError(f"cannot place attention node {node.name}")
            prefix = f"encoder.encoder.layer.{layer.group(1)}.attention.self"
            packed = weights[node.input[1].removesuffix("_quantized")]
            bias = weights[node.input[2]]
            for part, (w, b) in zip(("query", "key", "value"),
                                    zip(np.split(packed, 3, axis=1), np.split(bias, 3))):
                state[f"{prefix}.{part}.weight"], state[f"{prefix}.{part}.bias"] = w.T, b
            continue
        if node.op_type not in ("MatMulInteger", "MatMul"):
            continue
        stem = node.input[1].removesuffix("_quantized")
        if stem not in weights:
            continue
        if stem.endswith(".weight_Transposed"):
            module = stem.removesuffix(".weight_Transposed")
        else:
            match = _MATMUL_OUT.match(node.output[0])
            if not match:
                raise ValueError(f"cannot place MatMul weight {stem}")
            module = match.group(1).replace("/", ".")
        state[f"{module}.weight"] = weights[stem].T
    for name, value in weights.items():
        if name.startswith(("encoder.", "intent_head.", "slot_head.")) and name.count(".") > 1 or \
                name in ("intent_head.bias", "slot_head.bias"):
            state.setdefault(name, value)
    return state


def load_torch_baseline(model_path: Path) -> TorchJoint:
    state = _dequantized(onnx.load(str(model_path)))
    layers = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.encoder\.layer\.(\d+)\.", k))}
    words, hidden = state["encoder.embeddings.word_embeddings.weight"].shape
    config = BertConfig(vocab_size=words, hidden_size=hidden, num_hidden_layers=len(layers),
                        num_attention_heads=hidden // 32, intermediate_size=
                        state["encoder.encoder.layer.0.intermediate.dense.weight"].shape[0],
                        max_position_embeddings=state["encoder.embeddings.position_embeddings.weight"].shape[0])
    model = TorchJoint(config, state["intent_head.bias"].shape[0], state["slot_head.bias"].shape[0])
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise ValueError(f"baseline does not match the graph: missing={missing} unexpected={unexpected}")
    return model.eval()
