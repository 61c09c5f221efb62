r"""Prints the rate table of registered mixtures before any compute is spent.

  python -m mixtures.show ptjf_mc4.tau3.33 [more names] [--module=my_tasks]
  python -m mixtures.show --preview ptjf_synth.tau3.33   # and a packed batch

For each task: its size, its share if sampled in proportion to size, the
mixture's rate, and the expected share of the examples it will supply.
--preview also draws one packed batch through seqio's EncDecFeatureConverter
(the data must be reachable: the synthetic corpus always is).
"""

import dataclasses
import importlib
import sys
from typing import Optional, Sequence

from absl import app
from absl import flags
import seqio

import mixtures  # registers the tasks and mixtures
from mixtures import registry
from mixtures import sizes as sizes_lib
from ptjf import table

_LIST = flags.DEFINE_bool('list', False, 'List registered mixtures.')
_PREVIEW = flags.DEFINE_bool(
    'preview', False, 'Also decode examples and pack one batch.')
_INPUTS_LENGTH = flags.DEFINE_integer('inputs_length', 512,
                                      'Inputs length of --preview.')
_TARGETS_LENGTH = flags.DEFINE_integer('targets_length', 114,
                                       'Targets length of --preview.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 8, 'Batch of --preview.')
if 'module' not in flags.FLAGS:  # shared with tasks.train_vocab
  flags.DEFINE_multi_string('module', [], 'Extra modules to import first, '
                            'e.g. ones that register your own tasks.')


@dataclasses.dataclass(frozen=True)
class Row:
  task: str
  size: Optional[float]
  unit: str
  natural_share: Optional[float]  # size / total size of the mixture's tasks
  rate: float
  share: float  # rate / total rate: the expected fraction of examples


def rate_table(name: str) -> list[Row]:
  """Rows of a registered mixture (or a task, as a one-task mixture)."""
  if name in registry.UNIMAX and name not in seqio.MixtureRegistry.names():
    raise ValueError(
        f'{name} takes its budget from the run that reads it: `ptjf plan '
        f'RECIPE --gin="MIXTURE_OR_TASK_NAME=\'{name}\'"` shows its rates and '
        'epochs.')
  if name not in seqio.MixtureRegistry.names() | seqio.TaskRegistry.names():
    raise ValueError(f'unknown mixture or task {name!r}: '
                     '`python -m mixtures.show --list` lists the registered '
                     'mixtures.')
  provider = seqio.get_mixture_or_task(name)
  if isinstance(provider, seqio.Task):
    task_rates = {name: 1.0}
  else:
    task_rates = {t.name: provider.get_rate(t) for t in provider.tasks}
  known = {}
  if name in registry.MIXTURE_SIZES:
    task_sizes, unit = registry.MIXTURE_SIZES[name]
    known = {task: (size, unit) for task, size in task_sizes.items()}
  for task in task_rates.keys() - known.keys():
    try:
      known[task] = (sizes_lib.seqio_sizes([task])[task], 'examples')
    except ValueError:
      pass  # size unknown: printed as '?'
  units = {unit for _, unit in known.values()}
  total_size = (sum(size for size, _ in known.values())
                if len(known) == len(task_rates) and len(units) == 1 else None)
  total_rate = sum(task_rates.values())
  rows = []
  for task, rate in task_rates.items():
    size, unit = known.get(task, (None, '?'))
    rows.append(Row(task=task, size=size, unit=unit,
                    natural_share=size / total_size if total_size else None,
                    rate=rate, share=rate / total_rate))
  return rows


def _number(value: Optional[float]) -> str:
  if value is None:
    return '?'
  if value >= 1000 or float(value).is_integer():
    return f'{value:,.0f}'
  return f'{value:g}'


def _percent(value: Optional[float]) -> str:
  return '?' if value is None else f'{100 * value:.4g}%'


def format_table(name: str, rows: Sequence[Row]) -> str:
  units = sorted({r.unit for r in rows})
  header = ('task', 'size', 'natural share', 'rate', 'share of examples')
  body = [(r.task, _number(r.size), _percent(r.natural_share), f'{r.rate:.6g}',
           _percent(r.share)) for r in rows]
  return (f'{name}: {len(rows)} task(s); size unit: {", ".join(units)}\n'
          + table.aligned([header, *body], right=True))


def preview(name: str, inputs_length: int, targets_length: int,
            batch_size: int) -> str:
  """Two decoded examples and the shape and fill of one packed batch."""
  lengths = {'inputs': inputs_length, 'targets': targets_length}
  provider = seqio.get_mixture_or_task(name)
  vocabulary = provider.output_features['targets'].vocabulary
  raw = provider.get_dataset(lengths, split='train', shuffle=True, seed=0)
  lines = []
  for i, example in enumerate(raw.take(2).as_numpy_iterator()):
    for key in ('inputs', 'targets'):
      text = vocabulary.decode(example[key].tolist())
      lines.append(f'example {i} {key}: {text[:160]}')
  batch = next(seqio.get_dataset(
      name, lengths, seqio.EncDecFeatureConverter(pack=True),
      dataset_split='train', shuffle=True, seed=0, num_epochs=None,
      batch_size=batch_size).as_numpy_iterator())
  for key in ('encoder_input_tokens', 'decoder_target_tokens'):
    fill = (batch[key] != 0).mean()
    lines.append(f'packed batch {key}: shape {batch[key].shape}, '
                 f'{100 * fill:.1f}% non-padding')
  return '\n'.join(lines)


def import_module(name: str) -> None:
  """Imports a --module; raises ValueError when the module itself is not
  found (a module it imports that is missing is the module's own bug)."""
  try:
    importlib.import_module(name)
  except ModuleNotFoundError as e:
    if not e.name or not (name == e.name or name.startswith(e.name + '.')):
      raise
    raise ValueError(f'--module={name}: no module named {e.name!r} on the '
                     'Python path; run from the directory that holds it or '
                     'add that directory to PYTHONPATH.') from None


def main(argv: Sequence[str]) -> None:
  names = argv[1:]
  try:
    for module in flags.FLAGS.module:
      import_module(module)
  except ValueError as e:
    sys.exit(f'error: {e}')
  if _LIST.value:
    print('\n'.join(sorted(seqio.MixtureRegistry.names() |
                           registry.UNIMAX.keys())))
    return
  if not names:
    raise app.UsageError('give one or more mixture names, e.g. '
                         'python -m mixtures.show ptjf_mc4.tau3.33')
  for name in names:
    try:
      print(format_table(name, rate_table(name)), end='\n\n')
      if _PREVIEW.value:
        print(preview(name, _INPUTS_LENGTH.value, _TARGETS_LENGTH.value,
                      _BATCH_SIZE.value), end='\n\n')
    except ValueError as e:
      sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main)
