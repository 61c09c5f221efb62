"""What the reproduction's grids share: their flags and cadence, how they
lay out each arm as `ptjf sweep ARM --root=WORKDIR` does (ptjf.grid) and train
it, how they write their table and call `ptjf plot`.

Every arm of a problem shares WORKDIR, where the phases of its runs never meet
another arm's: e.g. static at WORKDIR/high0.3/static, PTJF's pre-training at
WORKDIR/pretrain2400/pretrain (transfer's too), its fine-tunes at
WORKDIR/pretrain2400/high0.3/ptjf, and a restart at
WORKDIR/pretrain2400_high0.3/{static,restart}.
"""

import dataclasses
import os
import shlex
import sys
from typing import Mapping, Optional, Sequence

from absl import app
from absl import flags

from benchmarks import trade_off
from ptjf import chain
from ptjf import child
from ptjf import experiment
from ptjf import grid as ptjf_grid
from ptjf import outputs
from ptjf import preflight
from ptjf import recipe

CADENCE_GIN = os.path.join(recipe.REPO, 'gin', 'runs', 'reproduce.gin')
# Training-split losses beside validation (Figs 2 right, 4 and 8), in every run.
GRID_GIN = ('EVALUATE_TRAINING_SPLIT = True',)

_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of all runs.',
                               required=True)
_STEPS = flags.DEFINE_integer(
    'steps', None, "Total steps of every arm (default: static_<problem>'s).")
_PRETRAIN_STEPS = flags.DEFINE_integer(
    'pretrain_steps', None, 'Steps before the reset of the two-phase arms '
    "(default: pretrain_<problem>'s).")
_CADENCE = flags.DEFINE_string(
    'cadence', CADENCE_GIN, 'Gin file after every recipe: evaluation and '
    'checkpoint periods.')
_GIN = flags.DEFINE_multi_string(
    'gin', [], "Gin binding for every phase of every run, e.g. 'DROPOUT_RATE = 0.0'.")


@dataclasses.dataclass(frozen=True)
class Settings:
  """A grid's flags, resolved and checked."""
  workdir: str
  steps: int  # total steps of every arm
  first: int  # steps before a two-phase arm's reset
  gin: list[str]  # bindings of every phase
  gin_files: list[str]  # after every recipe


def settings(problem: str) -> Settings:
  """The flags, steps defaulting to the problem's recipes; UsageError on bad
  values, before anything runs."""
  steps = _STEPS.value or recipe_steps(problem, 'static')
  first = _PRETRAIN_STEPS.value or recipe_steps(problem, 'pretrain')
  if not 0 < first < steps:
    raise app.UsageError(f'--pretrain_steps={first}: give a count between 0 '
                         f'and --steps={steps}, exclusive.')
  return Settings(os.path.abspath(_WORKDIR.value), steps, first,
                  [*GRID_GIN, *_GIN.value], [os.path.abspath(_CADENCE.value)])


def recipe_steps(problem: str, arm: str) -> int:
  """TRAIN_STEPS of recipes/<arm>_<problem>.gin; UsageError if it is missing."""
  try:
    return experiment.train_steps(experiment.recipe_path(f'{arm}_{problem}'))
  except ValueError as e:
    raise app.UsageError(f'--problem={problem}: {e}') from None


@dataclasses.dataclass(frozen=True)
class Arm:
  """One experiment's runs as `ptjf sweep` lays them out, and what each is
  given beside its own bindings."""
  grid: ptjf_grid.Grid
  extra: experiment.PassThrough

  def train(self) -> None:
    """Trains what is not yet done of each run, first phases first; each is
    checked just before it trains (a fine-tune's first phase must be done)."""
    for call in self.grid.runs:
      bindings = call.bindings + self.extra.bindings
      if call.first_only:  # as Invocation.args: ptjf run refuses it there
        bindings = dataclasses.replace(bindings, finetune_gin=())
      phases = preflight.prepare(
          self.grid.name, call.workdir, call.pretrain_dir, call.phase,
          gin_files=self.extra.gin_files, **bindings)
      chain.run_experiment(phases, os.path.join(call.workdir, 'logs'),
                           list(self.extra.gin_files))

  def runs(self) -> list[trade_off.Run]:
    """Its measured runs: each point, with its high-resource rate and the
    offset of its last stage's steps (ptjf.curves.lineage's)."""
    out = []
    for point in self.grid.points:
      rate = ptjf_grid.bound(point, 'HIGH_RESOURCE_RATE')
      steps = ptjf_grid.phase_steps(self.grid, point, self.extra)
      offset = 0
      for before, stage in zip(steps, self.grid.phases[1:]):
        # A stage that keeps the state counts on from the step it restored.
        offset += 0 if stage.keeps_state else before
      out.append(trade_off.Run(self.grid.name, point.workdir,
                               None if rate is None else float(rate), offset))
    return out


def split(settings: Settings) -> dict[str, object]:
  """The axes of a two-phase arm: its first phase for the grid's first steps,
  its fine-tune for the rest of the total."""
  return {ptjf_grid.PRETRAIN_STEPS.flag: [str(settings.first)],
          ptjf_grid.FIX: 'total', ptjf_grid.TOTAL_STEPS: str(settings.steps)}


def arm(name: str, settings: Settings,
        given: Mapping[str, Sequence[str]], gin: Sequence[str] = (),
        pretrain_gin: Sequence[str] = (), finetune_gin: Sequence[str] = (),
        stage_gin: Sequence[str] = (), root: Optional[str] = None) -> Arm:
  """`name`'s runs on the axes `given` (a `ptjf sweep` flag name -> its
  values), laid out under `root` (the workdir by default); `gin`,
  `pretrain_gin`, `finetune_gin` and `stage_gin` bind every run beside the
  grid's own bindings. UsageError where `ptjf sweep` refuses."""
  extra = experiment.PassThrough(
      experiment.Bindings([*settings.gin, *gin], pretrain_gin, finetune_gin,
                          stage_gin), settings.gin_files)
  try:
    phases = experiment.phases(name)
    laid_out = ptjf_grid.lay_out(name, phases, root or settings.workdir,
                                 ptjf_grid.dimensions(name, phases, given, extra))
    ptjf_grid.check_lengths(laid_out, extra)
  except ValueError as e:
    raise app.UsageError(f'{name}: {e}') from None
  return Arm(laid_out, extra)


def write_table(lines: Sequence[str], prefix: str) -> None:
  """PREFIX.md, and the same printed."""
  outputs.write({prefix + '.md': '\n'.join(lines) + '\n'})
  print('\n'.join(lines))
  print(f'wrote {prefix}.md')


def plot(args: Sequence[str]) -> None:
  """`ptjf plot ARGS`; exits at its failure."""
  done = child.run(child.ptjf_command(['plot', *args]))
  if done.returncode:
    stopped = f' (stopped by signal {done.signals[0]})' if done.signals else ''
    sys.exit(f'error: ptjf plot {shlex.join(args)} failed with exit status '
             f'{done.returncode}{stopped}')
