r"""The tiny demo end to end, and where its time goes.

Runs the embedded default (`python -m ptjf.demo`, what `make demo` runs: the
tiny PTJF chain, both phases through t5x.train on CPU) in a new directory,
times it, and splits each phase's t5x.train attempt into imports, datasets,
initialise/restore, compile, steps, checkpoints, evaluation and exit from its
log (benchmarks/t5x_log.py). What is left of the wall time is `ptjf` itself:
its imports, pre-flight (tracing the model's shapes) and the final report.
Printed: seconds per part and phase, and each part's share of the wall time.

  python -m benchmarks.demo_breakdown [--workdir=DIR]
"""

import contextlib
import os
import sys
import tempfile
import time

from absl import app
from absl import flags

from benchmarks import t5x_log
from ptjf import child
from ptjf import recipe

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'New or empty directory for the demo; default: a '
    'temporary one, removed afterwards.')


def run_demo(workdir: str) -> float:
  """Runs the demo; returns its wall time in seconds."""
  began = time.time()
  # Only the end of its output is wanted, and only if it fails.
  done = child.run([sys.executable, '-m', 'ptjf.demo', f'--workdir={workdir}'],
                   os.devnull)
  if done.signals:
    sys.exit(f'error: the demo was stopped by signal {done.signals[0]}')
  if done.returncode:
    sys.exit(done.tail + f'\nerror: the demo failed (exit {done.returncode})')
  return time.time() - began


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    recipe.require_t5x()
  except ValueError as e:
    sys.exit(f'error: {e}')
  with contextlib.ExitStack() as stack:
    workdir = _WORKDIR.value or stack.enter_context(
        tempfile.TemporaryDirectory(prefix='ptjf_demo_breakdown_'))
    if os.path.isdir(workdir) and os.listdir(workdir):
      sys.exit(f'--workdir={workdir} is not empty: give a new or empty directory.')
    print(f'Running python -m ptjf.demo --workdir={workdir} ...', flush=True)
    wall = run_demo(workdir)
    pretrain, finetune = t5x_log.attempts(os.path.join(workdir, 'logs'))
  columns = {'pre-training': pretrain.breakdown(), 'fine-tune': finetune.breakdown()}
  columns['both'] = {p: sum(c[p] for c in columns.values()) for p in t5x_log.PARTS}
  print(f'\nThe tiny demo took {wall:.1f} s. Its two t5x.train attempts:')
  t5x_log.print_table(columns)
  in_t5x = sum(columns['both'].values())
  both = dict(columns['both'], **{'ptjf itself': wall - in_t5x})
  print('\nshare of the wall time: ' + ', '.join(
      f'{part} {seconds / wall:.0%}' for part, seconds in both.items()))
  print(f'ratio steps / wall time: {both["steps"] / wall:.2f}; '
        f'fine-tune / pre-training attempt: '
        f'{sum(columns["fine-tune"].values()) / sum(columns["pre-training"].values()):.2f}')


if __name__ == '__main__':
  app.run(main)
