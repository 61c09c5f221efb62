r"""The paper's mC4 arm (Figs 7 and 8) at laptop scale: five synthetic
languages, five ways of ordering them.

Every arm trains the tiny mT5 of the recipes/*_<problem>.gin recipes
(--problem, by default synth_mc4_paper: the synthetic languages cut so that
each is seen as often as mC4's in the paper's regime) for the same total
steps T, through `ptjf run`'s own code:
  static    the five languages at tau = 3.33 from scratch (WORKDIR/static);
  ptjf      English alone for the pre-training's N steps, then the five, the
            parameters restored, Adafactor and the warm-up reset
            (WORKDIR/pretrain<N>/{pretrain,ptjf});
  restart   static for N steps, then reset like ptjf and trained on as long
            (WORKDIR/pretrain<N>/{static,restart});
  cooldown  the five at tau = 5 for T/2 steps, then at 3.33 to step T with
            the whole state kept (WORKDIR/{hot,cooldown});
  ptjfcool  ptjf's pre-training, then its fine-tune at tau = 5 for half its
            steps and at 3.33 for the rest, the state kept between the two
            (WORKDIR/pretrain<N>/{ptjfhot,ptjfcool}: the English
            pre-training is ptjf's, trained once),
laid out as `ptjf sweep ARM --root=...` lays them out (benchmarks/grid.py).
T and N default to the recipes' own: static_<problem>'s steps in all,
pretrain_<problem>'s before the reset. A stage that keeps the state ends at
a step counted from its chain's start, so the cooldown stages are bound their
steps one by one. Each run evaluates every language and its training-split
twin every 100 steps. Seeds are the recipes' (0), so a re-run gives the same
losses; a re-run skips finished runs and resumes interrupted ones.

Writes (`ptjf plot`), each method named by its chain's last stage:
  PREFIX.md         the best validation loss per language and method
  PREFIX.png/.csv   the same as a bar chart (Fig. 7)
  PREFIX_curves.png validation (solid) and training-split (dashed) loss per
                    language, each method's run against the steps of all its
                    stages (Fig. 8)
  PREFIX_tokens.png validation loss against each language's tokens seen,
                    every stage's counted (Fig. 3's token efficiency)

  python -m benchmarks.reproduce_languages --workdir=/tmp/ptjf_reproduction/languages
"""

import os
import sys
import time

from absl import app
from absl import flags

from benchmarks import grid as grid_lib
from benchmarks import trade_off
from ptjf import recipe

_PROBLEM = flags.DEFINE_string(
    'problem', 'synth_mc4_paper', 'The recipes: recipes/{static,pretrain,'
    'ptjf,restart,hot,cooldown,ptjfhot,ptjfcool}_<problem>.gin.')
_OUTPUT = flags.DEFINE_string(
    'output', os.path.join(recipe.REPO, 'docs', 'figures', 'reproduction_languages'),
    'Prefix of the figures, CSV and table written.')

METHODS = ('static', 'restart', 'ptjf', 'cooldown', 'ptjfcool')


def arms(problem: str, grid: grid_lib.Settings) -> list[grid_lib.Arm]:
  """The five arms, at the recipes' temperatures, for the same total steps."""
  split = {**grid_lib.split(grid), 'taus': ['none']}
  ptjf = grid_lib.arm(f'ptjf_{problem}', grid, split)
  fine_tune = grid.steps - grid.first
  return [ptjf,
          # In PTJF's directory: its English pre-training is trained once.
          grid_lib.arm(f'ptjfcool_{problem}', grid, {'taus': ['none']},
                       pretrain_gin=[f'TRAIN_STEPS={grid.first}'],
                       stage_gin=[f'ptjfhot:TRAIN_STEPS = {fine_tune // 2}',
                                  f'ptjfcool:TRAIN_STEPS = {fine_tune}'],
                       root=ptjf.grid.points[0].workdir),
          # A kept-state stage's TRAIN_STEPS is the step it ends at, so each
          # stage is bound its own; the switch is halfway, as in the recipes.
          grid_lib.arm(f'cooldown_{problem}', grid, {'taus': ['none']},
                       stage_gin=[f'hot:TRAIN_STEPS = {grid.steps // 2}',
                                  f'cooldown:TRAIN_STEPS = {grid.steps}']),
          grid_lib.arm(f'static_{problem}', grid, {'taus': ['none']},
                       gin=[f'TRAIN_STEPS = {grid.steps}']),
          # Its first phase is the static recipe for grid.first steps: the
          # static run's first steps (the rsqrt schedule ignores length).
          grid_lib.arm(f'restart_{problem}', grid, split)]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  grid = grid_lib.settings(_PROBLEM.value)
  laid_out = arms(_PROBLEM.value, grid)
  try:
    recipe.require_t5x()
  except ValueError as e:
    sys.exit(f'error: {e}')
  began = time.time()
  try:
    for arm in laid_out:
      arm.train()
  except recipe.PreflightError as e:
    sys.exit(f'error: {e}')
  print(f'\nAll runs done in {(time.time() - began) / 60:.1f} min.', flush=True)
  runs = [run.model_dir for arm in laid_out for run in arm.runs()]
  prefix = os.path.abspath(_OUTPUT.value)
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  grid_lib.plot(['--kind=best', *runs, f'--output={prefix}'])
  grid_lib.plot(['--kind=curves', *runs, '--split=validation,train',
                 f'--output={prefix}_curves'])
  grid_lib.plot(['--kind=curves', *runs, '--x=tokens',
                 f'--output={prefix}_tokens'])
  grid_lib.write_table(trade_off.languages_table(prefix + '.csv', METHODS), prefix)


if __name__ == '__main__':
  app.run(main)
