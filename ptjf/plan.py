r"""Prints what each stage of an experiment will train on, without training,
and draws its learning-rate schedule across the stages.

Usage: ptjf plan EXPERIMENT [--gin='NAME = VALUE']... [--max_epochs=4] [flags]

For each stage (see `ptjf run --help` for the stages of an experiment): the
steps it trains, batch, feature lengths and token slots; the learning rate at
its first step, the end of warm-up and its last step; and for each task of the
mixture its sampling rate, the examples and token slots it gets, its training
set in examples, and how many epochs of it that is. A stage that keeps the
previous stage's whole state (gin/phases/continue.gin) trains from that
stage's step to its own TRAIN_STEPS, its schedule going on. A last table sums
the stages per task, and a warning names every task repeated past
--max_epochs, where low-resource tasks overfit under static sampling.

How the numbers are counted:
  sequences = steps x batch x rate (packed rows, the unit a batch counts)
  token slots = sequences x (inputs + targets length), padding included
  examples = sequences x examples per sequence: exactly 1 for span corruption,
    whose examples fill the inputs; for other tasks 1 unless --packing_rows
    measures it on the real pipeline, so examples and epochs are lower bounds
    ('>=')
  training set: span-corruption tasks have (source tokens) / (tokens per
    chunk) examples, from mC4's mT5 token counts or, for other sources, the
    mean of 200 tokenized documents; other tasks count their source's examples
    (WMT: the paper's Table 1, or the size a new pair was added with);
    --task_size=TASK=EXAMPLES gives one the plan shows as '?', or overrides
    any.

--schedule_png=FILE.png (or an existing DIR) draws the learning rate across
the stages, each after the one before; without it nothing is written.

Example:
  ptjf plan ptjf_mc4_xxl --schedule_png=/tmp/ptjf_mc4_xxl_lr.png
"""

import dataclasses
import io
import os
import sys
from typing import Optional, Sequence

from absl import app
from absl import flags
from matplotlib import figure as mpl_figure
import numpy as np
import seqio

from mixtures import sizes
from mixtures import wmt as wmt_mixtures
from ptjf import bindings
from ptjf import datasets
from ptjf import experiment
from ptjf import outputs
from ptjf import phase
from ptjf import preflight
from ptjf import recipe
from ptjf import table
from tasks import span_corruption

flags.adopt_module_key_flags(bindings)
_MAX_EPOCHS = flags.DEFINE_float(
    'max_epochs', 4.0, 'Warn when a task is seen more often than this over the '
    'experiment (4 is where repeated data stopped helping in Muennighoff et al. '
    '2023).')
_SCHEDULE_PNG = flags.DEFINE_string(
    'schedule_png', None, 'Draw the learning rate over every stage into this '
    '.png file, or into <EXPERIMENT>_learning_rate.png in this existing '
    'directory; nothing is written without it.')
_TASK_SIZE = flags.DEFINE_multi_string(
    'task_size', [], 'TASK=EXAMPLES: the training set size of a task, in '
    'examples, where the plan cannot know it.')
_PACKING_ROWS = flags.DEFINE_integer(
    'packing_rows', 0, 'Measure examples per packed sequence on this many rows '
    "of each stage's real training pipeline (reads data).")

_LR_POINTS = 2000


@dataclasses.dataclass
class TaskPlan:
  task: str
  rate: float
  sequences: float
  examples: float
  token_slots: float
  dataset_examples: Optional[float]
  exact: bool  # False: examples per sequence assumed 1, so a lower bound

  @property
  def epochs(self) -> Optional[float]:
    return self.examples / self.dataset_examples if self.dataset_examples else None


@dataclasses.dataclass
class PhasePlan:
  run: phase.PhaseRun
  batch: int
  lengths: dict[str, int]
  learning_rates: list[float]  # at _LR_POINTS evenly spaced steps it trains
  milestones: dict[int, float]  # step -> learning rate at its first, WARMUP_STEPS, end
  tasks: list[TaskPlan]


