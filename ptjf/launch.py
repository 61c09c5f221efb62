r"""ptjf launch: the gcloud commands that run an experiment on a Cloud TPU VM pod.

Usage:
  ptjf launch EXPERIMENT --tpu=NAME --zone=ZONE --workdir=gs://BUCKET/DIR
      [--project=P] [--accelerator_type=v4-256 [--runtime_version=V]]
      [--setup --repo_url=URL] [--checkout_dir=~/ptjf-t5x] [--execute]
      [--gin='NAME = VALUE']... [--pretrain_gin=...]... [--finetune_gin=...]...
      [--gin_file=F]... [--pretrain_dir=gs://...] [--phase=all|first]
      [--tfds_data_dir=gs://...] [--t5x_flag=--FLAG]...

Prints, in order:
  1. with --accelerator_type: `gcloud compute tpus tpu-vm create` of the TPU VM
     (runtime tpu-ubuntu2204-base for v4 and older, v2-alpha-tpuv5 for v5p,
     v2-alpha-tpuv5-lite for v5e, v2-alpha-tpuv6e for v6e, or --runtime_version);
  2. with --setup: on every worker, clone --repo_url into --checkout_dir,
     `make install-t5x PYTHON=--python` there (its .venv with T5X at the
     pinned commits; setup.py needs Python 3.11, the TPU images ship 3.10),
     then `pip install 'jax[tpu]'`;
  3. always: `gcloud compute tpus tpu-vm ssh --worker=all` running
     `cd CHECKOUT && .venv/bin/ptjf run EXPERIMENT --workdir=gs://...` with the
     run flags given here.
--execute runs them one after another and stops at the first failure.

Every worker of the pod runs the same `ptjf run` command: JAX on TPU finds
the other hosts itself, and T5X shards the model and the data over all of
them. The model directory must be on GCS (gs://) so that every worker, and a
pod re-created after a preemption, reads and writes the same checkpoints.
`ptjf run` is resumable: after a preemption or a failure, run the same
command again (re-create the TPU VM and repeat --setup if it was deleted) and
it continues from the last checkpoint, skipping finished phases. The ssh step
lasts as long as the training: run it from a machine that stays connected
(e.g. inside tmux).

The REQUIRED macros of the experiment's recipes must be bound: e.g.
ptjf_wmt_ro_fr_3layer needs --gin='LEARNING_RATE = 5e-3' (every phase) and
--finetune_gin='HIGH_RESOURCE_RATE = 0.7' --finetune_gin='WARMUP_STEPS = 20000'
(the fine-tune only); `ptjf sweep` prints the paper's grid.

Example:
  ptjf launch ptjf_mc4_xxl --tpu=ptjf-xxl --zone=us-central2-b \
      --project=my-project --accelerator_type=v4-256 \
      --setup --repo_url=https://github.com/ME/ptjf-t5x.git \
      --workdir=gs://my-bucket/ptjf_mc4_xxl --tfds_data_dir=gs://my-bucket/tfds

Multi-GPU hosts instead of a TPU pod: on each of the N hosts (I = 0 ... N-1,
host 0 reachable as HOST0), with a --workdir every host sees (GCS, or a file
system they all mount), run

  ptjf run EXPERIMENT --workdir=gs://... --gin_file=gin/meshes/gpu_host.gin \
      --t5x_flag=--multiprocess_gpu --t5x_flag=--coordinator_address=HOST0:1234 \
      --t5x_flag=--process_count=N --t5x_flag=--process_index=I

gin/meshes/gpu_host.gin replaces the recipe's TPU mesh: a model replica spans
NUM_PARTITIONS GPUs of one host, 8 by default (mT5-XXL); add
--gin='NUM_PARTITIONS = 1' for XL and smaller models.
"""

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import Optional, Sequence

from absl import app
from absl import flags

from ptjf import bindings
from ptjf import experiment
from ptjf import recipe
from ptjf import run_flags

flags.adopt_module_key_flags(bindings)  # passed to every worker's ptjf run
flags.adopt_module_key_flags(run_flags)

_TPU = flags.DEFINE_string('tpu', None, 'Name of the TPU VM (pod slice).')
_ZONE = flags.DEFINE_string('zone', None, 'Zone of the TPU VM, e.g. us-central2-b.')
_PROJECT = flags.DEFINE_string('project', None, 'Google Cloud project.')
_ACCELERATOR_TYPE = flags.DEFINE_string(
    'accelerator_type', None, 'Create the TPU VM first, of this type, e.g. '
    'v4-256; without it the TPU VM must exist.')
