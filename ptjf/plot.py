r"""Plot the high- vs low-resource trade-off of a set of T5X runs (PNG, CSV).

Usage: ptjf plot RUN_DIR... [--high_task=TASK --low_task=TASK] [--metric=loss]
                 [--point=final|best] [--output=PREFIX]

A RUN_DIR is a T5X model directory (one with training_eval/) or a directory
searched, at any depth, for them, such as a sweep's root. Each run gives one
point: the --metric of its high-resource task (x) against that of its
low-resource task (y), both lower-is-better, at its final evaluation
(--point=final, as the paper plots each trial) or at the evaluation with the
lowest low-resource value (--point=best). A run's method is its directory's
name (pretrain, static, ptjf, transfer, restart: the arms of `ptjf run`); each
method gets a colour and a line through its non-dominated points, its
trade-off front. Writes PREFIX.png and PREFIX.csv (one row per run, marking
whether it is on its method's front, `pareto`, and on the front of all runs,
`pareto_all`) and prints the same table.

The tasks default to the HIGH_RESOURCE_TASK and LOW_RESOURCE_TASK macros of
the runs' config.gin. Runs found by searching that lack either task (a
pre-training evaluates only the high-resource task) are skipped with a note.

Example:
  ptjf plot /tmp/sweep --high_task=ptjf_synth.en --low_task=ptjf_synth.gd \
      --output=/tmp/plots/en_gd
"""

import csv
import dataclasses
import io
import math
import os
import re
import sys
from typing import Iterable, Optional, Sequence

from absl import app
from absl import flags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import tensorflow as tf

from ptjf import summaries

_HIGH_TASK = flags.DEFINE_string(
    'high_task', None, 'Evaluated task or mixture on the x axis; default: '
    "the HIGH_RESOURCE_TASK macro of the runs' config.gin.")
_LOW_TASK = flags.DEFINE_string(
    'low_task', None, 'Evaluated task or mixture on the y axis; default: '
    "the LOW_RESOURCE_TASK macro of the runs' config.gin.")
_METRIC = flags.DEFINE_string(
    'metric', 'loss', 'Scalar tag of the evaluations to compare, e.g. loss or '
    'cross_ent_loss; lower must be better (the fronts minimise both axes).')
_POINT = flags.DEFINE_enum(
    'point', 'final', ['final', 'best'], 'Which evaluation of each run: final, '
    'the last step at which both tasks were evaluated; best, the step with the '
    'lowest low-resource value.')
# tasks.train_vocab has an --output too; only the test suite imports both.
_OUTPUT = flags.DEFINE_string(
    'output', 'trade_off', 'Writes PREFIX.png and PREFIX.csv; parent '
    'directories are created. A directory gets trade_off.png/.csv inside.',
    allow_override=True)

# The arms of `ptjf run` keep their colour whichever runs are plotted.
METHOD_COLOURS = {'pretrain': 'tab:gray', 'static': 'tab:blue',
                  'ptjf': 'tab:red', 'transfer': 'tab:green',
                  'restart': 'tab:orange'}
EXTRA_COLOURS = ('tab:purple', 'tab:brown', 'tab:pink', 'tab:olive',
                 'tab:cyan')
CSV_COLUMNS = ('run_dir', 'method', 'step', 'high_task', 'high_{metric}',
               'low_task', 'low_{metric}', 'pareto', 'pareto_all')
_MACRO = re.compile(r"""^\s*(HIGH|LOW)_RESOURCE_TASK\s*=\s*['"]([^'"]+)['"]""",
                    re.MULTILINE)


@dataclasses.dataclass
class Point:
  """One run's measurement: x = high-resource metric, y = low-resource."""
  run_dir: str
  method: str
  step: int
  high: float
  low: float
  pareto: bool = False  # non-dominated among its method's runs
  pareto_all: bool = False  # non-dominated among all runs


class MissingSummaries(ValueError):
  """A run lacks a task's metric, or never evaluated both tasks at one step."""


def pareto_mask(points: Sequence[tuple[float, float]]) -> list[bool]:
  """Whether each (x, y) is non-dominated, both minimised: no other point is
  <= in both and < in one. Equal points don't dominate each other; a point
  with a NaN (a diverged run) is never on the front."""
  def dominates(a, b):
    return a[0] <= b[0] and a[1] <= b[1] and tuple(a) != tuple(b)
  return [not any(map(math.isnan, p)) and not any(dominates(q, p) for q in points)
          for p in points]


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


