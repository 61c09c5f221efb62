r"""The embedded default: the tiny PTJF chain, with real T5X on CPU, offline.

`ptjf run ptjf_synth_mc4_tiny` in a new directory: pre-trains a tiny mT5 on
synthetic English (recipes/pretrain_synth_mc4_tiny.gin), then joint fine-tunes
it on five synthetic languages at tau = 3.33 from the final checkpoint
(recipes/ptjf_synth_mc4_tiny.gin), and prints the fine-tune's warm-up, each
language's validation loss and where the checkpoints and summaries are.

With --hosts=N it rehearses a pod on this machine: N local hosts of 2 CPU
devices each (ptjf.pod), every one running that `ptjf run` as a GPU host of a
pod does, on a data N x model 2 mesh; it then says what each host did.

  python -m ptjf.demo [--workdir=/tmp/ptjf_demo] [--hosts=2]
"""

import os
import re
import shlex
import sys
import tempfile
import time
from typing import Optional, Sequence

from absl import app
from absl import flags

from ptjf import bindings
from ptjf import chain
from ptjf import child
from ptjf import experiment
from ptjf import host
from ptjf import phase
from ptjf import pod
from ptjf import recipe
from ptjf import preflight
from ptjf import summaries

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Empty or new directory for both runs; default: a new '
    'directory under the system temp dir.')

EXPERIMENT = 'ptjf_synth_mc4_tiny'
# A local host is a ptjf run and a t5x.train, 1.8 GB together on the tiny
# chain, compiling on its own: 8 fill 15 GB and share the same cores.
MAX_HOSTS = 8
_HOSTS = flags.DEFINE_integer(
    'hosts', None, f'Rehearse a pod: run the chain as this many local hosts '
    f'(2 to {MAX_HOSTS}) of {pod.DEVICES_PER_HOST} CPU devices each; default: '
    'one process.')
# The model axis spans a host's devices; the data axis, the hosts.
MESH_BINDING = f'NUM_PARTITIONS = {pod.DEVICES_PER_HOST}'
_HEADING = re.compile(r'^\[\d+/\d+\] (\S+): ')
_DONE = re.compile(r'^    done in (\S+): ')
_SHARE = re.compile(r'restored parameters are finite \(checkpoint_0, '
                    r'share (\d+ of \d+)\)')


class HostFailed(RuntimeError):
  """A host of the rehearsal exited non-zero; the message is one line."""


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


def count_problem(hosts: int) -> str:
  """'' when this machine sensibly runs `hosts` local hosts, else why not."""
  if hosts < 2:
    return (f'--hosts={hosts}: a pod needs 2 hosts or more (leave --hosts '
            'out to run the demo in one process)')
  if hosts > MAX_HOSTS:
    return (f'--hosts={hosts}: at most {MAX_HOSTS} local hosts, each a whole '
            'ptjf run and t5x.train on this machine')
  return ''