def trained_steps(run: phase.PhaseRun) -> int:
  """The steps a stage trains: a kept state starts at the previous one's step."""
  return run.steps - run.first_step


def _rates(mixture_name: str) -> dict[str, float]:
  mixture = seqio.get_mixture_or_task(mixture_name)
  if isinstance(mixture, seqio.Mixture):
    total = sum(mixture.get_rate(t) for t in mixture.tasks)
    return {t.name: mixture.get_rate(t) / total for t in mixture.tasks}
  return {mixture.name: 1.0}


def dataset_examples(task_name: str, inputs_length: int,
                     given: dict[str, float]) -> Optional[float]:
  """A task's training set in examples at this inputs length (None: unknown)."""
  if task_name in given:
    return given[task_name]
  task = seqio.get_mixture_or_task(task_name)
  try:
    if span_corruption.is_span_corruption(task):
      return (sizes.source_tokens(task_name) /
              span_corruption.chunk_length_for(inputs_length)[0])
    if task_name in wmt_mixtures.ALL.sizes:  # sentence pairs: its examples
      return float(wmt_mixtures.ALL.sizes[task_name])
    return float(task.source.num_input_examples('train'))
  except Exception:  # pylint: disable=broad-except
    return None  # e.g. TFDS metadata not reachable: shown as unknown


def examples_per_sequence(mixture: str, lengths: dict[str, int], rows: int) -> float:
  """Mean examples packed into a row of the real training pipeline."""
  model = recipe.value('MODEL')
  dataset = seqio.get_dataset(
      mixture, lengths, dataset_split='train', shuffle=True, seed=0, num_epochs=None,
      feature_converter=model.FEATURE_CONVERTER_CLS(pack=True))
  key = next(k for k in ('encoder_segment_ids', 'decoder_segment_ids')
             if k in dataset.element_spec)
  counts = [int(x[key].max()) for x in dataset.take(rows).as_numpy_iterator()]
  return sum(counts) / len(counts)


def logged_learning_rates(steps: Sequence[int]) -> list[float]:
  """The learning rate T5X logs at each step (learning_rate/current): the
  parsed config's own schedule at step - 1, the state's step when the update
  that reaches the step is applied (t5x.trainer.Trainer.train_step)."""
  schedule = recipe.value('trainer.Trainer.learning_rate_fn')
  return [float(schedule(int(s) - 1)) for s in steps]


def _warmup() -> Optional[int]:
  try:
    return recipe.value('WARMUP_STEPS')
  except ValueError:
    return None


def plan_phase(run: phase.PhaseRun, gin_files: Sequence[str],
               given_sizes: dict[str, float], packing_rows: int) -> PhasePlan:
  """Re-parses the stage's config and counts what it trains on."""
  run.parse(gin_files)
  batch, lengths = recipe.value('BATCH_SIZE'), recipe.value('TASK_FEATURE_LENGTHS')
  mixture = datasets.mixture_read()
  per_sequence = (examples_per_sequence(mixture, lengths, packing_rows)
                  if packing_rows else None)
  first = run.first_step + 1  # the step its first update reaches
  steps = np.linspace(first, run.steps, _LR_POINTS).round().astype(np.int32)
  learning_rates = logged_learning_rates(steps)
  warmup = _warmup()
  marks = sorted({first, run.steps,
                  *([warmup] if warmup and first < warmup < run.steps else [])})
  milestones = dict(zip(marks, logged_learning_rates(marks)))
  slots = sum(lengths.values())
  tasks = []
  for task, rate in _rates(mixture).items():
    sequences = trained_steps(run) * batch * rate
    exact = span_corruption.is_span_corruption(seqio.get_mixture_or_task(task))
    factor = 1.0 if exact else (per_sequence or 1.0)
    tasks.append(TaskPlan(task, rate, sequences, sequences * factor,
                          sequences * slots,
                          dataset_examples(task, lengths['inputs'], given_sizes),
                          exact or per_sequence is not None))
  return PhasePlan(run, batch, lengths, learning_rates, milestones, tasks)


