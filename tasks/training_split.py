"""Training-split twins: a task's first training examples served as an
evaluation split, so training loss is measured beside validation loss.

The twin of task 'x' is the seqio Task 'x.train_split': x's preprocessors,
output features, postprocessor, metrics and shuffle buffer over a source
whose only split, 'validation', holds the first N examples of x's 'train'
split, unshuffled, N being the size of x's 'validation' split. Both splits
are then as large, and T5X evaluates them alike (training_eval/<task>).
"""

from typing import Mapping, Optional, Sequence

import seqio
import tensorflow as tf

TRAINING_SPLIT_SUFFIX = '.train_split'
SPLIT = 'validation'  # what the twin serves: the split T5X's evaluations read


class TrainingSplitSource(seqio.DataSource):
  """The first `num_examples` examples of `source`'s 'train' split, in the
  order an unshuffled read gives them, as a 'validation' split."""

  def __init__(self, source: seqio.DataSource, num_examples: int):
    super().__init__(splits=(SPLIT,), num_input_examples={SPLIT: num_examples},
                     caching_permitted=source.caching_permitted)
    self.source = source
    self.num_examples = num_examples

  @property
  def supports_arbitrary_sharding(self) -> bool:
    return False  # one shard: seqio shards its examples, as for any such source

  def list_shards(self, split: str) -> Sequence[str]:
    self._check_split(split)
    return [split]

  def _check_split(self, split: str) -> None:
    if split != SPLIT:
      raise ValueError(f'a training-split twin has no {split!r} split: its one '
                       f'split is {SPLIT!r} (the first {self.num_examples} '
                       'training examples).')

  def get_dataset(
      self,
      split: str = SPLIT,
      shuffle: bool = True,
      seed: Optional[int] = None,
      shard_info: Optional[seqio.ShardInfo] = None,
      *,
      sequence_length: Optional[Mapping[str, int]] = None,  # unused
      use_cached: bool = False,  # unused
      num_epochs: Optional[int] = 1,  # unused
  ) -> tf.data.Dataset:
    del shuffle, seed  # the same N examples, in the same order, on every read
    self._check_split(split)
    ds = self.source.get_dataset('train', shuffle=False).take(self.num_examples)
    if shard_info and shard_info.num_shards > 1:  # shards the N, not train
      ds = ds.shard(shard_info.num_shards, shard_info.index)
    return ds

  def __repr__(self):
    return (f'{type(self).__name__}(first {self.num_examples} of '
            f"{self.source!r}'s train split)")


def _validation_size(task: seqio.Task) -> int:
  """N: the size of the task's validation split (at most its train split's)."""
  fix = ("give its source num_input_examples={'validation': N, ...}, or "
         'prepare its TFDS dataset where T5X reads it (--tfds_data_dir)')
  if SPLIT not in task.splits:
    raise ValueError(
        f'task {task.name!r} has no {SPLIT!r} split (its splits: '
        f'{", ".join(task.splits)}), whose size its training-split twin takes.')
  try:
    size = task.source.num_input_examples(SPLIT)
  except Exception as e:  # pylint: disable=broad-except
    # KeyError for an unlisted split, TFDS's for an unprepared dataset, I/O.
    reason = (str(e).strip() or type(e).__name__).splitlines()[0]
    raise ValueError(
        f'task {task.name!r}: the size of its {SPLIT!r} split is unknown '
        f'({reason}); its training-split twin reads that many training '
        f'examples: {fix}.') from None
  if size is None or not 0 < size < float('inf'):
    raise ValueError(
        f'task {task.name!r}: the size of its {SPLIT!r} split is unknown '
        f'(its source gives {size!r}); its training-split twin reads that many '
        f'training examples: {fix}.')
  try:  # a train split smaller than validation is read whole
    size = min(size, task.source.num_input_examples('train') or size)
  except Exception:  # pylint: disable=broad-except
    pass  # an unknown train size caps nothing
  return int(size)


def training_split_task(name: str) -> str:
  """Registers '<name>.train_split', the training-split twin of task `name`,
  unless it is registered already; returns its name.

  Raises ValueError, before any data is read, for an unknown task, a mixture,
  a twin, a task without a 'train' split or one whose validation size is
  unknown.
  """
  if name.endswith(TRAINING_SPLIT_SUFFIX):
    raise ValueError(f'{name!r} already ends with {TRAINING_SPLIT_SUFFIX!r}: '
                     'give the name of the task it is the twin of.')
  if name in seqio.MixtureRegistry.names():
    tasks = seqio.get_mixture_or_task(name).tasks
    example = f', e.g. {tasks[0].name!r}' if tasks else ''
    raise ValueError(f'{name!r} is a mixture: give one of its tasks{example}.')
  if name not in seqio.TaskRegistry.names():
    raise ValueError(f'unknown task {name!r}: give the name of a registered '
                     'seqio task (seqio.TaskRegistry.names()).')
  task = seqio.TaskRegistry.get(name)
  if 'train' not in task.splits:
    raise ValueError(f"task {name!r} has no 'train' split (its splits: "
                     f'{", ".join(task.splits)}): it has no training split '
                     'to evaluate.')
  twin = name + TRAINING_SPLIT_SUFFIX
  registered = (seqio.TaskRegistry.get(twin)
                if twin in seqio.TaskRegistry.names() else None)
  if registered is not None:
    if not isinstance(registered.source, TrainingSplitSource):
      raise ValueError(f'task {twin!r} is registered already and is not the '
                       f'training-split twin of {name!r}: remove it first.')
    if registered.source.source is task.source:
      return twin
  source = TrainingSplitSource(task.source, _validation_size(task))
  if registered is not None:  # `name` was registered anew since
    seqio.TaskRegistry.remove(twin)
  seqio.TaskRegistry.add_provider(twin, task.replace(name=twin, source=source))
  return twin
