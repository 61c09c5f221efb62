r"""Plot the evaluations of a set of T5X runs (PNG, CSV).

Usage: ptjf plot RUN_DIR... [--kind=front|curves|best] [--metric=loss]
                 [--split=validation|train|test] [--better=lower|higher]
                 [--output=PREFIX]
  front:  [--high_task=TASK --low_task=TASK] [--point=final|best]
  curves: [--tasks=T1,...] [--x=steps|tokens] [--runs=all|best]
  best:   [--tasks=T1,...]

A RUN_DIR is a T5X model directory (one with training_eval/) or a directory
searched, at any depth, for them, such as a sweep's root. A run's method is
its directory's name (pretrain, static, ptjf, transfer, restart: the arms of
`ptjf run`), and each method keeps its colour.

--metric is any scalar the runs wrote: t5x.train's evaluations (loss,
accuracy, ...) or `ptjf eval`'s (bleu, cross_entropy). --better says which
way is better; bleu and accuracy read as higher, losses as lower.
--split: validation; train, the training-split twins that
EVALUATE_TRAINING_SPLIT adds; or test, from `ptjf eval --split=test`.
ptjf/summaries.py says where each is read.

--kind=front (Fig. 2; the default for runs of a pair): each run gives one point, the metric of
its high-resource task (x) against that of its low-resource task (y), at its
final evaluation (--point=final, as the paper plots each trial) or at the
evaluation with the best low-resource value (--point=best); each method gets
a line through its non-dominated points, its trade-off front. The CSV marks
whether a run is on its method's front, `pareto`, and on the front of all
runs, `pareto_all`. The tasks default to the HIGH_RESOURCE_TASK and
LOW_RESOURCE_TASK macros of the runs' config.gin. Runs found by searching
that lack either task (a pre-training evaluates only the high-resource task)
are skipped with a note.

--kind=curves (Figs 3, 4, 8; the default otherwise): one panel per task, one line per run, the
metric against the steps of all its phases (a fine-tune's curve starts with
the run it restored), or against the task's tokens seen (--x=tokens, Fig. 3;
ptjf/tokens.py measures them, which needs T5X and the tasks' data).
--runs=best keeps, per task, each method's run with the best value.
--split=validation,train draws the training split dashed beside validation.

--kind=best (Fig. 7): the best value of each task per method, as a table
(printed, and the CSV) and a bar chart.

The tasks of curves and best default to every task the runs evaluated
(mixtures and training-split twins left out). Each kind prints its table
(curves: the best of each task per method); --output=PREFIX also writes
PREFIX.png and PREFIX.csv, and without it nothing is written.

Examples:
  ptjf plot /tmp/sweep --metric=bleu --output=/tmp/plots/bleu_front
  ptjf plot /tmp/sweep --kind=curves --x=tokens --runs=best \
      --tasks=ptjf_synth.en_ro
  ptjf plot /tmp/mc4 --kind=best --output=/tmp/plots/per_language
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

from ptjf import curves as curves_lib
from ptjf import runs as runs_lib
from ptjf import summaries

# --kind -> the file name it writes by default.
KINDS = {'front': 'trade_off', 'curves': 'curves', 'best': 'best'}

_HIGH_TASK = flags.DEFINE_string(
    'high_task', None, 'Evaluated task or mixture on the x axis; default: '
    "the HIGH_RESOURCE_TASK macro of the runs' config.gin.")
_LOW_TASK = flags.DEFINE_string(
    'low_task', None, 'Evaluated task or mixture on the y axis; default: '
    "the LOW_RESOURCE_TASK macro of the runs' config.gin.")
_METRIC = flags.DEFINE_string(
    'metric', 'loss', 'Scalar of the evaluations to compare: loss, '
    "cross_ent_loss, accuracy (t5x.train's), bleu, cross_entropy (ptjf eval's).")
_BETTER = flags.DEFINE_enum(
    'better', None, ['lower', 'higher'], 'Which way the metric is better; '
    'default: read from its name (bleu, accuracy: higher; losses: lower).')
# ptjf.evaluate has a --split too; only the test suite imports both.
_SPLIT = flags.DEFINE_list(
    'split', ['validation'], 'validation, train (the training-split twins) or '
    'test (ptjf eval --split=test); curves take several, e.g. validation,train.',
    allow_override=True)
_KIND = flags.DEFINE_enum(
    'kind', None, list(KINDS), 'front: the trade-off of two tasks; curves: '
    'each task along training; best: the best value per task and method. '
    "Default: front where the runs' config.gin names HIGH_RESOURCE_TASK and "
    'LOW_RESOURCE_TASK (a pair, or --high_task and --low_task are given), '
    'else curves.')
_POINT = flags.DEFINE_enum(
    'point', 'final', ['final', 'best'], 'front: which evaluation of each run: '
    'final, the last step at which both tasks were evaluated; best, the step '
    'with the best low-resource value.')
_TASKS = flags.DEFINE_list(
    'tasks', [], 'curves and best: the tasks, one panel or group each; '
    'default: every task evaluated.')
_X = flags.DEFINE_enum('x', 'steps', ['steps', 'tokens'], "curves: the x axis, "
                       "steps of all phases or the task's tokens seen.")
_RUNS = flags.DEFINE_enum('runs', 'all', ['all', 'best'], 'curves: every run, '
                          "or each method's run with the best value per task.")
# tasks.train_vocab has an --output too; only the test suite imports both.
_OUTPUT = flags.DEFINE_string(
    'output', None, 'Writes PREFIX.png and PREFIX.csv; parent directories are '
    'created. A directory gets <kind>.png/.csv inside (front: trade_off). '
    'Without it the table is printed and nothing is written.',
    allow_override=True)

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
  else:  # a NaN is no best; ties go to the earlier step
    sign = -1 if higher else 1
    step = min(steps, key=lambda s: (math.isnan(low_values[s]),
                                     sign * low_values[s], s))
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


def output_prefix(output: Optional[str], kind: str = 'front') -> str:
  """PREFIX of the files: a directory gets <kind's name> inside; .png/.csv drop."""
  name = KINDS[kind]
  if output is None:
    return name
  if output.endswith('/') or tf.io.gfile.isdir(output):
    return os.path.join(output, name)
  return re.sub(r'\.(png|csv)$', '', output)


