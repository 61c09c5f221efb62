r"""Phase switch: starting a joint fine-tune against resuming, from one checkpoint.

A short tiny pre-training (recipes/pretrain_synth_mc4_tiny.gin) writes a
checkpoint. From it, the joint fine-tune (recipes/ptjf_synth_mc4_tiny.gin, the
same data, model and flags either way) starts in two ways, in alternating
order, each training one step and saving:
  fine-tune  a new run: parameters restored, Adafactor's state initialised
             afresh, step 0, so T5X also saves checkpoint_0 before its loop;
  resume     the checkpoint copied into the run's own directory: T5X restores
             the whole train state, step and optimizer slots included, as after
             a preemption.
Both go through `ptjf run`'s launcher; each attempt's log gives its breakdown
(benchmarks/t5x_log.py). Printed: the median seconds per part, and the ratio
fine-tune / resume of the start-up (launch to the first step) and of each part.

  python -m benchmarks.phase_switch [--repeats=3] [--workdir=DIR]
"""

import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile

from absl import app
from absl import flags

from benchmarks import t5x_log
from ptjf import chain
from ptjf import checkpoint
from ptjf import phase
from ptjf import preflight
from ptjf import recipe

_REPEATS = flags.DEFINE_integer('repeats', 3, 'Start-ups timed per kind.')
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'New or empty directory for the runs; default: a temporary '
    'one, removed afterwards.')

EXPERIMENT = 'ptjf_synth_mc4_tiny'
PRETRAIN_STEPS = 20
START_UP = ('imports', 'datasets', 'initialize/restore', 'compile')


def quietly(function, *args, **kwargs):
  """Calls `function` with its progress lines kept off the terminal."""
  with contextlib.redirect_stdout(io.StringIO()):
    return function(*args, **kwargs)


def pretrain(workdir: str) -> phase.PhaseRun:
  runs = preflight.prepare(EXPERIMENT, workdir, phase='first',
                           pretrain_gin=[f'TRAIN_STEPS = {PRETRAIN_STEPS}'])
  quietly(chain.run_experiment, runs, os.path.join(workdir, 'logs'))
  return runs[0]


def start(first: phase.PhaseRun, workdir: str, resume: bool) -> t5x_log.Attempt:
  """Starts the fine-tune recipe for one step from `first`'s final checkpoint:
  as a new fine-tune, or (`resume`) as if that checkpoint were its own."""
  if resume:  # T5X resumes from the latest checkpoint in its model directory
    shutil.copytree(first.final_checkpoint, checkpoint.path(
        os.path.join(workdir, 'ptjf'), PRETRAIN_STEPS))
  steps = PRETRAIN_STEPS + 1 if resume else 1
  _, run = preflight.prepare(EXPERIMENT, workdir, pretrain_dir=first.model_dir,
                             pretrain_gin=[f'TRAIN_STEPS = {PRETRAIN_STEPS}'],
                             finetune_gin=[f'TRAIN_STEPS = {steps}'])
  return _train(run, workdir, start_step=PRETRAIN_STEPS if resume else 0)


def _train(run: phase.PhaseRun, workdir: str, start_step: int = 0):
  log_dir = os.path.join(workdir, 'logs')
  quietly(chain.train, run, log_dir, start_step=start_step)
  attempt, = t5x_log.attempts(log_dir)
  return attempt


def medians(attempts: list[t5x_log.Attempt]) -> dict[str, float]:
  parts = [a.breakdown() for a in attempts]
  return {p: statistics.median(b[p] for b in parts) for p in t5x_log.PARTS}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if _REPEATS.value < 1:
    raise app.UsageError(f'--repeats={_REPEATS.value}: give a positive count.')
  try:
    recipe.require_t5x()
  except ValueError as e:
    sys.exit(f'error: {e}')
  with contextlib.ExitStack() as stack:
    workdir = _WORKDIR.value or stack.enter_context(
        tempfile.TemporaryDirectory(prefix='ptjf_phase_switch_'))
    if os.path.isdir(workdir) and os.listdir(workdir):
      sys.exit(f'--workdir={workdir} is not empty: give a new or empty directory.')
    print(f'Pre-training {EXPERIMENT} for {PRETRAIN_STEPS} steps in {workdir} ...',
          flush=True)
    first = pretrain(os.path.join(workdir, 'first'))
    kinds = {'fine-tune': False, 'resume': True}
    timed = {kind: [] for kind in kinds}
    for i in range(_REPEATS.value):
      order = list(kinds) if i % 2 == 0 else list(kinds)[::-1]
      for kind in order:
        timed[kind].append(start(first, os.path.join(workdir, f'{kind}{i}'),
                                 resume=kinds[kind]))
        print(f'  {kind} {i + 1}/{_REPEATS.value}: '
              f'{timed[kind][-1].ended - timed[kind][-1].launched:.1f} s', flush=True)

  table = {kind: medians(attempts) for kind, attempts in timed.items()}
  print(f'\nMedian of {_REPEATS.value} start-ups from checkpoint_{PRETRAIN_STEPS}, '
        'one step each:')
  t5x_log.print_table(table)
  ft, rs = table['fine-tune'], table['resume']
  startup = {k: sum(t[p] for p in START_UP) for k, t in table.items()}
  print(f'\nratio fine-tune / resume: start-up (launch to first step) '
        f'{startup["fine-tune"] / startup["resume"]:.2f}, initialize/restore '
        f'{ft["initialize/restore"] / rs["initialize/restore"]:.2f}, '
        f'checkpoints {ft["checkpoints"] / rs["checkpoints"]:.2f}, '
        f'whole attempt {sum(ft.values()) / sum(rs.values()):.2f}')


if __name__ == '__main__':
  app.run(main)
