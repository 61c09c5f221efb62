r"""The paper's En->{Ro,Fr} comparison (Figs 2 and 3) at laptop scale.

Every arm trains the tiny NMT model of the recipes/*_<problem>.gin recipes
(--problem, by default synth_ro_fr_paper: the synthetic pairs cut so that
each is seen as often as WMT's in the paper's runs) for the same total steps,
through `ptjf run`'s own code:
  static    both pairs at each high-resource rate of --rates, from scratch;
  ptjf      en_fr alone for the pre-training's steps (one shared run), then
            both pairs at each rate, parameters restored, Adam and schedule reset;
  restart   static at each rate of --restart_rates for the pre-training's
            steps, then reset like ptjf at the same rate;
  transfer  the shared pre-training, then en_ro alone, reset like ptjf.
Steps default to the recipes' own: static_<problem>'s for every arm,
pretrain_<problem>'s for the first phase of the others. Each run evaluates
both pairs and their training-split twins (EVALUATE_TRAINING_SPLIT) every 100
steps and checkpoints as often (--cadence). Seeds are the recipes' (0), so a
re-run gives the same losses. Re-running the command skips finished runs and
resumes interrupted ones. Each arm's runs are laid out as `ptjf sweep ARM
--root=WORKDIR` lays them out (benchmarks/grid.py), so grids that differ only
in --pretrain_steps share the static runs, WORKDIR/high<r>/static.

Then, with --bleu (the default), `ptjf eval` decodes each run's checkpoint at
its lowest en_ro validation loss (4-beam BLEU on both validation splits), and
writes:
  PREFIX.md        each method's best run, and every run's best point by rate
  PREFIX.png/.csv  the front of best en_ro loss against en_fr loss there
  PREFIX_bleu.png  the same points in BLEU
  PREFIX_tokens.png  en_ro loss against en_ro tokens seen, each method's best
                   run (Fig. 3)
  PREFIX_training_split.png  training-split loss beside validation loss of
                   each method's best en_ro run (Fig. 2, right)
  PREFIX_lengths.png/.csv  the length study (Fig. 9, right): static's front and
                   PTJF's after each pre-training length of --lengths, with
                   fine-tunes as long as the main grid's (WORKDIR/pretrain<steps>)

  python -m benchmarks.reproduce_pair --workdir=/tmp/ptjf_reproduction/pair
"""

import os
import sys
import tempfile
import time

from absl import app
from absl import flags

from benchmarks import grid as grid_lib
from benchmarks import trade_off
from ptjf import evaluate as ptjf_eval  # __main__.evaluate is t5x.eval's for gin
from ptjf import front
from ptjf import grid as ptjf_grid
from ptjf import recipe
from ptjf import table

_PROBLEM = flags.DEFINE_string(
    'problem', 'synth_ro_fr_paper', 'The recipes: recipes/{static,pretrain,'
    'ptjf,restart,transfer}_<problem>.gin.')
_OUTPUT = flags.DEFINE_string(
    'output', os.path.join(recipe.REPO, 'docs', 'figures', 'reproduction_pair'),
    'Prefix of the figures, CSV and table written.')
_RATES = flags.DEFINE_list('rates', ['0.1', '0.3', '0.5', '0.7', '0.9'],
                           'High-resource (en_fr) rates of static and ptjf.')
_RESTART_RATES = flags.DEFINE_list(
    'restart_rates', None, 'High-resource rates of the restart baseline '
    '(default: --rates).')
_LENGTHS = flags.DEFINE_list(
    'lengths', ['600', '4800'], 'The length study (Fig. 9, right): '
    'other pre-training lengths, each followed by PTJF fine-tunes at --rates '
    'as long as the main grid\'s; empty for none.')
_BLEU = flags.DEFINE_bool(
    'bleu', True, "Decode each run's best en_ro checkpoint and report BLEU.")


def arms(problem: str, grid: grid_lib.Settings, rates: list[str],
         restart_rates: list[str]) -> list[grid_lib.Arm]:
  """The main grid: every arm for the same total steps, the two-phase ones
  reset after the same first phase."""
  split = grid_lib.split(grid)
  return [grid_lib.arm(f'static_{problem}', grid, {'high_rates': rates},
                       gin=[f'TRAIN_STEPS = {grid.steps}']),
          grid_lib.arm(f'ptjf_{problem}', grid, {**split, 'high_rates': rates}),
          grid_lib.arm(f'restart_{problem}', grid,
                       {**split, 'high_rates': restart_rates}),
          # Its first phase is PTJF's, trained once in the same directory.
          grid_lib.arm(f'transfer_{problem}', grid, split)]


def length_study(problem: str, grid: grid_lib.Settings, lengths: list[str],
                 rates: list[str]) -> grid_lib.Arm:
  """PTJF at every rate after each pre-training length, with fine-tunes as
  long as the main grid's."""
  return grid_lib.arm(
      f'ptjf_{problem}', grid,
      {'pretrain_steps': lengths, 'fix': 'finetune', 'high_rates': rates},
      finetune_gin=[f'TRAIN_STEPS = {grid.steps - grid.first}'])


