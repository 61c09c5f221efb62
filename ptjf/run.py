r"""Runs an experiment: every stage of its chain, in order, each with
`python -m t5x.train`.

Usage: ptjf run EXPERIMENT --workdir=DIR [--gin='NAME = VALUE']... [flags]

EXPERIMENT is a recipe name from recipes/ (or a path to a recipe .gin file),
the chain's last stage. A recipe that sets PREVIOUS_STAGE continues that
recipe's final checkpoint, taking what its phase file carries:
  gin/phases/joint_finetune.gin  the parameters; optimizer and warm-up anew
  gin/phases/continue.gin        the whole state: parameters, optimizer, step
so, e.g.:
  ptjf_X, transfer_X   pretrain_X, then the fine-tune        DIR/pretrain, DIR/ptjf
  restart_X            static_X for pretrain_X's steps, then the restart
  cooldown_X           hot_X (tau 5), then on at tau 3.33, state kept
  ptjfcool_X           pretrain_X, ptjfhot_X, ptjfcool_X     three stages
  pretrain_X, static_X one stage
Each stage trains in DIR/<arm>, restoring the previous stage's final
checkpoint into a directory of its own: no stage writes another's.

Resuming: run the same command again, e.g. after a preemption. Finished
stages are skipped; an interrupted stage resumes from its own latest
checkpoint with its own optimizer state and step, so a stage restores the
previous one only once, when it starts.

--gin binds every stage, --pretrain_gin the first, --finetune_gin every later
one, --stage_gin='ARM:NAME = VALUE' the stage of that arm.

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
  ptjf run ptjfcool_synth_mc4_tiny --workdir=/tmp/ptjfcool_tiny \
    --stage_gin='ptjfhot:WARMUP_STEPS = 20'
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