def write(fig: Figure, prefix: str, header: Sequence[str],
          lines: Sequence[Sequence[str]]) -> tuple[str, str]:
  """Writes PREFIX.png and PREFIX.csv; returns their paths."""
  if os.path.dirname(prefix):
    tf.io.gfile.makedirs(os.path.dirname(prefix))
  png = io.BytesIO()
  fig.savefig(png, format='png')
  text = io.StringIO()
  writer = csv.writer(text, lineterminator='\n')
  writer.writerow(header)
  writer.writerows(lines)
  paths = prefix + '.png', prefix + '.csv'
  for path, content, mode in zip(paths, (png.getvalue(), text.getvalue()),
                                 ('wb', 'w')):
    with tf.io.gfile.GFile(path, mode) as f:
      f.write(content)
  return paths


# The flags that only some kinds read.
KIND_FLAGS = {'front': ('high_task', 'low_task', 'point'),
              'curves': ('tasks', 'x', 'runs'), 'best': ('tasks',)}


def default_kind(paths: Sequence[str]) -> str:
  """front for runs of a pair (their config.gin names both tasks, or the
  flags do), else curves; the flags of one kind choose it."""
  for kind in ('front', 'curves'):
    if any(flags.FLAGS[name].present for name in KIND_FLAGS[kind]):
      return kind
  macros = config_macros(runs_lib.find_runs(paths))
  return 'front' if macros['HIGH'] and macros['LOW'] else 'curves'


def _check_kind_flags(kind: str) -> None:
  """A flag given for another kind is refused rather than ignored."""
  for name in sorted({f for names in KIND_FLAGS.values() for f in names}):
    if flags.FLAGS[name].present and name not in KIND_FLAGS[kind]:
      kinds = ' and '.join(f'--kind={k}' for k, names in KIND_FLAGS.items()
                           if name in names)
      raise ValueError(f'--{name} does not apply to --kind={kind}; it is '
                       f'for {kinds}.')


def _check_splits(kind: str, splits: Sequence[str]) -> None:
  for split in splits:
    summaries.check_split(split)
  if kind != 'curves' and len(splits) != 1:
    raise ValueError(f'--kind={kind} compares one split; --split='
                     f'{",".join(splits)} names {len(splits)}.')


def main(argv: Sequence[str]) -> None:
  if len(argv) < 2:
    sys.exit('error: no run directory given: ptjf plot RUN_DIR... [--flags] '
             '(ptjf plot --help).')
  metric, splits = _METRIC.value, _SPLIT.value
  try:  # everything is read and checked before anything is written
    kind = _KIND.value or default_kind(argv[1:])
    _check_kind_flags(kind)
    _check_splits(kind, splits)
    higher = summaries.higher_is_better(metric, _BETTER.value or '')
    if kind == 'front':
      points, high, low = collect(argv[1:], _HIGH_TASK.value, _LOW_TASK.value,
                                  metric, _POINT.value, splits[0], higher)
    else:
      found, tasks = curves_lib.collect(
          argv[1:], _TASKS.value, metric, splits, higher,
          _RUNS.value if kind == 'curves' else 'all')
      if kind == 'curves' and _X.value == 'tokens':
        for c in found:
          curves_lib.add_tokens(c)
  except ValueError as e:
    sys.exit(f'error: {e}')
  if kind == 'front':
    print(table(points, high, low, metric))
    made = lambda: (draw(points, high, low, metric, _POINT.value, splits[0],
                         higher),
                    [c.format(metric=metric) for c in CSV_COLUMNS],
                    rows(points, high, low))
  elif kind == 'curves':
    run_dirs = list(dict.fromkeys(c.run_dir for c in found))
    label = curves_lib.labels(run_dirs)
    way = 'higher' if higher else 'lower'
    print(f'{len(found)} curve(s) of {len(tasks)} task(s); the best of each:')
    print(curves_lib.best_text(curves_lib.best_table(found, higher), metric,
                               higher))
    made = lambda: (curves_lib.draw_curves(
        found, tasks, metric, _X.value, curves_lib.run_colours(run_dirs), label,
        f'{" and ".join(splits)} {metric} along training ({way} is better)' +
        (": each method's best run" if _RUNS.value == 'best' else '')),
                    curves_lib.CURVE_COLUMNS, curves_lib.curve_rows(found, label))
  else:
    best = curves_lib.best_table(found, higher)
    print(curves_lib.best_text(best, metric, higher))
    made = lambda: (curves_lib.draw_best(
        best, metric, higher, runs_lib.method_colours(b.method for b in best)),
                    curves_lib.BEST_COLUMNS, curves_lib.best_rows(best))
  if _OUTPUT.value is None:
    print(f'nothing written: --output=PREFIX (or a directory) writes the '
          f'{kind} as PREFIX.png and PREFIX.csv.')
    return
  fig, header, lines = made()  # drawn only when it is written
  for path in write(fig, output_prefix(_OUTPUT.value, kind), header, lines):
    print(f'wrote {path}')


if __name__ == '__main__':
  app.run(main)
