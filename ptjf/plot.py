r"""Plot the evaluations of a set of T5X runs (PNG, CSV).

Usage: ptjf plot RUN_DIR... [--kind=front|curves|best] [--metric=loss]
                 [--split=validation|train|test] [--better=lower|higher]
                 [--output=PREFIX]
  front:  [--high_task=TASK --low_task=TASK] [--point=final|best]
  curves: [--tasks=T1,...] [--x=steps|tokens] [--runs=all|best]
  best:   [--tasks=T1,...]

A RUN_DIR is a T5X model directory (one with training_eval/) or a directory
searched, at any depth, for them, such as a sweep's root. A run's method is
its directory's name (pretrain, static, ptjf, transfer, restart, cooldown,
ptjfcool: the arms of `ptjf run`; a chain's is its last stage's), and each
method keeps its colour.

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
PREFIX.png and PREFIX.csv, both whole or neither, and without it nothing is
written. A damaged event file is read up to the damage, with a warning
naming it.

Examples:
  ptjf plot /tmp/sweep --metric=bleu --output=/tmp/plots/bleu_front
  ptjf plot /tmp/sweep --kind=curves --x=tokens --runs=best \
      --tasks=ptjf_synth.en_ro
  ptjf plot /tmp/mc4 --kind=best --output=/tmp/plots/per_language
"""

import os
import re
import sys
from typing import Callable, Optional, Sequence

from absl import app
from absl import flags
from matplotlib.figure import Figure
import tensorflow as tf

from ptjf import curves as curves_lib
from ptjf import front
from ptjf import outputs
from ptjf import runs as runs_lib
from ptjf import summaries
from ptjf import table

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

# The flags that only some kinds read.
KIND_FLAGS = {'front': ('high_task', 'low_task', 'point'),
              'curves': ('tasks', 'x', 'runs'), 'best': ('tasks',)}
# What a kind writes, drawn only when asked: figure, CSV header and rows.
Made = Callable[[], tuple[Figure, Sequence[str], list[list[str]]]]


def output_prefix(output: Optional[str], kind: str = 'front') -> str:
  """PREFIX of the files: a directory gets <kind's name> inside; .png/.csv drop."""
  name = KINDS[kind]
  if output is None:
    return name
  if output.endswith('/') or tf.io.gfile.isdir(output):
    return os.path.join(output, name)
  return re.sub(r'\.(png|csv)$', '', output)


def default_kind(paths: Sequence[str]) -> str:
  """front for runs of a pair (their config.gin names both tasks, or the
  flags do), else curves; the flags of one kind choose it."""
  for kind in ('front', 'curves'):
    if any(flags.FLAGS[name].present for name in KIND_FLAGS[kind]):
      return kind
  macros = front.config_macros(runs_lib.find_runs(paths))
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


def _front(paths: Sequence[str], metric: str, splits: Sequence[str],
           higher: bool) -> Made:
  """Prints each run's point; returns the drawing of the fronts."""
  points, high, low = front.collect(paths, _HIGH_TASK.value, _LOW_TASK.value,
                                    metric, _POINT.value, splits[0], higher)
  print(front.text(points, high, low, metric))
  return lambda: (front.draw(points, high, low, metric, _POINT.value,
                             splits[0], higher),
                  front.header(metric), front.rows(points, high, low))


def _curves(paths: Sequence[str], metric: str, splits: Sequence[str],
            higher: bool) -> Made:
  """Prints the best of each task per method; returns the drawing of the
  curves."""
  found, tasks = curves_lib.collect(paths, _TASKS.value, metric, splits,
                                    higher, _RUNS.value)
  if _X.value == 'tokens':
    for c in found:
      curves_lib.add_tokens(c)
  run_dirs = list(dict.fromkeys(c.run_dir for c in found))
  label = curves_lib.labels(run_dirs)
  way = 'higher' if higher else 'lower'
  print(f'{len(found)} curve(s) of {len(tasks)} task(s); the best of each:')
  print(curves_lib.best_text(curves_lib.best_table(found, higher), metric,
                             higher))
  return lambda: (curves_lib.draw_curves(
      found, tasks, metric, _X.value, curves_lib.run_colours(run_dirs), label,
      f'{" and ".join(splits)} {metric} along training ({way} is better)' +
      (": each method's best run" if _RUNS.value == 'best' else '')),
                  curves_lib.CURVE_COLUMNS, curves_lib.curve_rows(found, label))


def _best(paths: Sequence[str], metric: str, splits: Sequence[str],
          higher: bool) -> Made:
  """Prints the best of each task per method; returns the drawing of it."""
  found, _ = curves_lib.collect(paths, _TASKS.value, metric, splits, higher)
  best = curves_lib.best_table(found, higher)
  print(curves_lib.best_text(best, metric, higher))
  return lambda: (curves_lib.draw_best(
      best, metric, higher, runs_lib.method_colours(b.method for b in best)),
                  curves_lib.BEST_COLUMNS, curves_lib.best_rows(best))


KIND_COMMANDS = {'front': _front, 'curves': _curves, 'best': _best}


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
    if _OUTPUT.value is not None:
      prefix = output_prefix(_OUTPUT.value, kind)
      for path in (prefix + '.png', prefix + '.csv'):
        outputs.check(path, f'--output={_OUTPUT.value}')
    made = KIND_COMMANDS[kind](argv[1:], metric, splits, higher)
  except ValueError as e:
    sys.exit(f'error: {e}')
  if _OUTPUT.value is None:
    print(f'nothing written: --output=PREFIX (or a directory) writes the '
          f'{kind} as PREFIX.png and PREFIX.csv.')
    return
  fig, header, lines = made()  # drawn only when it is written
  try:
    paths = table.write(fig, prefix, header, lines)
  except outputs.WriteError as e:
    sys.exit(f'error: {e}')
  for path in paths:
    print(f'wrote {path}')


if __name__ == '__main__':
  app.run(main)
