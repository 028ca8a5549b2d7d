"""Fine-tune the teacher: the full joint model on gold intents and slot tags."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from .features import IGNORE, Batch, Feature, batches
from .model import JointModel

log = logging.getLogger("export.train")
LossFn = Callable[[JointModel, Batch], torch.Tensor]


@dataclass(frozen=True)
class TrainSettings:
    epochs: float = 3
    batch_size: int = 32
    lr: float = 2e-4
    head_lr: float = 1e-3
    warmup: float = 0.06
    weight_decay: float = 0.01


def gold_loss(model: JointModel, batch: Batch) -> torch.Tensor:
    intent_logits, slot_logits = model(batch.input_ids, batch.attention_mask)
    intent = nn.functional.cross_entropy(intent_logits, batch.intents)
    slots = nn.functional.cross_entropy(slot_logits.reshape(-1, slot_logits.shape[-1]),
                                        batch.tags.reshape(-1), ignore_index=IGNORE)
    return intent + slots


def fit(model: JointModel, features: list[Feature], settings: TrainSettings, seed: int,
        loss_fn: LossFn, label: str) -> None:
    """AdamW with linear warm-up and decay; heads learn faster than the encoder."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    heads = list(model.intent_head.parameters()) + list(model.slot_head.parameters())
    head_ids = {id(p) for p in heads}
    encoder = [p for p in model.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.AdamW([
        {"params": encoder, "lr": settings.lr},
        {"params": heads, "lr": settings.head_lr},
    ], weight_decay=settings.weight_decay)
    per_epoch = (len(features) + settings.batch_size - 1) // settings.batch_size
    total = max(1, int(per_epoch * settings.epochs))
    warmup = max(1, int(total * settings.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup + 1))))
    model.train()
    step = 0
    with tqdm(total=total, desc=label, unit="step", mininterval=2.0) as bar:
        while step < total:
            for batch in batches(features, settings.batch_size, rng):
                if step >= total:
                    break
                loss = loss_fn(model, batch)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()


def train_teacher(model: JointModel, features: list[Feature], settings: TrainSettings,
                  seed: int) -> JointModel:
    fit(model, features, settings, seed, gold_loss, "teacher")
    return model