_RUNTIME_VERSION = flags.DEFINE_string(
    'runtime_version', None, 'TPU software version of the created VM; default '
    'by accelerator (tpu-ubuntu2204-base for v4 and older).')
_SETUP = flags.DEFINE_bool(
    'setup', False, 'Install the repository (from --repo_url) on every worker '
    'before the run.')
_REPO_URL = flags.DEFINE_string(
    'repo_url', None, 'git URL of this repository, cloned by --setup.')
_CHECKOUT_DIR = flags.DEFINE_string(
    'checkout_dir', '~/ptjf-t5x', 'Checkout of the repository on every worker; '
    'the run starts there, with its .venv.')
_PYTHON = flags.DEFINE_string(
    'python', 'python3.11', 'Python (>= 3.11; also the Ubuntu package name) '
    'that --setup installs and makes the .venv with.')
_EXECUTE = flags.DEFINE_bool(
    'execute', False, 'Run the gcloud commands instead of printing them.')

# TPU software version by accelerator family (cloud.google.com/tpu/docs/runtimes).
RUNTIME_VERSIONS = {'v6e': 'v2-alpha-tpuv6e', 'v5p': 'v2-alpha-tpuv5',
                    'v5litepod': 'v2-alpha-tpuv5-lite'}
OLDER_RUNTIME_VERSION = 'tpu-ubuntu2204-base'  # v4 and older
LIBTPU_RELEASES = 'https://storage.googleapis.com/jax-releases/libtpu_releases.html'


def quote(arg: str) -> str:
  """shlex.quote, but in double quotes where that needs no escaping, so the
  worker's command nests in the single quotes of the local one."""
  if shlex.quote(arg) == arg or re.search(r'[$`"\\!]', arg):
    return shlex.quote(arg)
  return f'"{arg}"'


def remote_path(path: str) -> str:
  """`path` quoted for the worker's shell, a leading ~/ left to expand there."""
  if path.startswith('~/'):
    return '~/' + quote(path[2:])
  return path if path == '~' else quote(path)


def tpu_vm(verb: str, tpu: str, zone: str, project: Optional[str]) -> list[str]:
  return ['gcloud', 'compute', 'tpus', 'tpu-vm', verb, tpu, f'--zone={zone}',
          *([f'--project={project}'] if project else [])]


def on_every_worker(tpu: str, zone: str, project: Optional[str],
                    command: str) -> list[str]:
  return [*tpu_vm('ssh', tpu, zone, project), '--worker=all',
          f'--command={command}']


def setup_command(repo_url: str, checkout_dir: str, python: str) -> str:
  """Clones the repository (unless there) and installs it, T5X included,
  into its .venv as `make install-t5x` does here, then jax[tpu]."""
  checkout = remote_path(checkout_dir)
  return ' && '.join([
      'sudo apt-get -qq update',
      f'sudo apt-get -qq install -y git make {quote(python + "-venv")}',
      f'(test -d {checkout}/.git || git clone {quote(repo_url)} {checkout})',
      f'cd {checkout}', f'make install-t5x PYTHON={quote(python)}',
      f'.venv/bin/pip install -q "jax[tpu]" -f {LIBTPU_RELEASES}'])


def run_command(checkout_dir: str, run_args: Sequence[str]) -> str:
  """`ptjf run` from the checkout, as one string for the worker's shell."""
  return (f'cd {remote_path(checkout_dir)} && '
          f'{" ".join(map(quote, [".venv/bin/ptjf", *run_args]))}')


def in_checkout(path: str) -> str:
  """A local file as the workers' checkout names it: it must be in this
  repository, and is then given relative to it."""
  relative = os.path.relpath(os.path.abspath(path), recipe.REPO)
  if relative.startswith('..'):
    raise ValueError(f'{path} is outside the repository, so the workers do '
                     'not have it: add it to the repository (e.g. recipes/).')
  return relative


def experiment_argument(name: str) -> str:
  """The experiment as the workers' checkout names it."""
  return in_checkout(experiment.recipe_path(name)) if name.endswith(
      '.gin') else name


