"""The joint model: a BERT encoder, an intent head on [CLS], a slot head per token."""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel


class JointModel(nn.Module):
    def __init__(self, config: BertConfig, num_intents: int, num_tags: int) -> None:
        super().__init__()
        self.config = config
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.intent_head = nn.Linear(config.hidden_size, num_intents)
        self.slot_head = nn.Linear(config.hidden_size, num_tags)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        intent, slots, _ = self.forward_with_states(input_ids, attention_mask, states=False)
        return intent, slots

    def forward_with_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                            states: bool = True) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Logits plus, when asked, the output of every encoder layer (for distillation)."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=torch.zeros_like(input_ids), output_hidden_states=states)
        hidden = self.dropout(out.last_hidden_state)
        layers = tuple(out.hidden_states[1:]) if states else ()
        return self.intent_head(hidden[:, 0]), self.slot_head(hidden), layers

    @staticmethod
    def from_pretrained(path: str, old_ids: list[int], max_length: int,
                        num_intents: int, num_tags: int) -> "JointModel":
        """The packaged checkpoint with its embedding rows cut to ``old_ids``."""
        base = BertModel.from_pretrained(path, add_pooling_layer=False)
        config = BertConfig.from_dict(base.config.to_dict())
        config.vocab_size = len(old_ids)
        config.max_position_embeddings = max_length
        model = JointModel(config, num_intents, num_tags)
        state = base.state_dict()
        index = torch.tensor(old_ids)
        state["embeddings.word_embeddings.weight"] = state["embeddings.word_embeddings.weight"][index]
        state["embeddings.position_embeddings.weight"] = \
            state["embeddings.position_embeddings.weight"][:max_length]
        state.pop("embeddings.position_ids", None)
        missing, unexpected = model.encoder.load_state_dict(state, strict=False)
        if unexpected or [m for m in missing if "position_ids" not in m]:
            raise RuntimeError(f"checkpoint mismatch: missing={missing} unexpected={unexpected}")
        return model

    def student(self, layers: list[int]) -> "JointModel":
        """A shallower copy that keeps the chosen encoder layers and both heads."""
        config = BertConfig.from_dict(self.config.to_dict())
        config.num_hidden_layers = len(layers)
        small = JointModel(config, self.intent_head.out_features, self.slot_head.out_features)
        small.encoder.embeddings.load_state_dict(self.encoder.embeddings.state_dict())
        for new, old in enumerate(layers):
            small.encoder.encoder.layer[new].load_state_dict(self.encoder.encoder.layer[old].state_dict())
        small.intent_head.load_state_dict(self.intent_head.state_dict())
        small.slot_head.load_state_dict(self.slot_head.state_dict())
        return small

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
