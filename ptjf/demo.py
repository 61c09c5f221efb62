r"""The embedded default: the tiny PTJF chain, with real T5X on CPU, offline.

Pre-trains a tiny mT5 on synthetic English (recipes/pretrain_synth_mc4_tiny.gin),
then joint fine-tunes it on five synthetic languages at tau = 3.33 from the
final checkpoint (recipes/ptjf_synth_mc4_tiny.gin), and prints where the
checkpoints and summaries are.

  python -m ptjf.demo [--workdir=/tmp/ptjf_demo]
"""

import os
import re
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

from ptjf import checkpoint
from ptjf import recipe
from ptjf import summaries

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Empty or new directory for both runs; default: a new '
    'directory under the system temp dir.')

PRETRAIN = os.path.join(recipe.RECIPES_DIR, 'pretrain_synth_mc4_tiny.gin')
FINETUNE = os.path.join(recipe.RECIPES_DIR, 'ptjf_synth_mc4_tiny.gin')
_TRAIN_LINE = re.compile(r'\[(\d+)\] collection=train ')
_TRAIN_VALUE = re.compile(r'(?:^|, )(loss|learning_rate/current)=([\d.e-]+)')


def run_phase(title: str, gin_file: str, model_dir: str, *bindings: str) -> None:
  """Runs `python -m t5x.train` on one recipe, printing its training summaries."""
  log_path = model_dir + '.log'
  print(f'{title}: {os.path.relpath(gin_file, recipe.REPO)} -> {model_dir}',
        flush=True)
  start = time.time()
  with open(log_path, 'w') as log, subprocess.Popen(
      recipe.train_command(gin_file, model_dir, bindings), cwd=recipe.REPO,
      env=recipe.cpu_env(), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True) as process:
    for line in process.stdout:
      log.write(line)
      match = _TRAIN_LINE.search(line)
      values = dict(_TRAIN_VALUE.findall(line[match.end():])) if match else {}
      if len(values) == 2:
        print(f'  step {match.group(1):>4}  train loss {float(values["loss"]):.3f}'
              f'  learning rate {float(values["learning_rate/current"]):.4f}',
              flush=True)
  if process.returncode:
    with open(log_path) as log:
      tail = log.readlines()[-25:]
    sys.exit(''.join(tail) + f'\n{title} failed (exit {process.returncode}); '
             f'full log: {log_path}')
  print(f'  done in {time.time() - start:.0f} s; log: {log_path}', flush=True)


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
  if message := recipe.t5x_missing():
    sys.exit(message)
  workdir = _WORKDIR.value or tempfile.mkdtemp(prefix='ptjf_demo_')
  if os.path.exists(workdir) and not (os.path.isdir(workdir) and
                                      not os.listdir(workdir)):
    sys.exit(f'--workdir={workdir} exists and is not an empty directory: give '
             'a new or empty directory (the demo never overwrites runs).')
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  pretrain_dir = os.path.join(workdir, 'pretrain')
  finetune_dir = os.path.join(workdir, 'ptjf')
  print('Tiny PTJF chain on the synthetic corpus, T5X on CPU.', flush=True)
  run_phase('[1/2] pre-train', PRETRAIN, pretrain_dir)
  initial = checkpoint.final(pretrain_dir)
  run_phase('[2/2] joint fine-tune', FINETUNE, finetune_dir,
            f"INITIAL_CHECKPOINT_PATH='{initial}'")
  report(pretrain_dir, finetune_dir, initial)


if __name__ == '__main__':
  app.run(main)