def config_macros(run_dirs: Iterable[str]) -> dict[str, dict[str, str]]:
  """'HIGH' and 'LOW' -> {task: first run whose config.gin sets it}."""
  macros = {'HIGH': {}, 'LOW': {}}
  for run_dir in run_dirs:
    path = os.path.join(run_dir, 'config.gin')
    if tf.io.gfile.exists(path):
      with tf.io.gfile.GFile(path) as f:
        for side, task in _MACRO.findall(f.read()):
          macros[side].setdefault(task, run_dir)
  return macros


def resolve_task(side: str, given: Optional[str],
                 macros: dict[str, dict[str, str]], evaluated: list[str]) -> str:
  """The flag's task, else the runs' agreed macro; either must be evaluated."""
  flag = f'--{side.lower()}_task'
  tasks = ', '.join(evaluated)
  if given:
    task, source = given, flag
  elif len(macros[side]) > 1:
    disagree = '; '.join(f'{t!r} in {r}' for t, r in macros[side].items())
    raise ValueError(f"the runs' config.gin disagree on {side}_RESOURCE_TASK "
                     f'({disagree}): pass {flag}.')
  elif not macros[side]:
    raise ValueError(f"no {flag} given and no {side}_RESOURCE_TASK in the runs' "
                     f'config.gin: pass --high_task and --low_task, from the '
                     f'tasks evaluated: {tasks}.')
  else:
    task, source = next(iter(macros[side])), f'{side}_RESOURCE_TASK of config.gin'
  if task not in evaluated:
    raise ValueError(f'{source} {task!r} was not evaluated by any run; the '
                     f'tasks evaluated are: {tasks}.')
  return task


def measure(run_dir: str, high: str, low: str, metric: str = 'loss',
            point: str = 'final') -> Point:
  """The run's (high, low) metric at its final step with both, or at the step
  of its lowest low-resource value ('best')."""
  series = []
  for task in (high, low):
    tags = summaries.scalars(run_dir, f'training_eval/{task}')
    if not tags.get(metric):
      evaluated = ', '.join(summaries.eval_tasks(run_dir)) or 'nothing'
      raise MissingSummaries(
          f'{run_dir}: its {task} evaluations have no {metric!r} scalar' if tags
          else f'{run_dir}: {task} was not evaluated (it evaluated {evaluated})')
    series.append(tags[metric])
  high_values, low_values = series
  steps = sorted(high_values.keys() & low_values.keys())
  if not steps:
    raise MissingSummaries(f'{run_dir}: {high} and {low} were never evaluated '
                           'at the same step')
  if point == 'final':
    step = steps[-1]
  else:  # a NaN is no best; ties go to the earlier step
    step = min(steps, key=lambda s: (math.isnan(low_values[s]), low_values[s], s))
  return Point(run_dir, method_of(run_dir), step, high_values[step],
               low_values[step])


def mark_fronts(points: list[Point]) -> None:
  """Sets `pareto` within each method and `pareto_all` over all points."""
  xy = lambda group: [(p.high, p.low) for p in group]
  for p, on in zip(points, pareto_mask(xy(points))):
    p.pareto_all = on
  for method in {p.method for p in points}:
    group = [p for p in points if p.method == method]
    for p, on in zip(group, pareto_mask(xy(group))):
      p.pareto = on


def collect(paths: Sequence[str], high_task: Optional[str] = None,
            low_task: Optional[str] = None, metric: str = 'loss',
            point: str = 'final') -> tuple[list[Point], str, str]:
  """(points sorted by method then x, high task, low task) of the runs at or
  below `paths`. Runs found by searching that lack a task are noted, skipped."""
  runs = find_runs(paths)
  evaluated = sorted({t for r in runs for t in summaries.eval_tasks(r)})
  macros = config_macros(runs)
  high = resolve_task('HIGH', high_task, macros, evaluated)
  low = resolve_task('LOW', low_task, macros, evaluated)
  if high == low:
    raise ValueError(f'the high- and low-resource tasks are both {high!r}: a '
                     'trade-off needs two tasks; give --high_task and '
                     f'--low_task from those evaluated: {", ".join(evaluated)}.')
  points = []
  for run_dir, named in runs.items():
    try:
      points.append(measure(run_dir, high, low, metric, point))
    except MissingSummaries as e:
      if named:
        raise
      print(f'note: skipped {e}.')
  if not points:
    raise ValueError(f'no run has {metric!r} evaluations of both {high} and {low}.')
  mark_fronts(points)
  return sorted(points, key=lambda p: (p.method, p.high, p.run_dir)), high, low


