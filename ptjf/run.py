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
bound, bindings the recipes define, tasks, splits, feature lengths,
vocabulary files, directories and checkpoints) and refuses with one line
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
from absl import logging

from ptjf import bindings
from ptjf import chain
from ptjf import preflight
from ptjf import recipe

flags.adopt_module_key_flags(bindings)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory of the experiment (local or gs://); each phase '
    'runs in <workdir>/<arm>.')
_PRETRAIN_DIR = flags.DEFINE_string(
    'pretrain_dir', None, 'A finished first phase to fine-tune from instead of '
    '<workdir>/<first arm>, e.g. one shared by a sweep. Read only: it must hold '
    'its final checkpoint.')
_PHASE = flags.DEFINE_enum(
    'phase', 'all', ['all', 'first'], "'first' runs only the first phase, e.g. "
    'to share it among several fine-tunes through --pretrain_dir.')
_T5X_FLAG = flags.DEFINE_multi_string(
    't5x_flag', [], 'A flag passed as it is to every t5x.train, e.g. '
    '--t5x_flag=--multiprocess_gpu.')


def prepare(argv) -> list[preflight.PhaseRun]:
  """The checked phases of the experiment the flags name (ptjf check shares
  this); raises PreflightError or UsageError."""
  if len(argv) != 2:
    raise app.UsageError(f'give exactly one EXPERIMENT, e.g. {argv[0]} '
                         f'ptjf_synth_mc4_tiny --workdir=DIR (got {argv[1:]}).')
  if not _WORKDIR.value:
    raise app.UsageError('--workdir is required: the directory where each '
                         'phase runs (local or gs://).')
  if message := recipe.t5x_missing():
    sys.exit(f'error: {message}')
  logging.set_verbosity(logging.FATAL)  # gin logs every search path it tries
  return preflight.prepare(argv[1], _WORKDIR.value, _PRETRAIN_DIR.value,
                           _PHASE.value, **bindings.values())


def main(argv):
  try:
    runs = prepare(argv)
    flags_for_t5x = [*_T5X_FLAG.value, *(
        [f'--tfds_data_dir={bindings.tfds_data_dir()}']
        if bindings.tfds_data_dir() else [])]
    chain.run_experiment(runs, os.path.join(_WORKDIR.value, 'logs'),
                         bindings.gin_files(), flags_for_t5x)
  except preflight.PreflightError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main)
