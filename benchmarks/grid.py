"""What the reproduction's grids share: their flags and cadence, how they
train a set of `ptjf run` experiments, how they write their table and call
`ptjf plot`."""

import dataclasses
import os
import subprocess
import sys
from typing import Sequence

from absl import app
from absl import flags

from ptjf import chain
from ptjf import experiment
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


def train(phases: Sequence[preflight.PhaseRun], workdir: str,
          gin_files: Sequence[str]) -> None:
  """Trains what is not yet done of an experiment's phases."""
  chain.run_experiment(list(phases), os.path.join(workdir, 'logs'), list(gin_files))


def write_table(lines: Sequence[str], prefix: str) -> None:
  """PREFIX.md, and the same printed."""
  with open(prefix + '.md', 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))
  print(f'wrote {prefix}.md')


def plot(args: Sequence[str]) -> None:
  subprocess.run([sys.executable, '-m', 'ptjf.cli', 'plot', *args], check=True,
                 cwd=recipe.REPO)
