"""Tokens of a task a T5X run has trained on, measured on its own data.

A step trains on BATCH_SIZE packed rows. seqio samples examples from the
mixture by rate before packing, so a task's tokens per step are
  BATCH_SIZE x examples per packed row (measured: seqio's EncDecFeatureConverter
  packing the mixture's training split) x the task's share of the mixture's
  rates x the task's mean example length (inputs and targets, EOS included,
  trimmed to TASK_FEATURE_LENGTHS, over its first training examples).
A fine-tune adds what the run it was initialised from had trained on by its
checkpoint (INITIAL_CHECKPOINT_PATH of its config.gin); a stage that kept the
whole state (gin/phases/continue.gin) counts its steps from that checkpoint's,
where its step counter went on.

Reading a run's mixture needs T5X (its config.gin is parsed as t5x.train
parsed it) and the tasks' training data.
"""

import dataclasses
import functools
import os
import re
from typing import Mapping, Optional

from ptjf import datasets
from ptjf import recipe

PACKED_ROWS = 400  # rows packed to measure examples per row
EXAMPLES = 1000  # first training examples averaged for a task's length
# gin's config writer breaks a long binding after '= \\'.
_CHECKPOINT = re.compile(
    r'^INITIAL_CHECKPOINT_PATH\s*=\s*(?:\\\n\s*)?[\'"](.+)/checkpoint_(\d+)[\'"]\s*$',
    re.MULTILINE)
# A restore T5X configured; gin/phases/joint_finetune.gin's assignment map
# drops the optimizer slots and step ('state/'), continue.gin's keeps them.
_RESTORE = re.compile(r'^utils\.RestoreCheckpointConfig\.', re.MULTILINE)
_DROPS_STATE = re.compile(
    r'^utils\.RestoreCheckpointConfig\.assignment_map\s*=.*[\'"]state/',
    re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Restored:
  """The checkpoint a run was initialised from."""
  run_dir: str
  step: int
  keeps_state: bool  # optimizer slots and step too: the run's steps go on


def _lengths_key(lengths: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
  return tuple(sorted(lengths.items()))


@functools.cache
def example_tokens(task: str, lengths: tuple[tuple[str, int], ...]) -> float:
  """Mean tokens (inputs + targets) of `task`'s first EXAMPLES training
  examples, trimmed to `lengths` as a run reads them."""
  import seqio  # pylint: disable=g-import-not-at-top
  dataset = seqio.get_mixture_or_task(task).get_dataset(
      dict(lengths), 'train', shuffle=False).take(EXAMPLES)
  sizes = [sum(len(e[k]) for k in dict(lengths)) for e in dataset.as_numpy_iterator()]
  if not sizes:
    raise ValueError(f'task {task} has no training examples to measure.')
  return sum(sizes) / len(sizes)


@functools.cache
def examples_per_row(mixture: str, lengths: tuple[tuple[str, int], ...]) -> float:
  """Examples in a packed row of `mixture`'s training split, over PACKED_ROWS."""
  import seqio  # pylint: disable=g-import-not-at-top
  packed = seqio.get_dataset(
      mixture, dict(lengths), dataset_split='train', shuffle=True, seed=0,
      feature_converter=seqio.EncDecFeatureConverter(pack=True))
  rows = list(packed.take(PACKED_ROWS).as_numpy_iterator())
  return sum(int(r['encoder_segment_ids'].max()) for r in rows) / len(rows)


def share(mixture: str, task: str) -> float:
  """`task`'s share of the examples `mixture` samples: 0 if not in it."""
  import seqio  # pylint: disable=g-import-not-at-top
  provider = seqio.get_mixture_or_task(mixture)
  if isinstance(provider, seqio.Task):
    return float(provider.name == task)
  found = [t for t in provider.tasks if t.name == task]
  return provider.get_rate(found[0]) / provider.total_rate if found else 0.0


def tokens_per_step(mixture: str, task: str, lengths: Mapping[str, int],
                    batch_size: int) -> float:
  """`task`'s tokens in one step of a run on `mixture` (module docstring)."""
  fraction = share(mixture, task)
  if not fraction:
    return 0.0
  key = _lengths_key(lengths)
  return (batch_size * examples_per_row(mixture, key) * fraction
          * example_tokens(task, key))


def parent(run_dir: str) -> Optional[Restored]:
  """The checkpoint the run was initialised from, read from its config.gin;
  None for a run from scratch."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(run_dir, 'config.gin')
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    config = f.read()
  if not (m := _CHECKPOINT.search(config)):
    return None
  keeps_state = bool(_RESTORE.search(config)) and not _DROPS_STATE.search(config)
  return Restored(m.group(1), int(m.group(2)), keeps_state)


@functools.cache
def run_settings(run_dir: str) -> tuple[str, tuple[tuple[str, int], ...], int]:
  """(training mixture, feature lengths, batch size) of a run, from its
  config.gin parsed as t5x.train parsed it; ValueError when it cannot be."""
  path = os.path.join(run_dir, 'config.gin')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not tf.io.gfile.exists(path):
    raise ValueError(f'{run_dir} has no config.gin: its tokens seen cannot be '
                     'counted without its mixture, lengths and batch size.')
  recipe.require_t5x()
  try:
    recipe.parse(path)
    return (datasets.mixture_read('train'),
            _lengths_key(recipe.value('TASK_FEATURE_LENGTHS')),
            int(recipe.value('BATCH_SIZE')))
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'{path} does not parse as t5x.train parsed it '
                     f'({recipe.first_line(e)}).') from None


def tokens_seen(run_dir: str, task: str, step: int) -> float:
  """`task`'s tokens the run had trained on by its own `step`, including
  what the runs it descends from had trained on by their checkpoints."""
  mixture, lengths, batch = run_settings(run_dir)
  found = parent(run_dir)
  trained = step - found.step if found and found.keeps_state else step
  seen = trained * tokens_per_step(mixture, task, dict(lengths), batch)
  if found:
    seen += tokens_seen(found.run_dir, task, found.step)
  return seen