def lengths_figure(static: list[trade_off.Run], ptjf: list[trade_off.Run],
                   prefix: str) -> None:
  """Fig. 9 (right): static's front beside PTJF's after each pre-training
  length, each run at its best low-resource loss (ptjf plot's fronts)."""
  problem = trade_off.problem(static[0].problem)
  points, high, low = front.collect([r.model_dir for r in static + ptjf],
                                    problem.high, problem.low, point='best')
  first = {r.model_dir: r.first_steps for r in ptjf}
  for p in points:
    if p.run_dir in first:
      p.method = f'ptjf after {first[p.run_dir]:,}'
  front.mark_fronts(points)
  fig = front.draw(points, high, low, point='best')
  paths = table.write(fig, prefix, front.header('loss'), front.rows(points, high, low))
  print('wrote ' + ', '.join(paths))


def lengths_table(curves: list[trade_off.Curve]) -> list[str]:
  """Per pre-training length, PTJF's best low-resource loss and where."""
  p = trade_off.problem(curves[0].run.problem)
  lines = [f'| pre-training steps | best {trade_off.short_name(p.low)} loss | '
           f'{trade_off.short_name(p.high)} loss there | rate | total step |',
           '|---|---|---|---|---|']
  for first in sorted({c.run.first_steps for c in curves}):
    (loss, step), curve = min(((trade_off.best(c), c) for c in curves
                               if c.run.first_steps == first), key=lambda f: f[0])
    lines.append(f'| {first:,} | {loss:.3f} | {curve.high[step]:.3f} | '
                 f'{curve.run.rate} | {step:,} |')
  return lines


def bleu_at_best(curves: list[trade_off.Curve]) -> dict[str, dict[str, float]]:
  """BLEU per task of each run's checkpoint at its best en_ro step, decoded
  by `ptjf eval` (skipped where it already has)."""
  scores = {}
  with tempfile.TemporaryDirectory(prefix='ptjf_reproduce_') as tmp:
    for i, curve in enumerate(curves):
      step = trade_off.best(curve)[1] - curve.run.first_steps
      run = ptjf_eval.prepare(curve.run.model_dir, [step], 'validation',
                              os.path.join(tmp, f'eval_{i}.gin'))
      records = run.done.get(step) or ptjf_eval.evaluate(run, step)[0]
      scores[curve.run.model_dir] = {t: r['bleu'] for t, r in records.items()
                                     if 'bleu' in r}
      print(f'BLEU at step {step} of {curve.run.model_dir}: '
            f'{ptjf_eval.describe(records)}', flush=True)
  return scores


def figures(runs: list[trade_off.Run], curves: list[trade_off.Curve],
            prefix: str, bleu: bool) -> None:
  """`ptjf plot` of the measured runs (not the first phases)."""
  problem = trade_off.problem(runs[0].problem)
  dirs = [r.model_dir for r in runs]
  pair = [f'--high_task={problem.high}', f'--low_task={problem.low}']
  grid_lib.plot([*dirs, *pair, '--point=best', f'--output={prefix}'])
  if bleu:
    grid_lib.plot([*dirs, *pair, '--point=best', '--metric=bleu', f'--output={prefix}_bleu'])
  best = [min((c for c in curves if c.method == m), key=trade_off.best).run.model_dir
          for m in trade_off.METHODS if any(c.method == m for c in curves)]
  grid_lib.plot(['--kind=curves', *best, f'--tasks={problem.low}', '--x=tokens',
                 f'--output={prefix}_tokens'])
  grid_lib.plot(['--kind=curves', *best, f'--tasks={problem.low}',
                 '--split=validation,train', f'--output={prefix}_training_split'])


def _check_rates(flag: str, rates: list[str]) -> None:
  for r in rates:
    try:
      ptjf_grid.high_rate(r)
    except ValueError as e:
      raise app.UsageError(f'--{flag}: {e}.') from None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  problem, rates = _PROBLEM.value, _RATES.value
  grid = grid_lib.settings(problem)
  restart_rates = _RESTART_RATES.value if _RESTART_RATES.value is not None else rates
  _check_rates('rates', rates)
  _check_rates('restart_rates', restart_rates)
  for text in _LENGTHS.value:
    if not text.isdigit() or int(text) == 0 or int(text) == grid.first:
      raise app.UsageError(f'--lengths: {text!r} is not a pre-training length: give '
                           f'positive step counts other than the grid\'s {grid.first}.')
  main_arms = arms(problem, grid, rates, restart_rates)
  lengths = [length_study(problem, grid, _LENGTHS.value, rates)] if _LENGTHS.value else []
  try:
    recipe.require_t5x()
  except ValueError as e:
    sys.exit(f'error: {e}')
  began = time.time()
  try:
    for arm in main_arms + lengths:
      arm.train()
  except recipe.PreflightError as e:
    sys.exit(f'error: {e}')
  print(f'\nAll runs done in {(time.time() - began) / 60:.1f} min.', flush=True)
  runs = [run for arm in main_arms for run in arm.runs()]
  length_runs = [run for arm in lengths for run in arm.runs()]
  curves = trade_off.curves(runs)
  try:
    bleu = bleu_at_best(curves) if _BLEU.value else None
  except (ValueError, ptjf_eval.EvalFailed) as e:
    sys.exit(f'error: {e}')
  prefix = os.path.abspath(_OUTPUT.value)
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  figures(runs, curves, prefix, bleu is not None)
  lines = [*trade_off.table(curves, bleu), '', *trade_off.front_table(curves)]
  if length_runs:
    main_ptjf = [r for r in runs if r.arm == 'ptjf']
    lengths_figure([r for r in runs if r.arm == 'static'], main_ptjf + length_runs,
                   prefix + '_lengths')
    lines += ['', *lengths_table(trade_off.curves(main_ptjf + length_runs))]
  grid_lib.write_table(lines, prefix)


if __name__ == '__main__':
  app.run(main)
