"""The T5X runs below a set of directories, and the method each belongs to."""

import os
from typing import Iterable, Sequence

import tensorflow as tf

# The arms of `ptjf run` keep their colour whichever runs are plotted.
METHOD_COLOURS = {'pretrain': 'tab:gray', 'static': 'tab:blue',
                  'ptjf': 'tab:red', 'transfer': 'tab:green',
                  'restart': 'tab:orange', 'cooldown': 'tab:purple',
                  'ptjfcool': 'tab:brown'}
EXTRA_COLOURS = ('tab:pink', 'tab:olive', 'tab:cyan')  # the rest of tab10


def method_of(run_dir: str) -> str:
  """The arm `ptjf run` named the directory after, or whatever it is called."""
  return os.path.basename(run_dir.rstrip('/'))


def method_colours(methods: Iterable[str]) -> dict[str, str]:
  """Colour of each method: the arms' fixed ones, others in name order."""
  methods = sorted(set(methods))
  others = [m for m in methods if m not in METHOD_COLOURS]
  extra = {m: EXTRA_COLOURS[i % len(EXTRA_COLOURS)] for i, m in enumerate(others)}
  return {m: METHOD_COLOURS.get(m) or extra[m] for m in methods}


def is_run(path: str) -> bool:
  return tf.io.gfile.isdir(os.path.join(path, 'training_eval'))


def find_runs(paths: Sequence[str]) -> dict[str, bool]:
  """Run directory -> whether it was named itself (else found below a path)."""
  runs = {}
  for path in paths:
    path = path.rstrip('/') or '/'
    if is_run(path):
      runs[path] = True
      continue
    found = []
    for parent, subdirs, _ in tf.io.gfile.walk(path):
      if is_run(parent):
        found.append(parent)
        subdirs.clear()  # checkpoints and summaries hold no further runs
    if not found:
      missing = '' if tf.io.gfile.exists(path) else ' (it does not exist)'
      raise ValueError('no T5X evaluation summaries (training_eval/) were found '
                       f'below {path!r}{missing}.')
    for run_dir in sorted(found):
      runs.setdefault(run_dir, False)
  return runs
