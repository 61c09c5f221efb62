r"""The paper's comparison at laptop scale: synthetic En->{Fr,Ro}, tiny models.

Every arm trains the tiny NMT model of the *_synth_ro_fr_tiny recipes for the
same total number of steps (--steps), through `ptjf run`'s own code:
  static    both pairs at each high-resource rate of --rates, from scratch;
  ptjf      en_fr alone for --pretrain_steps (one shared run), then both pairs
            at each rate of --rates, parameters restored, Adam and schedule reset;
  restart   static at --restart_rate for --pretrain_steps, then reset like ptjf;
  transfer  the shared pre-training, then en_ro alone, reset like ptjf.
Each run evaluates both pairs every 100 steps (gin/runs/reproduce_tiny.gin).
Re-running the command skips finished runs and resumes interrupted ones, and
a run with another --pretrain_steps in the same --workdir reuses the static
runs (WORKDIR/static/high<r>; the other arms go to WORKDIR/first<steps>).

Then `ptjf plot --point=best` draws the trade-off (PREFIX.png, PREFIX.csv),
and a table per method is written to PREFIX.md and printed: its best en_ro
loss, en_fr's loss there, the en_ro tokens it had trained on by then, and the
total steps it took to first reach static sampling's best en_ro loss.

  python -m benchmarks.reproduce_tiny --workdir=/tmp/ptjf_reproduction
"""

import os
import subprocess
import sys
import time

from absl import app
from absl import flags

from benchmarks import trade_off
from ptjf import chain
from ptjf import preflight
from ptjf import recipe

_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of all runs.',
                               required=True)
_OUTPUT = flags.DEFINE_string(
    'output', os.path.join(recipe.REPO, 'docs', 'reproduction_tiny'),
    'Prefix of the figure, CSV and table written.')
_STEPS = flags.DEFINE_integer('steps', 2000, 'Total steps of every arm.')
_PRETRAIN_STEPS = flags.DEFINE_integer(
    'pretrain_steps', 1600, 'First-phase steps of ptjf, restart and transfer.')
_RATES = flags.DEFINE_list('rates', ['0.2', '0.4', '0.6', '0.8'],
                           "High-resource (en_fr) rates of static and ptjf.")
_RESTART_RATE = flags.DEFINE_string('restart_rate', '0.4',
                                    'High-resource rate of the restart baseline.')
_GIN = flags.DEFINE_multi_string(
    'gin', [], "Gin binding for every phase of every run, e.g. 'DROPOUT_RATE = 0.0'.")


def first_phase_dir(workdir: str) -> str:
  """Where the two-phase arms of this --pretrain_steps go; static runs, which
  do not depend on it, are shared by grids that differ only there."""
  return os.path.join(workdir, f'first{_PRETRAIN_STEPS.value}')


def grid(workdir: str) -> list[trade_off.Run]:
  data, first = trade_off.DATA, _PRETRAIN_STEPS.value
  two_phase = first_phase_dir(workdir)
  return [
      *[trade_off.Run(f'static_{data}', os.path.join(workdir, 'static', f'high{r}'),
                      float(r), 0) for r in _RATES.value],
      *[trade_off.Run(f'ptjf_{data}', os.path.join(two_phase, f'high{r}'),
                      float(r), first) for r in _RATES.value],
      trade_off.Run(f'restart_{data}',
                    os.path.join(two_phase, f'restart{_RESTART_RATE.value}'),
                    float(_RESTART_RATE.value), first),
      trade_off.Run(f'transfer_{data}', two_phase, None, first)]


def pretrain(workdir: str) -> str:
  """The shared en_fr pre-training's directory, trained if not yet done."""
  runs = preflight.prepare(f'ptjf_{trade_off.DATA}', workdir, phase='first', gin=_GIN.value,
                           pretrain_gin=[f'TRAIN_STEPS = {_PRETRAIN_STEPS.value}'],
                           gin_files=[trade_off.CADENCE_GIN])
  chain.run_experiment(runs, os.path.join(workdir, 'logs'), [trade_off.CADENCE_GIN])
  return runs[0].model_dir


def plot(runs: list[trade_off.Run], prefix: str) -> None:
  """`ptjf plot` of the measured runs only (not the first phases)."""
  subprocess.run([sys.executable, '-m', 'ptjf.cli', 'plot',
                  *[r.model_dir for r in runs], '--point=best',
                  f'--output={prefix}'], check=True, cwd=recipe.REPO)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not 0 < _PRETRAIN_STEPS.value < _STEPS.value:
    raise app.UsageError(f'--pretrain_steps={_PRETRAIN_STEPS.value}: give a '
                         f'count between 0 and --steps={_STEPS.value}, exclusive.')
  for r in [*_RATES.value, _RESTART_RATE.value]:
    try:
      ok = 0 < float(r) < 1
    except ValueError:
      ok = False
    if not ok:
      raise app.UsageError(f'rate {r!r}: rates lie strictly between 0 and 1.')
  try:
    recipe.require_t5x()
  except ValueError as e:
    sys.exit(f'error: {e}')
  workdir = os.path.abspath(_WORKDIR.value)
  began = time.time()
  try:
    pretrain_dir = pretrain(first_phase_dir(workdir))
    runs = grid(workdir)
    for run in runs:
      phases = run.prepare(pretrain_dir, _STEPS.value, _GIN.value)
      chain.run_experiment(phases, os.path.join(run.workdir, 'logs'), [trade_off.CADENCE_GIN])
  except preflight.PreflightError as e:
    sys.exit(f'error: {e}')
  print(f'\nAll runs done in {(time.time() - began) / 60:.1f} min; plotting.',
        flush=True)
  prefix = os.path.abspath(_OUTPUT.value)
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  plot(runs, prefix)
  lines = trade_off.table(trade_off.curves(runs))
  with open(prefix + '.md', 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))
  print(f'wrote {prefix}.md')


if __name__ == '__main__':
  app.run(main)