def draw(points: list[Point], high: str, low: str, metric: str = 'loss',
         point: str = 'final') -> Figure:
  """One marker per run coloured by method; a line through each method's front."""
  fig = Figure(figsize=(7, 5), dpi=120)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  for method, colour in method_colours(p.method for p in points).items():
    group = [p for p in points if p.method == method]
    ax.scatter([p.high for p in group], [p.low for p in group], color=colour,
               label=method, zorder=3)
    front = sorted((p.high, p.low) for p in group if p.pareto)
    if front:  # '_' keeps the line out of the legend, the marker names it
      ax.plot(*zip(*front), color=colour, gid=method, label=f'_{method} front')
  ax.set_xlabel(f'{high} {metric} (high-resource)')
  ax.set_ylabel(f'{low} {metric} (low-resource)')
  rule = ('final evaluation of each run' if point == 'final' else
          f'each run at its lowest {low} {metric}')
  ax.set_title(f'Trade-off fronts, lower is better: {rule}', fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(title='method')
  fig.tight_layout()
  return fig


def _bool(value: bool) -> str:
  return 'true' if value else 'false'


def rows(points: list[Point], high: str, low: str) -> list[list[str]]:
  """The CSV's rows, without the header."""
  return [[p.run_dir, p.method, str(p.step), high, repr(p.high), low,
           repr(p.low), _bool(p.pareto), _bool(p.pareto_all)] for p in points]


def table(points: list[Point], high: str, low: str, metric: str) -> str:
  """The CSV as aligned text, run_dir last."""
  header = ['method', 'step', f'{high} {metric}', f'{low} {metric}', 'pareto',
            'pareto_all', 'run_dir']
  lines = [header] + [[p.method, str(p.step), f'{p.high:.4f}', f'{p.low:.4f}',
                       _bool(p.pareto), _bool(p.pareto_all), p.run_dir]
                      for p in points]
  widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
  return '\n'.join('  '.join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                   for line in lines)


def output_prefix(output: str) -> str:
  """PREFIX of the files: a directory gets trade_off inside; .png/.csv drop."""
  if output.endswith('/') or tf.io.gfile.isdir(output):
    return os.path.join(output, 'trade_off')
  return re.sub(r'\.(png|csv)$', '', output)


def write(points: list[Point], fig: Figure, prefix: str, high: str, low: str,
          metric: str) -> tuple[str, str]:
  """Writes PREFIX.png and PREFIX.csv; returns their paths."""
  if os.path.dirname(prefix):
    tf.io.gfile.makedirs(os.path.dirname(prefix))
  png = io.BytesIO()
  fig.savefig(png, format='png')
  text = io.StringIO()
  writer = csv.writer(text, lineterminator='\n')
  writer.writerow([c.format(metric=metric) for c in CSV_COLUMNS])
  writer.writerows(rows(points, high, low))
  paths = prefix + '.png', prefix + '.csv'
  for path, content, mode in zip(paths, (png.getvalue(), text.getvalue()),
                                 ('wb', 'w')):
    with tf.io.gfile.GFile(path, mode) as f:
      f.write(content)
  return paths


def main(argv: Sequence[str]) -> None:
  if len(argv) < 2:
    sys.exit('error: no run directory given: ptjf plot RUN_DIR... [--flags] '
             '(ptjf plot --help).')
  try:  # everything is read and checked before anything is written
    points, high, low = collect(argv[1:], _HIGH_TASK.value, _LOW_TASK.value,
                                _METRIC.value, _POINT.value)
  except ValueError as e:
    sys.exit(f'error: {e}')
  print(table(points, high, low, _METRIC.value))
  fig = draw(points, high, low, _METRIC.value, _POINT.value)
  for path in write(points, fig, output_prefix(_OUTPUT.value), high, low,
                    _METRIC.value):
    print(f'wrote {path}')


if __name__ == '__main__':
  app.run(main)