def number(x: Optional[float], exact: bool = True) -> str:
  if x is None:
    return '?'
  text = f'{x:,.0f}' if x >= 100 else f'{x:.3g}'
  return text if exact else '>=' + text


def print_plan(plans: Sequence[PhasePlan], max_epochs: float) -> list[str]:
  """Prints the tables; returns the warnings."""
  for i, p in enumerate(plans, 1):
    run, trained = p.run, trained_steps(p.run)
    lengths = ' / '.join(f'{k} {v:,}' for k, v in p.lengths.items())
    kept = (f' (its state kept: steps {run.first_step + 1:,} to {run.steps:,})'
            if run.first_step else '')
    print(f'\n[{i}/{len(plans)}] {run.phase.arm}: '
          f'{os.path.relpath(run.phase.recipe, recipe.REPO)}\n'
          f'  steps {trained:,}{kept}  batch {p.batch:,}  lengths {lengths}  '
          f'token slots {trained * p.batch * sum(p.lengths.values()):,}\n'
          '  learning rate ' + ', '.join(f'{lr:.4g} at step {s:,}'
                                         for s, lr in p.milestones.items())
          + f' (max {max(*p.learning_rates, *p.milestones.values()):.4g}; '
          'as T5X logs it, the rate of the update that reaches the step)')
    _print_tasks(p.tasks, with_rate=True)
  if len(plans) > 1:
    print('\nboth phases' if len(plans) == 2 else f'\nall {len(plans)} stages')
    _print_tasks(sum_tasks(plans), with_rate=False)
  total = sum_tasks(plans)
  if unknown := [t.task for t in total if t.dataset_examples is None]:
    print(f'\n  ? = training set unknown ({", ".join(unknown)}): give it in '
          f'examples for its epochs, --task_size={unknown[0]}=EXAMPLES '
          '(once per task).')
  return [f'{t.task} is seen {number(t.epochs, t.exact)} epochs, past '
          f'--max_epochs={max_epochs:g}: expect it to overfit (fewer steps or a '
          'lower rate on it help).' for t in total
          if t.epochs is not None and t.epochs > max_epochs]


def sum_tasks(plans: Sequence[PhasePlan]) -> list[TaskPlan]:
  totals: dict[str, TaskPlan] = {}
  for p in plans:
    for t in p.tasks:
      if t.task in totals:
        s = totals[t.task]
        totals[t.task] = TaskPlan(t.task, 0.0, s.sequences + t.sequences,
                                  s.examples + t.examples,
                                  s.token_slots + t.token_slots,
                                  s.dataset_examples, s.exact and t.exact)
      else:
        totals[t.task] = dataclasses.replace(t)
  return list(totals.values())


def _print_tasks(tasks: Sequence[TaskPlan], with_rate: bool) -> None:
  header = ['task', *(['rate'] if with_rate else []), 'sequences', 'examples',
            'token slots', 'training set', 'epochs']
  rows = [[t.task, *([f'{t.rate:.6f}'] if with_rate else []),
           number(t.sequences), number(t.examples, t.exact),
           number(t.token_slots), number(t.dataset_examples),
           number(t.epochs, t.exact)] for t in tasks]
  print(table.aligned([header, *rows], right=True, indent='  '))


# How a boundary is drawn, by what the stage after it carries.
_BOUNDARY = {'parameters': (':', 'optimizer and warm-up reset at the dotted line'),
             'state': ('--', 'only the data changes at the dashed line')}


def boundaries(plans: Sequence[PhasePlan]) -> list[tuple[int, str]]:
  """(steps trained before it, what the next stage carries) per boundary."""
  ends = np.cumsum([trained_steps(p.run) for p in plans])
  return [(int(end), p.run.phase.carry) for end, p in zip(ends, plans[1:])]


