"""Scalars that T5X wrote as TensorBoard event files under a run directory,
and which of a metric's values is best.

A task's metric of one split is found where T5X writes it:
  validation  training_eval/<task>/<metric> (t5x.train's evaluations), else
              inference_eval/<task>/eval/<metric> (`ptjf eval`, t5x.eval)
  train       the same for the task's training-split twin, <task>.train_split
  test        test/inference_eval/<task>/eval/<metric> (`ptjf eval --split=test`)

An event file that cannot be read whole (random bytes, cut mid-record, empty,
a directory of that name) gives what it holds up to the damage, and a warning
on stderr naming it, once per process.
"""

import collections
import math
import os
import re
import sys
from typing import Callable, Iterable, Iterator, Optional, Sequence, TypeVar

from google.protobuf import message
import tensorflow as tf

from tasks import training_split

SPLITS = ('validation', 'train', 'test')
# Metrics whose name says which way is better; others need --better.
_HIGHER = re.compile(r'bleu|accuracy|chrf|rouge|f1|exact_match|sequence_acc')
_LOWER = re.compile(r'loss|cross_ent|perplexity|ter$')
T = TypeVar('T')
# What TFRecordDataset says of a damaged file, and where.
_DAMAGE = re.compile(r'(truncated|corrupted) record at (\d+)')
# Files already warned about: plot reads each once per task and metric.
_WARNED = set()


def _reason(error: Exception) -> str:
  """Where a file is damaged, else the error's first line."""
  if m := _DAMAGE.search(str(error)):
    return f'{m[1].replace("corrupted", "corrupt")} at byte {m[2]}'
  lines = str(error).strip().splitlines()
  return f'{type(error).__name__}: {lines[0][:200]}' if lines else type(error).__name__


def events(path: str) -> Iterator[tf.compat.v1.Event]:
  """The events of one event file, up to any damage; a file that cannot be
  read whole is named in a one-line warning."""
  read, problem = 0, ''
  if tf.io.gfile.isdir(path):
    problem = 'it is a directory, not an event file'
  else:
    try:
      for record in tf.data.TFRecordDataset(path):
        event = tf.compat.v1.Event.FromString(record.numpy())
        read += 1
        yield event
      if not read:  # a writer's first record, file_version, is never missing
        problem = 'it is empty'
    except (tf.errors.OpError, message.DecodeError) as e:
      problem = _reason(e)
  if problem:
    warn(path, f'{problem}; ' + (f'read its first {read} record(s), skipped '
                                 'the rest' if read else 'skipped'))


def warn(path: str, problem: str) -> None:
  """Names a file that could not be read whole on stderr, once per process."""
  if path not in _WARNED:
    _WARNED.add(path)
    print(f'warning: {path}: {problem}.', file=sys.stderr, flush=True)


def scalars(run_dir: str, collection: str = 'train') -> dict[str, dict[int, float]]:
  """Tag -> {step: value} of one collection, e.g. 'train' or
  'training_eval/ptjf_synth.gd'. A resumed run's later files win."""
  pattern = os.path.join(run_dir, collection, 'events.out.tfevents.*')
  out = collections.defaultdict(dict)
  for path in sorted(tf.io.gfile.glob(pattern)):
    for event in events(path):
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == 'scalars':
          out[value.tag][event.step] = float(tf.make_ndarray(value.tensor))
  return dict(out)


def eval_tasks(run_dir: str) -> list[str]:
  """Tasks and mixtures with a training_eval collection, sorted."""
  root = os.path.join(run_dir, 'training_eval')
  return sorted(tf.io.gfile.listdir(root)) if tf.io.gfile.isdir(root) else []


def _eval_event_files(run_dir: str) -> list[str]:
  """The event files of the run's evaluations, of every split."""
  return [path for root in ('training_eval', 'inference_eval',
                            'test/inference_eval')
          for path in tf.io.gfile.glob(os.path.join(run_dir, root, '*',
                                                    'events.out.tfevents.*'))]


def evaluated(run_dir: str) -> list[str]:
  """Tasks and mixtures with event files for any split, twins included."""
  return sorted({os.path.basename(os.path.dirname(path))
                 for path in _eval_event_files(run_dir)})


def check_readable(run_dirs: Sequence[str]) -> None:
  """ValueError when the runs have evaluation event files and not one of
  them can be read (each is named in a warning)."""
  paths = [p for run_dir in run_dirs for p in _eval_event_files(run_dir)]
  if paths and not any(next(events(p), None) for p in paths):
    raise ValueError(f'none of the {len(paths)} evaluation event file(s) of '
                     f'{len(run_dirs)} run(s) can be read (each is named '
                     'above): nothing is left to show.')


def check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f'split {split!r} is not one of {", ".join(SPLITS)}.')


def evaluated_name(task: str, split: str) -> str:
  """The name `task`'s `split` is evaluated under: its twin for 'train'."""
  return task + training_split.TRAINING_SPLIT_SUFFIX if split == 'train' else task


def _collections(task: str, split: str) -> list[tuple[str, str]]:
  """(collection, tag prefix) where `task`'s `split` may be, in order."""
  check_split(split)
  if split == 'test':
    return [(f'test/inference_eval/{task}', 'eval/')]
  name = evaluated_name(task, split)
  return [(f'training_eval/{name}', ''), (f'inference_eval/{name}', 'eval/')]


def series(run_dir: str, task: str, metric: str,
           split: str = 'validation') -> dict[int, float]:
  """{step: value} of `task`'s `metric` on `split`; {} when never written."""
  for collection, prefix in _collections(task, split):
    values = scalars(run_dir, collection).get(prefix + metric)
    if values:
      return values
  return {}


def metrics(run_dir: str, task: str, split: str = 'validation') -> list[str]:
  """The metrics written for `task`'s `split`, sorted; [] when none."""
  found = set()
  for collection, prefix in _collections(task, split):
    found |= {t[len(prefix):] for t in scalars(run_dir, collection)
              if t.startswith(prefix)}
  return sorted(found)


def higher_is_better(metric: str, better: str = '') -> bool:
  """'higher' or 'lower' as given, else read from the metric's name (bleu,
  accuracy: higher; loss, cross_entropy: lower); ValueError if it says neither."""
  if better:
    if better not in ('higher', 'lower'):
      raise ValueError(f'--better={better!r}: give higher or lower.')
    return better == 'higher'
  name = metric.lower()
  if _HIGHER.search(name):
    return True
  if _LOWER.search(name):
    return False
  raise ValueError(f'metric {metric!r} does not say whether higher or lower is '
                   'better: pass --better=higher or --better=lower.')


def best(items: Iterable[T], higher: bool = False,
         value: Callable[[T], float] = float) -> Optional[T]:
  """The item of the best value, the lowest or (`higher`) the highest. A NaN
  (a diverged run) is never best, and of equal values the first wins: order
  the items by preference, e.g. earlier steps first. None if none is a number."""
  sign = -1 if higher else 1
  numbers = [x for x in items if not math.isnan(value(x))]
  return min(numbers, key=lambda x: sign * value(x), default=None)
