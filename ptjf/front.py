"""The trade-off front of two tasks over a set of T5X runs: `ptjf plot
--kind=front` (Fig. 2).

Each run gives one point, its high-resource task's metric (x) against its
low-resource task's (y), at its final evaluation or at its best low-resource
value; each method's non-dominated points are its front.
"""

import dataclasses
import math
import os
import re
from typing import Iterable, Optional, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import tensorflow as tf

from ptjf import runs as runs_lib
from ptjf import summaries
from ptjf import table

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


def pareto_mask(points: Sequence[tuple[float, float]],
                higher: bool = False) -> list[bool]:
  """Whether each (x, y) is non-dominated, both minimised (maximised if
  `higher`): no other point is as good in both and better in one. Equal
  points don't dominate each other; a point with a NaN (a diverged run) is
  never on the front."""
  sign = -1 if higher else 1
  def dominates(a, b):
    return (sign * a[0] <= sign * b[0] and sign * a[1] <= sign * b[1]
            and tuple(a) != tuple(b))
  return [not any(map(math.isnan, p)) and not any(dominates(q, p) for q in points)
          for p in points]


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


def read(run_dir: str, task: str, metric: str, split: str) -> dict[int, float]:
  """{step: value}; MissingSummaries saying what the run has instead."""
  values = summaries.series(run_dir, task, metric, split)
  if values:
    return values
  on = '' if split == 'validation' else f' on the {split} split'
  if found := summaries.metrics(run_dir, task, split):
    named = [m for m in found if '/' not in m] or found  # not timing/... etc.
    raise MissingSummaries(f'{run_dir}: its {task} evaluations{on} have no '
                           f'{metric!r} scalar (they have {", ".join(named)})')
  evaluated = ', '.join(summaries.eval_tasks(run_dir)) or 'nothing'
  raise MissingSummaries(f'{run_dir}: {task} was not evaluated{on} (it '
                         f'evaluated {evaluated})')


def measure(run_dir: str, high: str, low: str, metric: str = 'loss',
            point: str = 'final', split: str = 'validation',
            higher: bool = False) -> Point:
  """The run's (high, low) metric at its final step with both, or at the step
  of its best low-resource value ('best')."""
  high_values, low_values = (read(run_dir, t, metric, split) for t in (high, low))
  steps = sorted(high_values.keys() & low_values.keys())
  if not steps:
    raise MissingSummaries(f'{run_dir}: {high} and {low} were never evaluated '
                           'at the same step')
  if point == 'final':
    step = steps[-1]
  else:  # ties go to the earlier step; a run with only NaNs gets its first
    step = summaries.best(steps, higher, low_values.get)
    step = steps[0] if step is None else step
  return Point(run_dir, runs_lib.method_of(run_dir), step, high_values[step],
               low_values[step])


def mark_fronts(points: list[Point], higher: bool = False) -> None:
  """Sets `pareto` within each method and `pareto_all` over all points."""
  xy = lambda group: [(p.high, p.low) for p in group]
  for p, on in zip(points, pareto_mask(xy(points), higher)):
    p.pareto_all = on
  for method in {p.method for p in points}:
    group = [p for p in points if p.method == method]
    for p, on in zip(group, pareto_mask(xy(group), higher)):
      p.pareto = on


def collect(paths: Sequence[str], high_task: Optional[str] = None,
            low_task: Optional[str] = None, metric: str = 'loss',
            point: str = 'final', split: str = 'validation',
            higher: bool = False) -> tuple[list[Point], str, str]:
  """(points sorted by method then x, high task, low task) of the runs at or
  below `paths`. Runs found by searching that lack a task are noted, skipped."""
  runs = runs_lib.find_runs(paths)
  summaries.check_readable(list(runs))
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
      points.append(measure(run_dir, high, low, metric, point, split, higher))
    except MissingSummaries as e:
      if named:
        raise
      print(f'note: skipped {e}.')
  if not points:
    raise ValueError(f'no run has {metric!r} evaluations of both {high} and '
                     f'{low}' + ('' if split == 'validation' else
                                 f' on the {split} split') + '.')
  mark_fronts(points, higher)
  return sorted(points, key=lambda p: (p.method, p.high, p.run_dir)), high, low


def draw(points: list[Point], high: str, low: str, metric: str = 'loss',
         point: str = 'final', split: str = 'validation',
         higher: bool = False) -> Figure:
  """One marker per run coloured by method; a line through each method's front."""
  fig = Figure(figsize=(7, 5), dpi=120)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  for method, colour in runs_lib.method_colours(p.method for p in points).items():
    group = [p for p in points if p.method == method]
    ax.scatter([p.high for p in group], [p.low for p in group], color=colour,
               label=method, zorder=3)
    front = sorted((p.high, p.low) for p in group if p.pareto)
    if front:  # '_' keeps the line out of the legend, the marker names it
      ax.plot(*zip(*front), color=colour, gid=method, label=f'_{method} front')
  on = '' if split == 'validation' else f' ({split} split)'
  ax.set_xlabel(f'{high} {metric}{on} (high-resource)')
  ax.set_ylabel(f'{low} {metric}{on} (low-resource)')
  rule = ('final evaluation of each run' if point == 'final' else
          f'each run at its best {low} {metric}')
  way = 'higher' if higher else 'lower'
  ax.set_title(f'Trade-off fronts, {way} is better: {rule}', fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(title='method')
  fig.tight_layout()
  return fig


def _bool(value: bool) -> str:
  return 'true' if value else 'false'


def header(metric: str) -> list[str]:
  """The CSV's header."""
  return [c.format(metric=metric) for c in CSV_COLUMNS]


def rows(points: list[Point], high: str, low: str) -> list[list[str]]:
  """The CSV's rows, without the header."""
  return [[p.run_dir, p.method, str(p.step), high, repr(p.high), low,
           repr(p.low), _bool(p.pareto), _bool(p.pareto_all)] for p in points]


def text(points: list[Point], high: str, low: str, metric: str) -> str:
  """The CSV as aligned text, run_dir last."""
  return table.aligned(
      [['method', 'step', f'{high} {metric}', f'{low} {metric}', 'pareto',
        'pareto_all', 'run_dir'],
       *([p.method, str(p.step), f'{p.high:.4f}', f'{p.low:.4f}',
          _bool(p.pareto), _bool(p.pareto_all), p.run_dir] for p in points)])