def _require_gcs(flag: flags.FlagHolder) -> None:
  if not (flag.value or '').startswith('gs://'):
    given = f', not {flag.value!r}' if flag.value else ''
    raise ValueError(f'--{flag.name} must be a gs:// path{given}: every worker '
                     'of the pod, and a pod re-created after a preemption, must '
                     'see the same checkpoints.')


def check_flags(name: str, phases: Sequence[experiment.Phase],
                pass_through: experiment.PassThrough) -> None:
  if not (_TPU.value and _ZONE.value):
    raise ValueError('--tpu and --zone are required: the TPU VM and its zone.')
  _require_gcs(run_flags.WORKDIR)
  if run_flags.PRETRAIN_DIR.value:
    _require_gcs(run_flags.PRETRAIN_DIR)
  experiment.check_flags(name, phases, **pass_through.bindings,
                         pretrain_dir=run_flags.PRETRAIN_DIR.value,
                         phase=run_flags.PHASE.value)
  if _SETUP.value != bool(_REPO_URL.value):
    raise ValueError('--setup clones --repo_url (the git URL of your copy of '
                     'this repository): give both or neither.')
  if _RUNTIME_VERSION.value and not _ACCELERATOR_TYPE.value:
    raise ValueError('--runtime_version is for creating the TPU VM: give '
                     '--accelerator_type too.')


def gcloud_steps(name: str, call: experiment.Invocation,
                 pass_through: experiment.PassThrough
                 ) -> list[tuple[str, list[str]]]:
  """(what it does, gcloud argv) in order."""
  where = (_TPU.value, _ZONE.value, _PROJECT.value)
  out = []
  if _ACCELERATOR_TYPE.value:
    version = _RUNTIME_VERSION.value or RUNTIME_VERSIONS.get(
        _ACCELERATOR_TYPE.value.split('-')[0], OLDER_RUNTIME_VERSION)
    out.append((f'Create the TPU VM ({_ACCELERATOR_TYPE.value}, {version})',
                [*tpu_vm('create', *where),
                 f'--accelerator-type={_ACCELERATOR_TYPE.value}',
                 f'--version={version}']))
  if _SETUP.value:
    out.append((f'Install on every worker: clone into {_CHECKOUT_DIR.value}, '
                f'make install-t5x with {_PYTHON.value}, then jax[tpu]',
                on_every_worker(*where, setup_command(
                    _REPO_URL.value, _CHECKOUT_DIR.value, _PYTHON.value))))
  args = call.args(name, pass_through)
  out.append(('Train: every worker runs the same command; run it again to '
              'resume after a preemption',
              on_every_worker(*where, run_command(_CHECKOUT_DIR.value, args))))
  return out


def execute(plan: Sequence[tuple[str, list[str]]]) -> None:
  """Runs the gcloud commands in order; exits at the first failure."""
  if not shutil.which('gcloud'):
    sys.exit('error: gcloud is not on PATH: install the Google Cloud CLI '
             '(cloud.google.com/sdk) or run without --execute.')
  for i, (what, argv) in enumerate(plan, 1):
    print(f'[{i}/{len(plan)}] {what}\n{shlex.join(argv)}', flush=True)
    status = subprocess.run(argv, check=False).returncode
    if status:
      sys.exit(f'error: step {i}/{len(plan)} ({what}) failed with exit '
               f'status {status}: {shlex.join(argv)}')


def main(argv: Sequence[str]) -> None:
  try:
    name = experiment.from_argv(argv)
    phases = experiment.phases(name)
    pass_through = bindings.pass_through_from_flags()
    pass_through = dataclasses.replace(pass_through, gin_files=[
        in_checkout(f) if os.path.isfile(f) else f
        for f in pass_through.gin_files])
    check_flags(name, phases, pass_through)
    call = run_flags.invocation_from_flags()
    experiment.check_required(name, phases, call.phase_indices(phases),
                              pass_through.bindings, pass_through.gin_files)
    plan = gcloud_steps(experiment_argument(name), call, pass_through)
  except ValueError as e:
    sys.exit(f'error: {e}')
  if _EXECUTE.value:
    execute(plan)
    return
  for i, (what, argv) in enumerate(plan, 1):
    print(f'# {i}/{len(plan)} {what}:\n{shlex.join(argv)}')


if __name__ == '__main__':
  app.run(main)
