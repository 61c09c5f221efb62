"""The grids of the laptop-scale reproduction and their tables, from their
runs' summaries (benchmarks/reproduce_pair.py runs them).

A problem is the part of the synthetic pair recipes' names after the arm
('synth_ro_fr_paper' for recipes/*_synth_ro_fr_paper.gin); its recipes name
the high- and low-resource tasks, the feature lengths and the batch.
"""

import csv
import dataclasses
import functools
import os
from typing import Mapping, Optional, Sequence

from mixtures import registry
from ptjf import recipe
from ptjf import summaries
from ptjf import tokens

METHODS = ('static', 'ptjf', 'restart', 'transfer')


@dataclasses.dataclass(frozen=True)
class Problem:
  """What a problem's pre-training recipe binds."""
  high: str
  low: str
  lengths: tuple[tuple[str, int], ...]
  batch: int


@functools.cache
def problem(name: str) -> Problem:
  """The tasks, feature lengths and batch of recipes/pretrain_<name>.gin."""
  recipe.parse(os.path.join(recipe.RECIPES_DIR, f'pretrain_{name}.gin'),
               ['MODEL_DIR = "/unused"'])
  return Problem(recipe.value('HIGH_RESOURCE_TASK'), recipe.value('LOW_RESOURCE_TASK'),
                 tuple(sorted(recipe.value('TASK_FEATURE_LENGTHS').items())),
                 recipe.value('BATCH_SIZE'))


@dataclasses.dataclass(frozen=True)
class Run:
  """One measured run of a grid (benchmarks.grid lays them out)."""
  experiment: str
  workdir: str
  rate: Optional[float]  # en_fr's share in the fine-tune (static: all along)
  # Offset of its measured stage's own steps: the steps before its step count
  # restarted at 0 (0 for static; a stage that kept the state counts on).
  first_steps: int

  @property
  def arm(self) -> str:
    return self.experiment.split('_')[0]

  @property
  def problem(self) -> str:
    return self.experiment.split('_', 1)[1]

  @property
  def model_dir(self) -> str:
    return os.path.join(self.workdir, self.arm)


@functools.cache
def low_tokens_per_step(problem_name: str, rate: Optional[float]) -> float:
  """Low-resource tokens a step trains on, on average (ptjf/tokens.py
  measures them). `rate` is the high-resource share; None trains on the
  low-resource task alone."""
  p = problem(problem_name)
  mixture = p.low if rate is None else registry.pair_mixture(
      high_task=p.high, low_task=p.low, high_rate=rate)
  return tokens.tokens_per_step(mixture, p.low, dict(p.lengths), p.batch)


@dataclasses.dataclass
class Curve:
  """One run's high- and low-resource validation losses by total step."""
  method: str
  run: Run
  high: dict[int, float]
  low: dict[int, float]


def curves(runs: list[Run]) -> list[Curve]:
  out = []
  for run in runs:
    p = problem(run.problem)
    high, low = (summaries.scalars(run.model_dir, f'training_eval/{t}')['loss']
                 for t in (p.high, p.low))
    shift = run.first_steps
    out.append(Curve(run.arm, run, {s + shift: v for s, v in high.items()},
                     {s + shift: v for s, v in low.items()}))
  return out


def best(curve: Curve) -> tuple[float, int]:
  """The run's lowest low-resource loss and its total step (the earliest)."""
  step = summaries.best(sorted(curve.low), value=curve.low.get)
  return curve.low[step], step


def short_name(task: str) -> str:
  """'en_ro' for 'ptjf_synth.paper_epochs.en_ro'."""
  return task.rsplit('.', 1)[-1]


def _bleu(bleu: Optional[Mapping[str, Mapping[str, float]]], curve: Curve) -> list[str]:
  if bleu is None:
    return []
  scores = bleu[curve.run.model_dir]
  p = problem(curve.run.problem)
  return [f'{scores[p.low]:.2f}', f'{scores[p.high]:.2f}']


