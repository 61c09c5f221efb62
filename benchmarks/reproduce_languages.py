r"""The paper's mC4 arm (Figs 7 and 8) at laptop scale: five synthetic
languages at tau = 3.33.

Every arm trains the tiny mT5 of the recipes/*_<problem>.gin recipes
(--problem, by default synth_mc4_paper: the synthetic languages cut so that
each is seen as often as mC4's in the paper's regime) for the same total
steps, through `ptjf run`'s own code:
  static    the five languages at tau = 3.33 from scratch (WORKDIR/static);
  ptjf      English alone for the pre-training's steps, then the five, the
            parameters restored, Adafactor and the warm-up reset (WORKDIR/ptjf);
  restart   static for the pre-training's steps, then reset like ptjf and
            trained on as long (WORKDIR/restart).
Steps default to the recipes' own: static_<problem>'s in all, pretrain_<problem>'s
before the reset. Each run evaluates every language and its training-split
twin every 100 steps. Seeds are the recipes' (0), so a re-run gives the same
losses; a re-run skips finished runs and resumes interrupted ones.

Writes (`ptjf plot`):
  PREFIX.md         the best validation loss per language and method
  PREFIX.png/.csv   the same as a bar chart (Fig. 7)
  PREFIX_curves.png validation (solid) and training-split (dashed) loss per
                    language, each method's run (Fig. 8)

  python -m benchmarks.reproduce_languages --workdir=/tmp/ptjf_reproduction/languages
"""

import os
import sys
import time

from absl import app
from absl import flags

from benchmarks import grid as grid_lib
from benchmarks import trade_off
from ptjf import preflight
from ptjf import recipe

_PROBLEM = flags.DEFINE_string(
    'problem', 'synth_mc4_paper', 'The recipes: recipes/{static,pretrain,'
    'ptjf,restart}_<problem>.gin.')
_OUTPUT = flags.DEFINE_string(
    'output', os.path.join(recipe.REPO, 'docs', 'figures', 'reproduction_languages'),
    'Prefix of the figures, CSV and table written.')

METHODS = ('static', 'restart', 'ptjf')


def experiments(problem: str, grid: grid_lib.Settings) -> list[list[preflight.PhaseRun]]:
  """The three arms' phases, all checked before any trains."""
  split = dict(pretrain_gin=[f'TRAIN_STEPS = {grid.first}'],
               finetune_gin=[f'TRAIN_STEPS = {grid.steps - grid.first}'],
               gin=grid.gin, gin_files=grid.gin_files)
  workdir = grid.workdir
  return [preflight.prepare(f'static_{problem}', os.path.join(workdir, 'static'),
                            gin=[*grid.gin, f'TRAIN_STEPS = {grid.steps}'],
                            gin_files=grid.gin_files),
          preflight.prepare(f'ptjf_{problem}', os.path.join(workdir, 'ptjf'), **split),
          # Its first phase is the static recipe for grid.first steps: the
          # static run's first steps (the rsqrt schedule ignores length).
          preflight.prepare(f'restart_{problem}', os.path.join(workdir, 'restart'),
                            **split)]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  grid = grid_lib.settings(_PROBLEM.value)
  try:
    recipe.require_t5x()
  except ValueError as e:
    sys.exit(f'error: {e}')
  began, runs = time.time(), []
  try:
    for phases in experiments(_PROBLEM.value, grid):
      grid_lib.train(phases, os.path.dirname(phases[-1].model_dir), grid.gin_files)
      runs.append(phases[-1].model_dir)
  except preflight.PreflightError as e:
    sys.exit(f'error: {e}')
  print(f'\nAll runs done in {(time.time() - began) / 60:.1f} min.', flush=True)
  prefix = os.path.abspath(_OUTPUT.value)
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  grid_lib.plot(['--kind=best', *runs, f'--output={prefix}'])
  grid_lib.plot(['--kind=curves', *runs, '--split=validation,train',
                 f'--output={prefix}_curves'])
  grid_lib.write_table(trade_off.languages_table(prefix + '.csv', METHODS), prefix)


if __name__ == '__main__':
  app.run(main)
