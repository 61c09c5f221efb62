r"""Runs an experiment: its first phase, then the fine-tune from that phase's
final checkpoint, each with `python -m t5x.train`.

Usage: ptjf run EXPERIMENT --workdir=DIR [--gin='NAME = VALUE']... [flags]

EXPERIMENT is a recipe name from recipes/ (or a path to a recipe .gin file):
  ptjf_X, transfer_X   pretrain_X, then the fine-tune        DIR/pretrain, DIR/ptjf
  restart_X            static_X for pretrain_X's steps, then the restart
  pretrain_X, static_X one phase
Each phase trains in DIR/<arm>. The fine-tune restores the first phase's final
checkpoint (parameters only) into a directory of its own: the first phase's
directory is never written by it.

Resuming: run the same command again, e.g. after a preemption. Finished phases
are skipped; an interrupted phase resumes from its own latest checkpoint with
its own optimizer state and step, so the fine-tune restores the pre-trained
parameters only once, when it starts.

Before any training it makes the checks of `ptjf check` (REQUIRED macros
bound, bindings the recipes define, tasks, splits, feature lengths, data
prepared, vocabulary files, directories, checkpoints, and this host's devices
against the mesh) and refuses with one line
naming the bad value and the fix.

On a TPU pod, run the same command on every worker with a gs:// --workdir
(see `ptjf launch`). On several GPU hosts, run it on each host with
--gin_file=gin/meshes/gpu_host.gin and --t5x_flag=--multiprocess_gpu plus
--t5x_flag=--coordinator_address=HOST0:PORT, --process_count and --process_index.

Bindings also take T5X's spelling: --gin.LEARNING_RATE=5e-3.

Example:
  ptjf run ptjf_synth_mc4_tiny --workdir=/tmp/ptjf_tiny
  ptjf run ptjf_wmt_ro_fr_3layer --workdir=gs://bucket/ro_fr \
    --gin='LEARNING_RATE = 5e-3' --finetune_gin='HIGH_RESOURCE_RATE = 0.5' \
    --finetune_gin='WARMUP_STEPS = 20_000'
"""

import os
import sys

from absl import app
from absl import flags

from ptjf import bindings
from ptjf import chain
from ptjf import check
from ptjf import child
from ptjf import lock
from ptjf import preflight
from ptjf import run_flags

flags.adopt_module_key_flags(bindings)
flags.adopt_module_key_flags(run_flags)


def main(argv):
  try:
    name, call, extra, runs = check.prepared(argv)
    t5x_flags = [*call.t5x_flags, *extra.t5x_flags]
    preflight.check_host(name, runs, t5x_flags, strict=True)
    preflight.check_remote_writes(call.workdir)
    # lock.Busy: another run has it; the lock records each t5x.train too
    with lock.Lock(call.workdir, t5x_flags) as held:
      chain.run_experiment(runs, os.path.join(call.workdir, 'logs'),
                           extra.gin_files, t5x_flags, held.trainer)
  except chain.PhaseFailed as e:
    if e.signum:
      child.exit_stopped(str(e), e.signum)
    sys.exit(f'{e.log_tail}\nerror: {e}' if e.log_tail else f'error: {e}')
  except ValueError as e:  # PreflightError included
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main)
