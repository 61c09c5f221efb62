"""Checks the datasets a parsed recipe trains and evaluates on, before T5X
builds them: every task is registered and has the split read, the feature
lengths fit the task's objective, the TFDS versions named exist, and the
vocabulary files exist.

Each problem raises ValueError with one line naming the bad value and the fix.
"""

import os

import seqio

from ptjf import recipe
from tasks import span_corruption

# T5X's run files pass these DatasetConfigs to train(); None skips one.
_CONFIGS = {'train': 'train_script.train.train_dataset_cfg',
            'train_eval': 'train_script.train.train_eval_dataset_cfg'}


def mixture_read(role: str = 'train') -> str:
  """The mixture a parsed config's DatasetConfig reads; a UniMax one is
  registered on the way (mixtures.registry.run_mixture)."""
  return recipe.value(_CONFIGS[role]).mixture_or_task_name


def _tasks(name: str) -> list[seqio.Task]:
  try:
    provider = seqio.get_mixture_or_task(name)
  except ValueError as e:
    raise ValueError(f'{name!r} is not a registered seqio task or mixture '
                     '(see python -m mixtures.show --list).') from e
  if isinstance(provider, seqio.Mixture):
    return list(provider.tasks)
  return [provider]


def _check_lengths(task: seqio.Task, lengths: dict[str, int]) -> str:
  """What the lengths must be for `task`; raises when they are not."""
  if missing := sorted(set(task.output_features) - set(lengths)):
    raise ValueError(f'TASK_FEATURE_LENGTHS {lengths} has no length for '
                     f'{", ".join(missing)} of task {task.name}.')
  if not span_corruption.is_span_corruption(task):
    return ''
  _, needed = span_corruption.chunk_length_for(lengths['inputs'])
  if lengths['targets'] < needed:
    raise ValueError(
        f"TASK_FEATURE_LENGTHS targets {lengths['targets']} is too short for "
        f"span corruption of {lengths['inputs']} input tokens (task "
        f'{task.name}): it produces {needed} target tokens; set targets to at '
        f'least {needed}.')
  return f'span corruption needs targets >= {needed}'


def _check_vocabulary(vocabulary: seqio.Vocabulary, owner: str) -> str:
  """Local files are checked; gs:// ones only where T5X runs."""
  path = getattr(vocabulary, 'sentencepiece_model_file', '')
  if not path or '://' in path:
    return path
  if hasattr(vocabulary, 'check_file'):
    try:
      vocabulary.check_file()
    except FileNotFoundError as e:
      raise ValueError(f'{owner}: {e}') from e
  elif not os.path.exists(path):
    raise ValueError(f'{owner}: SentencePiece model {path!r} does not exist; '
                     'give an existing .model file.')
  return path


def check() -> list[str]:
  """Checks the datasets of the parsed config; returns what was checked."""
  report, vocabularies = [], {}
  for role, binding in _CONFIGS.items():
    cfg = recipe.value(binding)
    if cfg is None:
      continue
    tasks = _tasks(cfg.mixture_or_task_name)
    needs, tfds_names = set(), set()
    for task in tasks:
      if isinstance(task.source, seqio.TfdsDataSource):  # a bad version fails here
        tfds_names.add(task.source.tfds_dataset.name)
      if cfg.split not in task.splits:
        raise ValueError(
            f'task {task.name} of {cfg.mixture_or_task_name} has no '
            f'{cfg.split!r} split, which {role} reads; its splits: '
            f'{", ".join(task.splits)}.')
      needs.add(_check_lengths(task, cfg.task_feature_lengths))
      for feature in task.output_features.values():
        vocabularies[feature.vocabulary] = f'task {task.name}'
    lengths = ', '.join(f'{k} {v}' for k, v in cfg.task_feature_lengths.items())
    report.append(f'{role}: {cfg.mixture_or_task_name} ({len(tasks)} '
                  f'task{"s" * (len(tasks) > 1)}, '
                  f'split {cfg.split!r}), lengths {lengths}'
                  + ''.join(f'; {n}' for n in sorted(needs) if n)
                  + ''.join(f'; TFDS {n}' for n in sorted(tfds_names)))
  model = recipe.value('MODEL')
  vocabularies[model.input_vocabulary] = 'the model'
  vocabularies[model.output_vocabulary] = 'the model'
  paths = {_check_vocabulary(v, owner) for v, owner in vocabularies.items()}
  report.append('vocabulary: ' + ', '.join(
      f'{_shown(p)} (remote: read by t5x.train)' if '://' in p else _shown(p)
      for p in sorted(p for p in paths if p)))
  return report


def _shown(path: str) -> str:
  inside = path.startswith(recipe.REPO + os.sep)
  return os.path.relpath(path, recipe.REPO) if inside else path
