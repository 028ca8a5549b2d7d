"""Export the joint model to one ONNX graph with two outputs and dynamic axes."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .model import JointModel

INPUTS = ["input_ids", "attention_mask"]
OUTPUTS = ["intent_logits", "slot_logits"]


def export_onnx(model: JointModel, path: Path, opset: int = 17) -> Path:
    model.eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (sample, torch.ones_like(sample)), str(path),
            input_names=INPUTS, output_names=OUTPUTS, opset_version=opset,
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"},
                          "intent_logits": {0: "batch"},
                          "slot_logits": {0: "batch", 1: "sequence"}},
            dynamo=False,
        )
    return path
