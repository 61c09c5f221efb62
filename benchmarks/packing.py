"""Packed training batches as t5x.train builds them, and what they hold."""

import dataclasses
import os
import time

import gin
import numpy as np
import seqio

import mixtures  # pylint: disable=unused-import  (registers tasks and mixtures)
from ptjf import recipe

DATA_GIN = os.path.join(recipe.REPO, 'gin', 'data', 'synth_mc4.gin')


@dataclasses.dataclass
class Tally:
  """What one pipeline produced and how long it took."""
  seconds: float = 0.0
  rows: int = 0
  examples: int = 0
  tokens: int = 0  # non-padding inputs and targets
  input_tokens: int = 0
  target_tokens: int = 0
  input_slots: int = 0
  target_slots: int = 0

  def add(self, batch: dict[str, np.ndarray]) -> None:
    inputs = batch['encoder_input_tokens'] != 0
    targets = batch['decoder_loss_weights'] != 0
    self.rows += inputs.shape[0]
    # Packed segments are numbered 1..k in each row: k examples.
    self.examples += int(batch['encoder_segment_ids'].max(axis=1).sum())
    self.input_tokens += int(inputs.sum())
    self.target_tokens += int(targets.sum())
    self.tokens += int(inputs.sum() + targets.sum())
    self.input_slots += inputs.size
    self.target_slots += targets.size


def read_settings() -> tuple[dict[str, int], int]:
  """TASK_FEATURE_LENGTHS and BATCH_SIZE as the tiny recipes bind them."""
  with gin.unlock_config():
    gin.parse_config_file(DATA_GIN)
  return (dict(gin.query_parameter('%TASK_FEATURE_LENGTHS')),
          gin.query_parameter('%BATCH_SIZE'))


def packed_batches(name: str, lengths: dict[str, int], batch_size: int, seed: int,
                   repeat: bool = False):
  """`repeat`: over the data again and again, as t5x.train reads it."""
  dataset = seqio.get_dataset(
      name, task_feature_lengths=lengths, dataset_split='train', shuffle=True,
      seed=seed, num_epochs=None if repeat else 1,
      feature_converter=seqio.EncDecFeatureConverter(pack=True))
  return dataset.batch(batch_size, drop_remainder=True).as_numpy_iterator()


def time_batches(iterator, count: int, tally: Tally) -> None:
  start = time.perf_counter()
  batches = [next(iterator) for _ in range(count)]
  tally.seconds += time.perf_counter() - start
  for batch in batches:
    tally.add(batch)
