r"""The embedded default: the tiny PTJF chain, with real T5X on CPU, offline.

`ptjf run ptjf_synth_mc4_tiny` in a new directory: pre-trains a tiny mT5 on
synthetic English (recipes/pretrain_synth_mc4_tiny.gin), then joint fine-tunes
it on five synthetic languages at tau = 3.33 from the final checkpoint
(recipes/ptjf_synth_mc4_tiny.gin), and prints the fine-tune's warm-up, each
language's validation loss and where the checkpoints and summaries are.

  python -m ptjf.demo [--workdir=/tmp/ptjf_demo]
"""

import os
import sys
import tempfile

from absl import app
from absl import flags

from ptjf import chain
from ptjf import experiment
from ptjf import recipe
from ptjf import preflight
from ptjf import summaries

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Empty or new directory for both runs; default: a new '
    'directory under the system temp dir.')

EXPERIMENT = 'ptjf_synth_mc4_tiny'


def report(pretrain_dir: str, finetune_dir: str, initial: str) -> None:
  rates = summaries.scalars(finetune_dir)['learning_rate/current']
  print('\nFine-tune learning rate (linear warm-up from 0, then 1/sqrt(step)):')
  print('  ' + '  '.join(f'{s}: {r:.4f}' for s, r in sorted(rates.items())[:4]))
  print('\nValidation loss per task during the joint fine-tune:')
  for task in summaries.eval_tasks(finetune_dir):
    loss = summaries.scalars(finetune_dir, f'training_eval/{task}')['loss']
    (first, a), (last, b) = min(loss.items()), max(loss.items())
    print(f'  {task:22s} step {first}: {a:.3f}  step {last}: {b:.3f}')
  print(f'\nPre-training checkpoints: {pretrain_dir}/checkpoint_*'
        f'\nFine-tune checkpoints:    {finetune_dir}/checkpoint_* '
        f'(checkpoint_0 holds the parameters of {initial})'
        f'\nSummaries:                tensorboard --logdir {os.path.dirname(finetune_dir)}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    recipe.require_t5x()
  except ValueError as e:
    sys.exit(f'error: {e}')
  workdir = experiment.absolute(_WORKDIR.value or
                                tempfile.mkdtemp(prefix='ptjf_demo_'))
  if os.path.exists(workdir) and not (os.path.isdir(workdir) and
                                      not os.listdir(workdir)):
    sys.exit(f'error: --workdir={workdir} exists and is not an empty '
             'directory: give a new or empty directory (the demo never '
             'overwrites runs).')
  print('Tiny PTJF chain on the synthetic corpus, T5X on CPU '
        f'(ptjf run {EXPERIMENT} --workdir={workdir}).', flush=True)
  os.environ.update(recipe.cpu_env())
  try:
    pretrain, finetune = preflight.prepare(EXPERIMENT, workdir)
  except ValueError as e:  # PreflightError: refused before anything is written
    sys.exit(f'error: {e}')
  try:
    chain.run_experiment([pretrain, finetune], os.path.join(workdir, 'logs'))
  except chain.PhaseFailed as e:
    sys.exit(f'{e.log_tail}\nerror: {e}')
  report(pretrain.model_dir, finetune.model_dir, pretrain.final_checkpoint)


if __name__ == '__main__':
  app.run(main)
