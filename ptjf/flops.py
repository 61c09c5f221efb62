"""Model FLOPs of a T5 encoder-decoder train step, counted from its shape.

The yardstick for model FLOPs utilisation (MFU) as the field reports it
(PaLM, App. B; MaxText's calculate_tflops_training_per_device): the matmuls
the model needs at 2 FLOPs per multiply-add, attention scores and weighted
sums over full (unmasked) rows included, and a training step at 3 x the
forward pass. Left out, as there: elementwise work, the optimizer, and work a
particular program adds, such as rematerialisation or T5X's embedding lookup
done as a one-hot matmul (2 x tokens x vocab x d_model forward, as much again
for its gradient).

A count by hand: no library counts an encoder-decoder from its config.
"""

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class EncoderDecoder:
  """What the count needs of a T5 encoder-decoder (T5X's T5Config).

  Attributes:
    mlp_inputs: the feed-forward's input projections: 2 when gated
      (mlp_activations ('gelu', 'linear'), T5.1.1 and mT5), 1 for ('relu',).
  """
  vocab_size: int
  emb_dim: int
  num_heads: int
  head_dim: int
  mlp_dim: int
  mlp_inputs: int
  encoder_layers: int
  decoder_layers: int

  @property
  def attention_dim(self) -> int:
    return self.num_heads * self.head_dim


def from_t5_config(config: Any) -> EncoderDecoder:
  """The shape of a T5X `network.T5Config` (t5 or scalable_t5)."""
  return EncoderDecoder(
      vocab_size=config.vocab_size, emb_dim=config.emb_dim,
      num_heads=config.num_heads, head_dim=config.head_dim,
      mlp_dim=config.mlp_dim, mlp_inputs=len(config.mlp_activations),
      encoder_layers=config.num_encoder_layers,
      decoder_layers=config.num_decoder_layers)


def _projections(m: EncoderDecoder, tokens: int, count: int) -> float:
  """`count` projections between d_model and the heads, over `tokens`."""
  return 2 * tokens * m.emb_dim * m.attention_dim * count


def _attention(m: EncoderDecoder, queries: int, keys: int) -> float:
  """Scores (q . k) and the weighted sum of values."""
  return 2 * 2 * queries * keys * m.attention_dim


def _mlp(m: EncoderDecoder, tokens: int) -> float:
  return 2 * tokens * m.emb_dim * m.mlp_dim * (m.mlp_inputs + 1)


def encoder_layer(m: EncoderDecoder, inputs: int) -> float:
  """Forward FLOPs of one encoder layer on one sequence of `inputs` tokens."""
  return _projections(m, inputs, 4) + _attention(m, inputs, inputs) + _mlp(m, inputs)


def decoder_layer(m: EncoderDecoder, inputs: int, targets: int) -> float:
  """Forward FLOPs of one decoder layer: self-attention over the targets,
  cross-attention to the encoder's `inputs` (keys and values projected from
  them), the feed-forward."""
  return (_projections(m, targets, 4) + _attention(m, targets, targets)
          + _projections(m, targets, 2) + _projections(m, inputs, 2)
          + _attention(m, targets, inputs) + _mlp(m, targets))


def logits(m: EncoderDecoder, targets: int) -> float:
  return 2 * targets * m.emb_dim * m.vocab_size


def forward(m: EncoderDecoder, inputs: int, targets: int) -> float:
  """Forward FLOPs on one sequence."""
  return (m.encoder_layers * encoder_layer(m, inputs)
          + m.decoder_layers * decoder_layer(m, inputs, targets)
          + logits(m, targets))


def train_step(m: EncoderDecoder, batch: int, inputs: int, targets: int) -> float:
  """Model FLOPs of one training step over the whole batch: the forward pass
  and the backward's two matmuls per forward one (activation and weight
  gradients)."""
  return 3 * batch * forward(m, inputs, targets)
