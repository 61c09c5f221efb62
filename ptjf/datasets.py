"""Checks the datasets a parsed recipe trains and evaluates on, before T5X
builds them: every task is registered and has the split read, the feature
lengths fit the task's objective, the TFDS datasets read are prepared in the
versions named, files of file sources match, mC4's JSON shards are there for
every language and split read (where MC4_JSON_DIR is bound), and the
vocabulary files exist.

Each problem raises ValueError with one line naming the bad value and the fix.
"""

import os

import seqio
import tensorflow as tf

from ptjf import recipe
from tasks import mc4
from tasks import mc4_json
from tasks import span_corruption
from tasks import training_split

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


def source_read(source: seqio.DataSource, split: str) -> tuple[seqio.DataSource, str]:
  """What reading `split` of `source` reads underneath: a training-split twin
  reads its task's 'train' split."""
  if isinstance(source, training_split.TrainingSplitSource):
    return source_read(source.source, 'train')
  return source, split


def reads() -> dict[str, list[tuple[seqio.Task, seqio.DataSource, str]]]:
  """(task, source, split) of every task each DatasetConfig of the parsed
  config reads, by role ('train', 'train_eval')."""
  found = {}
  for role, binding in _CONFIGS.items():
    cfg = recipe.value(binding)
    if cfg is not None:
      found[role] = [(task, *source_read(task.source, cfg.split))
                     for task in _tasks(cfg.mixture_or_task_name)]
  return found


def mc4_json_reads(found) -> set[tuple[str, str]]:
  """(language, split) of the mC4 JSON shards `found` (reads()) needs."""
  return {(source.lang, split) for role in found.values()
          for _, source, split in role if isinstance(source, mc4.Mc4Source)}


class LengthsError(ValueError):
  """TASK_FEATURE_LENGTHS do not fit a task: a refusal names where the
  lengths were given."""


def _check_lengths(task: seqio.Task, lengths: dict[str, int]) -> str:
  """What the lengths must be for `task`; raises LengthsError when they
  are not."""
  if missing := sorted(set(task.output_features) - set(lengths)):
    raise LengthsError(f'TASK_FEATURE_LENGTHS {lengths} has no length for '
                     f'{", ".join(missing)} of task {task.name}.')
  if not span_corruption.is_span_corruption(task):
    return ''
  _, needed = span_corruption.chunk_length_for(lengths['inputs'])
  if lengths['targets'] < needed:
    raise LengthsError(
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


def check(data_present: bool = True) -> tuple[list[str], list[str]]:
  """Checks the datasets of the parsed config; returns what was checked, and
  the remote vocabulary files, which only the host that trains can read.
  `data_present=False` skips looking for the data itself, TFDS's prepared
  datasets and mC4's JSON shards (ptjf plan, compile and data work before
  they are downloaded)."""
  report, vocabularies, prepared, files = [], {}, {}, {}
  for role, binding in _CONFIGS.items():
    cfg = recipe.value(binding)
    if cfg is None:
      continue
    tasks = _tasks(cfg.mixture_or_task_name)
    needs, tfds_names = set(), set()
    for task in tasks:
      source, split = source_read(task.source, cfg.split)
      if isinstance(source, mc4.Mc4Source):  # TFDS, or JSON shards checked below
        source = source.chosen()
      elif isinstance(source, seqio.FileDataSource):  # e.g. a user's text files
        files[(task.name, split)] = source
      if isinstance(source, seqio.TfdsDataSource):  # a bad version fails here
        tfds_names.add(source.tfds_dataset.name)
        prepared[source.tfds_dataset.name] = source.tfds_dataset
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
  if data_present:
    for name, loader in sorted(prepared.items()):
      _check_prepared(name, loader)
    for (name, split), source in sorted(files.items()):
      _check_files(name, split, source)
  if (directory := mc4.mc4_json_dir()) and data_present:
    report.append(_mc4_json_line(directory, mc4_json_reads(reads())))
  model = recipe.value('MODEL')
  vocabularies[model.input_vocabulary] = 'the model'
  vocabularies[model.output_vocabulary] = 'the model'
  paths = {_check_vocabulary(v, owner) for v, owner in vocabularies.items()}
  report.append('vocabulary: ' + ', '.join(
      f'{_shown(p)} (remote)' if '://' in p else _shown(p)
      for p in sorted(p for p in paths if p)))
  return report, sorted(p for p in paths if '://' in p)


def _check_prepared(name: str, loader: seqio.LazyTfdsLoader) -> None:
  """TFDS has built `name` under the data directory t5x.train reads."""
  try:  # TFDS reads the dataset's info as it makes the builder
    path = loader.builder.data_dir
    found = tf.io.gfile.exists(os.path.join(path, 'dataset_info.json'))
  except Exception as e:  # pylint: disable=broad-except
    where = loader.data_dir or "TFDS's default data dir"
    raise ValueError(f'TFDS {name} under {where} cannot be read: '
                     f'{str(e).splitlines()[0][:200]}') from e
  also = (' or read AllenAI\'s JSON release with MC4_JSON_DIR'
          if name.startswith(mc4.TFDS_NAME) else '')
  if not found:
    raise ValueError(
        f'TFDS {name} is not prepared: {path} holds no dataset_info.json. '
        f'Give --tfds_data_dir=DIR where it is built{also}; ptjf data '
        'EXPERIMENT prints how to get it.')


def _check_files(name: str, split: str, source: seqio.FileDataSource) -> None:
  """Local files of a split exist: seqio lists a name without a wildcard
  as it is, and only reading it would fail (remote ones are t5x.train's)."""
  listed = source.list_shards(split)  # globs the patterns once
  if any('://' in f for f in listed):
    return
  missing = [f for f in listed if not os.path.exists(f)]
  if missing or not listed:
    raise ValueError(f'task {name}: its {split!r} split reads '
                     f'{", ".join(missing) or "no file"} ({source}); give '
                     'files that exist.')


def _mc4_json_line(directory: str, needed: set[tuple[str, str]]) -> str:
  """Checks the shards are there (raises ValueError); what was found."""
  if not needed:
    return f'mC4 JSON: {directory} (no mC4 task read)'
  found = mc4_json.check_present(directory, needed)
  releases = sorted({s.release for s in found})
  return (f'mC4 JSON: {directory}, release {releases[0]}: '
          + ', '.join(f'{s.name} {len(s.files)} file{"s" * (len(s.files) > 1)}'
                      for s in found))


def _shown(path: str) -> str:
  inside = path.startswith(recipe.REPO + os.sep)
  return os.path.relpath(path, recipe.REPO) if inside else path
