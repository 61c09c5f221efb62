"""Each task's metric along training, and its best value per method, of a set
of T5X runs: `ptjf plot --kind=curves` and `--kind=best`.

A run's curve starts with the runs it descends from (each config.gin's
INITIAL_CHECKPOINT_PATH), each up to the checkpoint restored: steps count
from the start of the chain's first stage, and tokens include every earlier
stage's. A fine-tune's step starts at 0 and is offset by the checkpoint's; a
stage that kept the whole state (gin/phases/continue.gin) goes on counting
from that checkpoint's step, so it gets its parent's offset alone.
"""

import dataclasses
import math
import os
from typing import Optional, Sequence

from matplotlib import colors
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np
import tensorflow as tf

from ptjf import runs
from ptjf import summaries
from ptjf import table
from ptjf import tokens as tokens_lib
from tasks import training_split

SPLIT_STYLES = {'validation': '-', 'train': '--', 'test': ':'}
CURVE_COLUMNS = ('task', 'split', 'method', 'run', 'run_dir', 'step',
                 'total_step', 'tokens_seen', 'value')
BEST_COLUMNS = ('task', 'split', 'method', 'best', 'run_dir', 'step',
                'total_step')


@dataclasses.dataclass(frozen=True)
class Phase:
  """One run directory of a lineage and where its steps start."""
  run_dir: str
  offset: int  # steps of the phases before it
  last_step: Optional[int]  # an ancestor counts up to its checkpoint


@dataclasses.dataclass
class Point:
  run_dir: str  # the phase that wrote it: the run's, or an ancestor's
  step: int
  total_step: int
  value: float
  tokens: Optional[float] = None  # the task's tokens seen, when asked


@dataclasses.dataclass
class Curve:
  """One run's metric of one task and split, ancestors' points first."""
  task: str
  split: str
  method: str
  run_dir: str
  points: list[Point]

  def own(self) -> list[Point]:
    return [p for p in self.points if p.run_dir == self.run_dir]


def lineage(run_dir: str) -> list[Phase]:
  """The phases a run continues, oldest first, ending with the run itself."""
  newest_first = [(run_dir, None, tokens_lib.parent(run_dir))]
  while (restored := newest_first[-1][2]) and restored.run_dir not in {
      d for d, _, _ in newest_first}:  # a config naming itself ends it
    newest_first.append((restored.run_dir, restored.step,
                         tokens_lib.parent(restored.run_dir)))
  phases = []
  for phase_dir, last_step, restored in reversed(newest_first):
    offset = 0
    if phases:  # `restored` is the previous phase's checkpoint
      offset = phases[-1].offset + (0 if restored.keeps_state else restored.step)
    phases.append(Phase(phase_dir, offset, last_step))
  return phases


def curve(run_dir: str, method: str, task: str, metric: str,
          split: str) -> Curve:
  """The run's `metric` of `task` on `split`, with its ancestors' points."""
  points = []
  for phase in lineage(run_dir):
    if not tf.io.gfile.isdir(phase.run_dir):
      continue  # an ancestor moved away still counts its steps
    for step, value in sorted(summaries.series(phase.run_dir, task, metric,
                                               split).items()):
      if phase.last_step is None or step <= phase.last_step:
        points.append(Point(phase.run_dir, step, phase.offset + step, value))
  return Curve(task, split, method, run_dir, points)


def best_point(points: Sequence[Point], higher: bool) -> Optional[Point]:
  """The best value (NaN never; ties go to the earlier step, then to the run
  directory first in name order), or None."""
  return summaries.best(sorted(points, key=lambda p: (p.total_step, p.run_dir)),
                        higher, lambda p: p.value)


def best_per_method(curves: Sequence[Curve], higher: bool) -> list[Curve]:
  """Of each method, the curve with the best value of the run's own points."""
  chosen = []
  for method in sorted({c.method for c in curves}):
    group = [c for c in curves if c.method == method]
    if point := best_point([p for c in group for p in c.own()], higher):
      chosen.append(next(c for c in group if c.run_dir == point.run_dir))
  return chosen


def add_tokens(c: Curve) -> None:
  """Sets each point's tokens of the task seen by then (T5X and data needed);
  a training-split twin counts the tokens of its task."""
  for p in c.points:
    p.tokens = tokens_lib.tokens_seen(p.run_dir, c.task, p.step)


def labels(run_dirs: Sequence[str]) -> dict[str, str]:
  """Legend label of each run: its method, and where it differs from the
  others of its method, the directories that tell them apart."""
  out = {}
  for run_dir in run_dirs:
    same = [r for r in run_dirs if runs.method_of(r) == runs.method_of(run_dir)]
    if len(same) == 1:
      out[run_dir] = runs.method_of(run_dir)
      continue
    parents = [os.path.dirname(r) for r in same]
    common = os.path.commonpath(parents) if len(set(parents)) > 1 else ''
    where = os.path.relpath(os.path.dirname(run_dir), common) if common else run_dir
    out[run_dir] = f'{runs.method_of(run_dir)} ({where})'
  return out


