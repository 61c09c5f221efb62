r"""Checks an experiment as `ptjf run` does before training, and trains nothing.

Usage: ptjf check EXPERIMENT --workdir=DIR [the flags of ptjf run]

For each phase it checks, and says what it found:
  - the recipe parses with the bindings, and no REQUIRED macro is left unbound;
  - every task of the training and evaluation mixtures is registered and has
    the split each reads;
  - the feature lengths fit each task (span corruption's targets are long
    enough for its inputs);
  - local vocabulary files exist;
  - the checkpoint T5X would resume from (the phase directory's last) is
    whole (finished by Orbax, its metadata and every file its metadata
    lists present and long enough) and of the recipe's model;
  - the fine-tune's initial checkpoint is whole and of the same model, when
    the first phase is finished or given with --pretrain_dir and the
    fine-tune has no checkpoint of its own to resume;
  - the fine-tune's directory is not the first phase's, nor inside it;
  - the TFDS datasets read are prepared under the data dir (--tfds_data_dir);
  - the devices t5x.train will find on this host hold the mesh (the model
    axis, a TPU submesh) and split the batch over its data axis, and remote
    vocabulary files (gs://) can be read here: refused on a host with an
    accelerator, only noted on one without, where a pod's run is checked
    before launching it (ptjf compile checks a slice from anywhere).
A failure is one line naming the bad value and the fix, with exit status 1.
Nothing is written: not even --workdir is created.

Example:
  ptjf check ptjf_synth_mc4_tiny --workdir=/tmp/ptjf_tiny
  ptjf check ptjf_wmt_ro_fr_3layer --workdir=gs://bucket/ro_fr \
    --pretrain_dir=gs://bucket/pretrain_ro_fr --finetune_gin='HIGH_RESOURCE_RATE = 0.5'
"""

import sys
from typing import Sequence

from absl import flags

from ptjf import checkpoint
from ptjf import bindings
from ptjf import experiment
from ptjf import phase
from ptjf import preflight
from ptjf import recipe
from ptjf import run_flags

flags.adopt_module_key_flags(bindings)
flags.adopt_module_key_flags(run_flags)


def describe(runs: list[phase.PhaseRun]) -> list[str]:
  """What was checked of each phase, as `ptjf check` prints it."""
  lines = []
  for i, run in enumerate(runs, 1):
    lines.append(run.heading(i, len(runs)))
    steps = (f'steps {run.first_step} to {run.steps}' if run.first_step
             else f'{run.steps} steps')
    lines.append(f'    {steps}, {len(run.shapes)} parameter arrays, '
                 f'DATA_SEED {run.data_seed}')
    lines.extend(f'    {line}' for line in run.report)
    found = checkpoint.steps(run.model_dir)  # T5X resumes from the last
    if run.initial:
      carried = ('whole state' if run.phase.keeps_state else 'parameters')
      lines.append(f'    initial checkpoint {run.initial} ({carried}): ' + (
          'not needed, this stage resumes its own' if found else
          'whole, of this model' if runs[i - 2].done() else
          f'written by {runs[i - 2].phase.arm}'))
    lines.append('    checkpoints: ' + (
        f't5x.train resumes from checkpoint_{found[-1]}: whole, of this model'
        if found else 'none yet'))
  return lines


def prepared(argv: Sequence[str]) -> tuple[
    str, experiment.Invocation, experiment.PassThrough, list[phase.PhaseRun]]:
  """The experiment the command line of `ptjf run` or `ptjf check` names, the
  call, what it passes through, and its phases resolved and checked by
  preflight.prepare; raises ValueError."""
  name = experiment.from_argv(argv)
  call = run_flags.invocation_from_flags()
  recipe.require_t5x()
  extra = bindings.pass_through_from_flags()
  runs = preflight.prepare(name, call.workdir, call.pretrain_dir, call.phase,
                           gin_files=extra.gin_files,
                           tfds_data_dir=extra.tfds_data_dir, **extra.bindings)
  return name, call, extra, runs


def main(argv):
  try:
    name, call, extra, runs = prepared(argv)
    notes = preflight.check_host(
        name, runs, [*call.t5x_flags, *extra.t5x_flags], strict=False)
  except ValueError as e:  # PreflightError included
    sys.exit(f'error: {e}')
  print('\n'.join(describe(runs)))
  print(''.join(f'note: {n}; ptjf run refuses this here.\n' for n in notes),
        end='')
  passed = 'every check but those noted' if notes else 'every check'
  print(f'ok: {name} passed {passed}; nothing was written.')