def schedule_title(plans: Sequence[PhasePlan]) -> str:
  if len(plans) == 1:
    return 'Learning rate'
  notes = [_BOUNDARY[carry][1] for carry in _BOUNDARY
           if carry in {c for _, c in boundaries(plans)}]
  if len(plans) == 2:
    return f'Learning rate across phases ({"; ".join(notes)})'
  return f'Learning rate across {len(plans)} stages\n({"; ".join(notes)})'


def plot_learning_rate(plans: Sequence[PhasePlan], path: str) -> None:
  """The learning rate against the steps the experiment has trained, one
  colour per stage, each after the one before."""
  figure = mpl_figure.Figure(figsize=(8, 4))  # no pyplot: no GUI backend
  axes = figure.subplots()
  offset = 0
  for p in plans:
    steps = offset + np.linspace(1, trained_steps(p.run), len(p.learning_rates))
    axes.plot(steps, p.learning_rates, label=f'{p.run.phase.arm} '
              f'({os.path.basename(p.run.phase.recipe)})')
    offset += trained_steps(p.run)
  for step, carry in boundaries(plans):
    axes.axvline(step, color='grey', linestyle=_BOUNDARY[carry][0], linewidth=1)
  axes.set_xlabel('step of the experiment')
  axes.set_ylabel('learning rate')
  title = schedule_title(plans)
  axes.set_title(title, fontsize='medium' if '\n' in title else 'large')
  axes.legend()
  figure.tight_layout()
  png = io.BytesIO()
  figure.savefig(png, format='png', dpi=120)
  outputs.write({path: png.getvalue()})


def _given_sizes(values: Sequence[str]) -> dict[str, float]:
  out = {}
  for value in values:
    task, _, size = value.partition('=')
    try:
      out[task] = float(size)
    except ValueError:
      out[task] = 0.0
    if not out[task] > 0:
      raise ValueError(f'--task_size={value!r}: expected TASK=EXAMPLES with '
                           'a positive number, e.g. ptjf_wmt.en_ro=610000.')
  return out


def schedule_path(given: Optional[str], name: str) -> Optional[str]:
  """Where --schedule_png asks for the PNG: a file, or a directory that
  exists, to hold <EXPERIMENT>_learning_rate.png; None when not asked."""
  if not given:
    return None
  if os.path.isdir(given):
    stem = os.path.basename(name).removesuffix('.gin')
    return os.path.join(given, f'{stem}_learning_rate.png')
  if not given.endswith('.png'):
    raise ValueError(f'--schedule_png={given!r} is neither an existing '
                     'directory nor a .png file.')
  outputs.check(given, f'--schedule_png={given}')
  return given


def main(argv):
  try:
    name = experiment.from_argv(argv)
    if _MAX_EPOCHS.value <= 0 or _PACKING_ROWS.value < 0:
      raise ValueError('--max_epochs must be > 0 and --packing_rows >= 0.')
    given = _given_sizes(_TASK_SIZE.value)
    output = schedule_path(_SCHEDULE_PNG.value, name)
    recipe.require_t5x()
    extra = bindings.pass_through_from_flags()
    runs = preflight.prepare(name, '<workdir>', gin_files=extra.gin_files,
                             tfds_data_dir=extra.tfds_data_dir,
                             check_data=False, **extra.bindings)
  except ValueError as e:  # PreflightError included
    sys.exit(f'error: {e}')
  plans = [plan_phase(r, extra.gin_files, given, _PACKING_ROWS.value)
           for r in runs]
  warnings = print_plan(plans, _MAX_EPOCHS.value)
  for warning in warnings:
    print(f'\nwarning: {warning}', end='')
  if output:
    try:
      plot_learning_rate(plans, output)
    except outputs.WriteError as e:
      sys.exit(f'error: {e}')
    print(f'\n\nLearning-rate schedule: {output}')
  else:
    print('\n\n--schedule_png=FILE.png or DIR draws the learning-rate '
          'schedule.')


if __name__ == '__main__':
  app.run(main)