def table(all_curves: list[Curve],
          bleu: Optional[Mapping[str, Mapping[str, float]]] = None) -> list[str]:
  """Each method's run with the lowest low-resource loss. `bleu` maps a run's
  model_dir to its BLEU per task at that run's best step."""
  p = problem(all_curves[0].run.problem)
  low, high = short_name(p.low), short_name(p.high)
  static_best = min(best(c)[0] for c in all_curves if c.method == 'static')
  bleu_head = [f'{low} BLEU there', f'{high} BLEU there'] if bleu is not None else []
  head = [f'best {low} loss', f'{high} loss there', f'{high} rate', 'step',
          *bleu_head, f'{low} tokens seen', f"steps to static's best {low}"]
  lines = ['| method | ' + ' | '.join(head) + ' |', '|---' * (len(head) + 1) + '|']
  for method in METHODS:
    group = [c for c in all_curves if c.method == method]
    if not group:
      continue
    (best_low, step), curve = min(((best(c), c) for c in group), key=lambda f: f[0])
    rate = curve.run.rate
    # A restart's first phase is static sampling at its rate; ptjf and
    # transfer see the low-resource task only after the pre-training.
    trained = step if method == 'restart' else step - curve.run.first_steps
    tokens = low_tokens_per_step(curve.run.problem, rate) * trained
    reached = [s for c in group for s, v in c.low.items() if v <= static_best]
    cells = [f'{best_low:.3f}', f'{curve.high[step]:.3f}',
             f'{low} only' if rate is None else str(rate), str(step),
             *_bleu(bleu, curve), f'{tokens / 1e3:,.0f}k',
             str(min(reached)) if reached else 'not reached']
    lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
  return lines


def front_table(all_curves: list[Curve]) -> list[str]:
  """Every run's best low-resource loss and the high-resource loss at that
  step, one row per high-resource rate: the fronts in numbers."""
  p = problem(all_curves[0].run.problem)
  methods = [m for m in METHODS if any(c.method == m for c in all_curves)]
  lines = [f'| {short_name(p.high)} rate | ' + ' | '.join(methods) + ' |',
           '|---' * (len(methods) + 1) + '|']
  rates = sorted({c.run.rate for c in all_curves}, key=lambda r: (r is None, r))
  for rate in rates:
    cells = []
    for method in methods:
      found = [c for c in all_curves if c.method == method and c.run.rate == rate]
      if found:
        loss, step = best(found[0])
        cells.append(f'{loss:.3f} / {found[0].high[step]:.3f} (step {step})')
      else:
        cells.append('')
    lines.append(f'| {"only " + short_name(p.low) if rate is None else rate} | '
                 + ' | '.join(cells) + ' |')
  return lines


def languages_table(csv_path: str, methods: Sequence[str]) -> list[str]:
  """`ptjf plot --kind=best`'s CSV as a language x method table, the best in
  bold, and the count of languages each method is best on."""
  with open(csv_path) as f:
    rows = [r for r in csv.DictReader(f) if r['split'] == 'validation']
  best = {(r['task'], r['method']): (float(r['best']), int(r['total_step'])) for r in rows}
  tasks = list(dict.fromkeys(r['task'] for r in rows))
  methods = [m for m in methods if any(m == method for _, method in best)]
  lines = ['| language | ' + ' | '.join(methods) + ' |', '|---' * (len(methods) + 1) + '|']
  wins = dict.fromkeys(methods, 0)
  for task in tasks:
    top = min(best[task, m][0] for m in methods if (task, m) in best)
    cells = []
    for m in methods:
      value, step = best[task, m]
      text = f'{value:.3f} (step {step})'
      if value == top:
        wins[m] += 1
        text = f'**{text}**'
      cells.append(text)
    lines.append(f'| {short_name(task)} | ' + ' | '.join(cells) + ' |')
  lines.append('| best on | ' + ' | '.join(f'{wins[m]} of {len(tasks)}' for m in methods) + ' |')
  return lines