def run_colours(run_dirs: Sequence[str]) -> dict[str, tuple]:
  """Each run's colour: its method's, darker to lighter across the method's
  runs in name order, so that runs of one method stay apart."""
  out = {}
  for method, base in runs.method_colours(map(runs.method_of, run_dirs)).items():
    same = sorted(r for r in run_dirs if runs.method_of(r) == method)
    for i, run_dir in enumerate(same):
      t = 0.0 if len(same) == 1 else -0.35 + 0.85 * i / (len(same) - 1)
      rgb = np.array(colors.to_rgb(base))
      out[run_dir] = tuple(rgb + abs(t) * ((1.0 if t > 0 else 0.0) - rgb))
  return out


def draw_curves(curves: Sequence[Curve], tasks: Sequence[str], metric: str,
                x: str, colours: dict[str, tuple], label: dict[str, str],
                title: str) -> Figure:
  """One panel per task, one line per curve: colour by run (run_colours),
  style by split."""
  columns = min(len(tasks), 3)
  rows = math.ceil(len(tasks) / columns)
  width = max(7.5, 4.6 * columns)  # the title and legend fit one panel too
  entries = len({(c.run_dir, c.split) for c in curves if c.task in tasks})
  per_row = max(1, min(entries, int(width // 2.4)))
  fig = Figure(figsize=(width, 3.6 * rows + 0.6 + 0.2 * math.ceil(entries / per_row)),
               dpi=120, layout='constrained')
  FigureCanvasAgg(fig)
  axes = fig.subplots(rows, columns, squeeze=False).ravel()
  for ax, task in zip(axes, tasks):
    for c in (c for c in curves if c.task == task):
      at = lambda p: p.tokens if x == 'tokens' else p.total_step
      name = label[c.run_dir] + ('' if c.split == 'validation' else f', {c.split}')
      own, inherited = c.own(), [p for p in c.points if p.run_dir != c.run_dir]
      if inherited:  # the restored run's points, faint: they are its own curve
        ax.plot([at(p) for p in inherited + own[:1]],
                [p.value for p in inherited + own[:1]], SPLIT_STYLES[c.split],
                color=colours[c.run_dir], alpha=0.3, linewidth=1,
                label=f'_{name} restored', gid=f'{task}|{c.split}|{c.run_dir}|restored')
      ax.plot([at(p) for p in own], [p.value for p in own], SPLIT_STYLES[c.split],
              color=colours[c.run_dir], label=name, marker='.', markersize=3,
              gid=f'{task}|{c.split}|{c.run_dir}')
    ax.set_title(task, fontsize=10)
    ax.set_xlabel(f'{task} tokens seen' if x == 'tokens' else 'step (all phases)')
    if x == 'tokens':  # 1.2M, not 1200000: counts run to billions
      ax.xaxis.set_major_formatter(ticker.EngFormatter(sep=''))
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
  for ax in axes[len(tasks):]:
    ax.set_visible(False)
  legend = {}  # every line's label once, whichever panel it is in
  for ax in axes[:len(tasks)]:
    for handle, name in zip(*ax.get_legend_handles_labels()):
      legend.setdefault(name, handle)
  fig.legend(list(legend.values()), list(legend), loc='outside lower center',
             ncol=per_row, fontsize=8, frameon=False)
  fig.suptitle(title, fontsize=10)
  return fig


def curve_rows(curves: Sequence[Curve], label: dict[str, str]) -> list[list[str]]:
  return [[c.task, c.split, c.method, label[c.run_dir], p.run_dir, str(p.step),
           str(p.total_step), '' if p.tokens is None else f'{p.tokens:.0f}',
           repr(p.value)] for c in curves for p in c.points]


@dataclasses.dataclass
class Best:
  task: str
  split: str
  method: str
  point: Point


def best_table(curves: Sequence[Curve], higher: bool) -> list[Best]:
  """Best own value of each task and split per method, in curve order."""
  out = []
  keys = list(dict.fromkeys((c.task, c.split) for c in curves))
  for task, split in keys:
    group = [c for c in curves if (c.task, c.split) == (task, split)]
    for c in best_per_method(group, higher):
      out.append(Best(task, split, c.method, best_point(c.own(), higher)))
  return out


def best_rows(best: Sequence[Best]) -> list[list[str]]:
  return [[b.task, b.split, b.method, repr(b.point.value), b.point.run_dir,
           str(b.point.step), str(b.point.total_step)] for b in best]


def best_text(best: Sequence[Best], metric: str, higher: bool) -> str:
  """Task x method table of the best values; the best method's is starred."""
  methods = sorted({b.method for b in best})
  keys = list(dict.fromkeys((b.task, b.split) for b in best))
  lines = [['task' + ('' if all(s == 'validation' for _, s in keys) else ' (split)'),
            *methods]]
  for task, split in keys:
    values = {b.method: b.point.value for b in best
              if (b.task, b.split) == (task, split)}
    top = summaries.best(values.values(), higher)
    lines.append([task if split == 'validation' else f'{task} ({split})',
                  *(('' if m not in values else
                     f'{values[m]:.4f}' + ('*' if values[m] == top else ''))
                    for m in methods)])
  rule = f'best {metric} per task and method ({"higher" if higher else "lower"} is better; * the best)'
  return rule + '\n' + table.aligned(lines)


def draw_best(best: Sequence[Best], metric: str, higher: bool,
              colours: dict[str, str]) -> Figure:
  """Grouped bars: tasks along x, one bar per method."""
  methods = sorted({b.method for b in best})
  keys = list(dict.fromkeys((b.task, b.split) for b in best))
  fig = Figure(figsize=(max(6.0, 1.4 * len(keys) * max(1, len(methods)) / 2 + 2), 4.5),
               dpi=120)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  width = 0.8 / len(methods)
  values = {(b.task, b.split, b.method): b.point.value for b in best}
  finite = [v for v in values.values() if not math.isnan(v)]
  for i, method in enumerate(methods):
    xs = [k + (i - (len(methods) - 1) / 2) * width for k in range(len(keys))]
    heights = [values.get((t, s, method), math.nan) for t, s in keys]
    bars = ax.bar(xs, heights, width, color=colours[method], label=method,
                  gid=method)
    ax.bar_label(bars, fmt='%.3f', fontsize=6, rotation=90, padding=2)
  ax.set_xticks(range(len(keys)))
  ax.set_xticklabels([t if s == 'validation' else f'{t}\n({s})' for t, s in keys],
                     fontsize=8)
  if finite and not higher:  # losses differ in their last digits: zoom in
    low, high = min(finite), max(finite)
    ax.set_ylim(max(0.0, low - 0.25 * (high - low + 1e-9) - 0.05 * low),
                high + 0.2 * (high - low + 1e-9) + 0.02 * high)
  ax.set_ylabel(f'best {metric} ({"higher" if higher else "lower"} is better)')
  ax.legend(title='method', fontsize=8)
  ax.grid(axis='y', alpha=0.3)
  fig.tight_layout()
  return fig


def _is_mixture(name: str) -> bool:
  """A mixture T5X evaluated as a whole beside its tasks."""
  import seqio  # pylint: disable=g-import-not-at-top
  from mixtures import registry  # pylint: disable=g-import-not-at-top  # registers every mixture
  return (name in seqio.MixtureRegistry.names() or name in registry.UNIMAX
          or name.endswith(registry.WITH_TRAINING_SPLIT_SUFFIX))


def default_tasks(run_dirs: Sequence[str]) -> list[str]:
  """Every task the runs evaluated on any split, less mixtures and twins."""
  names = {t for r in run_dirs for t in summaries.evaluated(r)}
  return sorted(t for t in names
                if not t.endswith(training_split.TRAINING_SPLIT_SUFFIX)
                and not _is_mixture(t))


def collect(paths: Sequence[str], tasks: Sequence[str], metric: str,
            splits: Sequence[str], higher: bool,
            keep: str = 'all') -> tuple[list[Curve], list[str]]:
  """The curves of every task and split of the runs at or below `paths`
  (keep='best': of each method's run with the best value on the first
  split), and the tasks in panel order."""
  run_dirs = list(runs.find_runs(paths))
  summaries.check_readable(run_dirs)
  tasks = list(tasks) or default_tasks(run_dirs)
  if not tasks:
    raise ValueError('the runs evaluated no task: nothing to plot.')
  out = []
  for task in tasks:
    by_split = {split: [c for c in (curve(r, runs.method_of(r), task, metric,
                                          split) for r in run_dirs) if c.own()]
                for split in splits}
    if not any(by_split.values()):
      evaluated = sorted({t for r in run_dirs for t in summaries.evaluated(r)})
      raise ValueError(f'no run has {metric!r} evaluations of {task} on the '
                       f'{" or ".join(splits)} split; the tasks evaluated are: '
                       f'{", ".join(evaluated) or "none"}.')
    if keep == 'best':
      kept = {c.run_dir for c in best_per_method(by_split[splits[0]], higher)}
      by_split = {s: [c for c in group if c.run_dir in kept]
                  for s, group in by_split.items()}
    out.extend(c for split in splits for c in by_split[split])
  return out, tasks
