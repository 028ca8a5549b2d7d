"""Distil the student from the teacher: soft intent and slot distributions plus gold labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .features import IGNORE, Batch, Feature
from .model import JointModel
from .train import TrainSettings, fit, gold_loss


@dataclass(frozen=True)
class DistillSettings:
    layers: tuple[int, ...] = (0, 2, 5)
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the teacher's soft targets against the gold labels
    # Weight of matching each student layer's output to the teacher layer it was copied from;
    # 0 keeps plain logit distillation.
    hidden: float = 0.0
    train: TrainSettings = TrainSettings()


def _kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    return nn.functional.kl_div(
        nn.functional.log_softmax(student / temperature, dim=-1),
        nn.functional.log_softmax(teacher / temperature, dim=-1),
        log_target=True, reduction="batchmean") * temperature ** 2


def distill(teacher: JointModel, features: list[Feature], settings: DistillSettings,
            seed: int) -> JointModel:
    teacher.eval()
    student = teacher.student(list(settings.layers))

    states = settings.hidden > 0

    def loss(model: JointModel, batch: Batch) -> torch.Tensor:
        with torch.no_grad():
            t_intent, t_slots, t_layers = teacher.forward_with_states(
                batch.input_ids, batch.attention_mask, states)
        s_intent, s_slots, s_layers = model.forward_with_states(batch.input_ids, batch.attention_mask, states)
        words = batch.tags != IGNORE
        soft = _kl(s_intent, t_intent, settings.temperature) + \
            _kl(s_slots[words], t_slots[words], settings.temperature)
        hard = nn.functional.cross_entropy(s_intent, batch.intents) + \
            nn.functional.cross_entropy(s_slots[words], batch.tags[words])
        total = settings.alpha * soft + (1 - settings.alpha) * hard
        if states:
            real = batch.attention_mask.bool()
            total = total + settings.hidden * sum(
                nn.functional.mse_loss(s_layers[new][real], t_layers[old][real])
                for new, old in enumerate(settings.layers)) / len(settings.layers)
        return total

    fit(student, features, settings.train, seed + 1, loss, "student")
    return student


__all__ = ["DistillSettings", "distill", "gold_loss"]