def split_problem(hosts: int, needs: Sequence[host.MeshNeed]) -> str:
  """'' when the batch of phases that ask `needs` of the mesh splits over
  `hosts` local hosts, else which host counts it splits over."""
  fits = [n for n in range(2, MAX_HOSTS + 1) if not any(
      host.split_problem(need, n * pod.DEVICES_PER_HOST // need.model, '')
      for need in needs)]
  if hosts in fits:
    return ''
  either = ', '.join(map(str, fits[:-1])) + f' or {fits[-1]}'
  return (f"--hosts={hosts}: the tiny chain's batch of {needs[0].batch} "
          f'sequences does not split over a data axis of {hosts}: give '
          f'{either}')


def _first_failed(hosts: Sequence[pod.Host]) -> Optional[pod.Host]:
  """Waits while the hosts run: the first seen to exit non-zero, or None once
  every one has exited 0 or a signal has stopped them all."""
  while True:
    running = [h for h in hosts if h.process.running]  # sets returncode
    if any(h.process.signals for h in hosts):
      return None
    if failed := [h for h in hosts if h.process.returncode]:
      return failed[0]
    if not running:
      return None
    time.sleep(0.5)


def _last_error(h: pod.Host) -> str:
  """The failed host's own error: ptjf run's 'error:' line, else its last."""
  errors = [line.strip()[len('error: '):] for line in h.lines
            if line.startswith('error: ')]
  last = next((line.strip() for line in reversed(h.lines) if line.strip()), '')
  return errors[-1] if errors else h.process.root_error or last


def _did(h: pod.Host) -> str:
  """What a host that exited 0 did: its phases, its share of the check."""
  arms = [m.group(1) for line in h.lines if (m := _HEADING.match(line))]
  done = [m.group(1) for line in h.lines if (m := _DONE.match(line))]
  share = next((m.group(1) for line in h.lines if (m := _SHARE.search(line))), '')
  ran = ', '.join(f'{arm} done in {took}' for arm, took in zip(arms, done))
  checked = (f'restored parameters finite in share {share}' if share else
             'no share of the restored parameters checked')
  return f'exit {child.exit_status(h.process.returncode)}; {ran}; {checked}'


def run_pod(count: int, workdir: str, runs: Sequence[phase.PhaseRun]) -> None:
  """The chain as `count` local hosts, their lines echoed as they come, then
  what each did; exits non-zero when one fails (the others stopped) or a
  signal stops them."""
  model = runs[-1].mesh.model
  log_dir = os.path.join(workdir, 'logs')
  run_args = [f'--workdir={workdir}', f'--gin={MESH_BINDING}']
  coordinator = pod.local_coordinator()
  every = shlex.join(pod.worker_args(EXPERIMENT, run_args, coordinator, count, 0))
  print(f'Tiny PTJF chain on the synthetic corpus as a pod of {count} local '
        f'hosts of {pod.DEVICES_PER_HOST} CPU devices, a data {count} x model '
        f'{model} mesh, T5X on CPU. Host I runs: ptjf '
        f"{every.replace('--process_index=0', '--process_index=I')}", flush=True)
  try:
    with pod.start(EXPERIMENT, run_args, count, log_dir=log_dir, echo=True,
                   coordinator=coordinator) as hosts:
      if failed := _first_failed(hosts):
        failed.wait()  # its last lines read
        raise HostFailed(
            f'host {failed.index} of {count} exited '
            f'{child.exit_status(failed.process.returncode)}: {_last_error(failed)} '
            f'(its output: {log_dir}/host_{failed.index}.out); the other '
            'hosts were stopped.')
  except HostFailed as e:
    sys.exit(f'error: {e}')
  if signum := next((h.process.signals[0] for h in hosts if h.process.signals), 0):
    child.exit_stopped(f'stopped by signal {signum}: every host was stopped '
                       f'(their output: {log_dir}/host_*.out).', signum)
  pretrain, finetune = runs
  report(pretrain.model_dir, finetune.model_dir, pretrain.final_checkpoint)
  print(f'\nMesh: data {count} x model {model}, {count * pod.DEVICES_PER_HOST} '
        f'CPU devices ({count} hosts of {pod.DEVICES_PER_HOST}); each host:')
  for h in hosts:
    print(f'  host {h.index}: {_did(h)}; log {log_dir}/host_{h.index}.out')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  count = _HOSTS.value
  if count is not None and (problem := count_problem(count)):
    sys.exit(f'error: {problem}.')
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
  if count is None:
    print('Tiny PTJF chain on the synthetic corpus, T5X on CPU '
          f'(ptjf run {EXPERIMENT} --workdir={workdir}).', flush=True)
  os.environ.update(recipe.cpu_env())
  pod_args = (dict(gin=[MESH_BINDING], gin_files=[bindings.gin_file(pod.MESH)])
              if count is not None else {})
  try:
    pretrain, finetune = preflight.prepare(EXPERIMENT, workdir, **pod_args)
  except ValueError as e:  # PreflightError: refused before anything is written
    sys.exit(f'error: {e}')
  if count is not None:
    if problem := split_problem(count, [pretrain.mesh, finetune.mesh]):
      sys.exit(f'error: {problem}.')
    return run_pod(count, workdir, [pretrain, finetune])
  try:
    chain.run_experiment([pretrain, finetune], os.path.join(workdir, 'logs'))
  except chain.PhaseFailed as e:
    if e.signum:
      child.exit_stopped(str(e), e.signum)
    sys.exit(f'{e.log_tail}\nerror: {e}')
  report(pretrain.model_dir, finetune.model_dir, pretrain.final_checkpoint)


if __name__ == '__main__':
  app.run(main)
