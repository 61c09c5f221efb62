"""The grid of the laptop-scale reproduction and its table, from its runs'
summaries (benchmarks/reproduce_tiny.py runs them)."""

import dataclasses
import functools
import math
import os
from typing import Optional, Sequence

from mixtures import registry
from ptjf import preflight
from ptjf import recipe
from ptjf import summaries
from ptjf import tokens

DATA = 'synth_ro_fr_tiny'
HIGH, LOW = 'ptjf_synth.en_fr', 'ptjf_synth.en_ro'
CADENCE_GIN = os.path.join(recipe.REPO, 'gin', 'runs', 'reproduce_tiny.gin')
METHODS = ('static', 'ptjf', 'restart', 'transfer')


@dataclasses.dataclass(frozen=True)
class Run:
  """One experiment of the grid: its `ptjf run` arguments."""
  experiment: str
  workdir: str
  rate: Optional[float]  # en_fr's share in the fine-tune (static: all along)
  first_steps: int  # steps before the measured phase starts (0 for static)

  @property
  def arm(self) -> str:
    return self.experiment.split('_')[0]

  @property
  def model_dir(self) -> str:
    return os.path.join(self.workdir, self.arm)

  def prepare(self, pretrain_dir: str, total_steps: int,
              gin: Sequence[str] = ()) -> list[preflight.PhaseRun]:
    """Its phases, checked; `gin` binds every phase."""
    rate = [] if self.rate is None else [f'HIGH_RESOURCE_RATE = {self.rate}']
    if self.arm == 'static':
      return preflight.prepare(self.experiment, self.workdir,
                               gin=[f'TRAIN_STEPS = {total_steps}', *rate, *gin],
                               gin_files=[CADENCE_GIN])
    restart = self.arm == 'restart'  # its first phase is its own static run
    return preflight.prepare(
        self.experiment, self.workdir, pretrain_dir=None if restart else pretrain_dir,
        gin=[*(rate if restart else []), *gin],
        pretrain_gin=[f'TRAIN_STEPS = {self.first_steps}'],
        finetune_gin=[f'TRAIN_STEPS = {total_steps - self.first_steps}',
                      *([] if restart else rate)],
        gin_files=[CADENCE_GIN])


@functools.cache
def _lengths_and_batch() -> tuple[dict[str, int], int]:
  """The tiny NMT recipes' feature lengths and batch size."""
  recipe.parse(os.path.join(recipe.RECIPES_DIR, f'pretrain_{DATA}.gin'),
               ['MODEL_DIR = "/unused"'])
  return recipe.value('TASK_FEATURE_LENGTHS'), recipe.value('BATCH_SIZE')


@functools.cache
def low_tokens_per_step(rate: Optional[float]) -> float:
  """en_ro tokens a step trains on, on average (ptjf/tokens.py measures
  them). `rate` is en_fr's share; None trains on en_ro alone."""
  mixture = LOW if rate is None else registry.pair_mixture(
      high_task=HIGH, low_task=LOW, high_rate=rate)
  return tokens.tokens_per_step(mixture, LOW, *_lengths_and_batch())


@dataclasses.dataclass
class Curve:
  """One run's en_fr and en_ro validation losses by total step."""
  method: str
  run: Run
  high: dict[int, float]
  low: dict[int, float]


def curves(runs: list[Run]) -> list[Curve]:
  out = []
  for run in runs:
    high, low = (summaries.scalars(run.model_dir, f'training_eval/{t}')['loss']
                 for t in (HIGH, LOW))
    shift = run.first_steps
    out.append(Curve(run.arm, run, {s + shift: v for s, v in high.items()},
                     {s + shift: v for s, v in low.items()}))
  return out


def table(all_curves: list[Curve]) -> list[str]:
  static_best = min(v for c in all_curves if c.method == 'static'
                    for v in c.low.values() if not math.isnan(v))
  lines = ['| method | best en_ro loss | en_fr loss there | en_fr rate | step | '
           'en_ro tokens seen | steps to static\'s best en_ro |',
           '|---|---|---|---|---|---|---|']
  for method in METHODS:
    group = [c for c in all_curves if c.method == method]
    best_low, step, curve = min(
        ((v, s, c) for c in group for s, v in c.low.items() if not math.isnan(v)),
        key=lambda found: found[:2])
    rate = curve.run.rate
    # A restart's first phase is static sampling at its rate; ptjf and
    # transfer see en_ro only after the pre-training.
    trained = step if method == 'restart' else step - curve.run.first_steps
    tokens = low_tokens_per_step(rate) * trained
    reached = [s for c in group for s, v in c.low.items() if v <= static_best]
    lines.append(
        f'| {method} | {best_low:.3f} | {curve.high[step]:.3f} | '
        f'{"en_ro only" if rate is None else rate} | {step} | '
        f'{tokens / 1e3:,.0f}k | {min(reached) if reached else "not reached"} |')
  return lines
