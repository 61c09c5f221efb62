r"""ptjf launch: the gcloud commands that run an experiment on a Cloud TPU VM pod,
or the ssh commands that run it on multi-GPU hosts.

Usage:
  ptjf launch EXPERIMENT --tpu=NAME --zone=ZONE --workdir=gs://BUCKET/DIR
      [--project=P] [--accelerator_type=v4-256 [--runtime_version=V]
      [--[no]queued] [--spot | --reserved]] [--setup --repo_url=URL]
      [--checkout_dir=~/ptjf-t5x] [--execute]
      [--gin='NAME = VALUE']... [--pretrain_gin=...]... [--finetune_gin=...]...
      [--gin_file=F]... [--pretrain_dir=gs://...] [--phase=all|first]
      [--tfds_data_dir=gs://...] [--t5x_flag=--FLAG]...
  ptjf launch EXPERIMENT --tpu=NAME --zone=ZONE [--project=P] --status
  ptjf launch EXPERIMENT --gpu_hosts=HOST0,HOST1,... --workdir=DIR
      [--coordinator_port=1234] [--checkout_dir=~/ptjf-t5x] [--execute]
      [--gin='NAME = VALUE']... (and the other run flags above)
  ptjf launch EXPERIMENT --gpu_hosts=HOST0,HOST1,... --status

Before printing or running anything it makes the checks `ptjf check` makes
without the data (REQUIRED macros bound, no binding a recipe does not define,
each setting in its range, each --t5x_flag one t5x.train defines), which need
T5X here; with --accelerator_type also that each phase's mesh tiles the slice
and its batch splits over the data axis, which needs libtpu here too (the
`tpu` extra). Where the recipe's MODEL_PARALLEL_SUBMESH does not tile the
slice but a block of as many chips does, as on the 2-D v5e and v6e slices
(XXL's (1, 1, 8, 1) becomes (2, 4, 1, 1)), it binds that block with --gin and
says so; a submesh you bind is checked, never replaced. Memory is not
checked: `ptjf compile EXPERIMENT --topology=SLICE` compiles for that.

--zone must be spelt as a zone (REGION-ZONE, e.g. us-central2-b); which
zones offer which TPUs changes, so gcloud is asked (step 1).

Then it prints, in order:
  1. with --accelerator_type (v4-N, v5p-N, v5e-N or v5litepod-N, v6e-N):
     `gcloud compute tpus accelerator-types describe` of gcloud's
     accelerator type (v5litepod-N for v5e) in the zone, which fails where
     the zone does not offer it, before anything is created;
  2. with --accelerator_type: the TPU VM's creation with gcloud's
     accelerator type and the generation's image (tpu-ubuntu2204-base for v4,
     v2-alpha-tpuv5 for v5p, v2-alpha-tpuv5-lite for v5e, v2-alpha-tpuv6e for
     v6e, or --runtime_version). On v5e, v5p and v6e, where capacity comes
     through queued resources, a `queued-resources create` (the request
     NAME-qr for the node NAME), then a wait until it is ACTIVE that stops
     at FAILED or SUSPENDED; --noqueued creates it with `tpu-vm create`, as
     on v4 by default. --spot or --reserved pick the capacity;
  3. with --setup: on every worker, clone --repo_url into --checkout_dir,
     `make install-t5x PYTHON=--python` there (its .venv with T5X at the
     pinned commits; setup.py needs Python 3.11, the TPU images ship 3.10),
     then the `tpu` extra (jax[tpu] and libtpu, from PyPI);
  4. always: `gcloud compute tpus tpu-vm ssh --worker=all` starting, detached
     from the connection, `.venv/bin/ptjf run EXPERIMENT --workdir=gs://...`
     with the run flags given here in the checkout, its output appended to
     ~/ptjf-logs/EXPERIMENT.log on each worker. A worker where that run is
     still going refuses to start a second one.
--execute runs them one after another and stops at the first failure (at
step 1's, in one line that names `gcloud compute tpus accelerator-types
list --zone=ZONE` and the TPU docs' page of regions and zones);
SIGTERM or SIGINT stops the running one (gcloud is terminated and waited
for) and the launch.
--status prints (or, with --execute, runs) an ssh to every worker that
shows the end of its log and whether its ptjf run is alive.

Every worker of the pod runs the same `ptjf run` command: JAX on TPU finds
the other hosts itself, and T5X shards the model and the data over all of
them. The model directory must be on GCS (gs://) so that every worker, and a
pod re-created after a preemption, reads and writes the same checkpoints.
`ptjf run` is resumable: after a preemption or a failure, run the same
command again and it continues from the last checkpoint, skipping finished
phases. Leave out --accelerator_type while the TPU VM exists; a preempted
spot slice must be deleted (`gcloud compute tpus queued-resources delete
NAME-qr --force`, or `tpu-vm delete NAME`) and created again with --setup.

The REQUIRED macros of the experiment's recipes must be bound: e.g.
ptjf_wmt_ro_fr_3layer needs --gin='LEARNING_RATE = 5e-3' (every phase) and
--finetune_gin='HIGH_RESOURCE_RATE = 0.7' --finetune_gin='WARMUP_STEPS = 20000'
(the fine-tune only); `ptjf sweep` prints the paper's grid.

Example:
  ptjf launch ptjf_mc4_xxl --tpu=ptjf-xxl --zone=us-central2-b \
      --project=my-project --accelerator_type=v4-256 \
      --setup --repo_url=https://github.com/ME/ptjf-t5x.git \
      --workdir=gs://my-bucket/ptjf_mc4_xxl --tfds_data_dir=gs://my-bucket/tfds

Multi-GPU hosts instead of a TPU pod: --gpu_hosts=HOST0,...,HOST{N-1}
(each [USER@]HOST as ssh reaches it, every one given once; not with the
TPU flags) prints, after the same checks with gin/meshes/gpu_host.gin
added, one `ssh HOST_I '...'` per host, in order, that starts there, as on
a TPU worker (detached, ~/ptjf-logs/EXPERIMENT.log, not while its earlier
run lives), host I's own run:

  .venv/bin/ptjf run EXPERIMENT --workdir=DIR --gin_file=gin/meshes/gpu_host.gin \
      --t5x_flag=--multiprocess_gpu --t5x_flag=--coordinator_address=HOST0:1234 \
      --t5x_flag=--process_count=N --t5x_flag=--process_index=I

HOST0 serves JAX's coordinator on --coordinator_port (1234, JAX's examples'
port, by default), which every host must reach. --workdir (and
--pretrain_dir) must be the same directory on every host: gs://, or an
absolute path on a file system they all mount. Each host keeps its log and
pid file under its own ~/ptjf-logs: hosts that share one home directory
would mix them.
--execute runs the ssh commands and stops at the first that fails (the hosts
started before it wait for it until JAX's distributed start-up times out);
--status prints one ssh per host.

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
import time
from typing import Any, Optional, Sequence

from absl import app
from absl import flags

from ptjf import bindings
from ptjf import child
from ptjf import experiment
from ptjf import pod
from ptjf import recipe
from ptjf import run_flags
from ptjf import tpu

flags.adopt_module_key_flags(bindings)  # passed to every worker's ptjf run
flags.adopt_module_key_flags(run_flags)

_TPU = flags.DEFINE_string('tpu', None, 'Name of the TPU VM (pod slice).')
_ZONE = flags.DEFINE_string('zone', None, 'Zone of the TPU VM, e.g. us-central2-b.')
_PROJECT = flags.DEFINE_string('project', None, 'Google Cloud project.')
_ACCELERATOR_TYPE = flags.DEFINE_string(
    'accelerator_type', None, 'Create the TPU VM first, of this slice: v4-N, '
    'v5p-N, v5e-N (gcloud: v5litepod-N) or v6e-N, e.g. v4-256; without it the '
    'TPU VM must exist.')
_RUNTIME_VERSION = flags.DEFINE_string(
    'runtime_version', None, 'TPU software version (image) of the created VM; '
    'default by generation: tpu-ubuntu2204-base (v4), v2-alpha-tpuv5 (v5p), '
    'v2-alpha-tpuv5-lite (v5e), v2-alpha-tpuv6e (v6e).')
_QUEUED = flags.DEFINE_bool(
    'queued', None, 'Create the TPU VM through a queued resource and wait '
    'until it is ACTIVE; default: on for v5e, v5p and v6e, off for v4.')
_SPOT = flags.DEFINE_bool(
    'spot', False, 'Create a spot TPU VM: cheaper, preemptible at any time.')
_RESERVED = flags.DEFINE_bool(
    'reserved', False, "Create the TPU VM in the project's reservation.")
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
_GPU_HOSTS = flags.DEFINE_string(
    'gpu_hosts', None, 'Multi-GPU hosts instead of a TPU pod: HOST0,HOST1,... '
    '([USER@]HOST as ssh reaches each), one process of the run on each; HOST0 '
    "also serves JAX's coordinator. Not with the TPU flags.")
_COORDINATOR_PORT = flags.DEFINE_integer(
    'coordinator_port', 1234, "TCP port of JAX's coordinator on the first of "
    '--gpu_hosts; the other hosts must reach it.')
_EXECUTE = flags.DEFINE_bool(
    'execute', False, 'Run the gcloud (with --gpu_hosts, ssh) commands instead '
    'of printing them.')
_STATUS = flags.DEFINE_bool(
    'status', False, "Each worker's log tail and whether its ptjf run is alive, "
    'instead of launching.')

LOG_DIR = '~/ptjf-logs'  # on every worker, beside the checkout
POLL_S = 30  # between two looks at a queued resource
STOP_STATES = ('FAILED', 'SUSPENDED')  # a queued resource that will not become ACTIVE
# A zone as GCE spells one: REGION-ZONE, e.g. us-central2-b; what follows the
# zone's letter is left to gcloud, which knows the zones.
ZONE_FORM = re.compile(r'[a-z]+-[a-z]+[0-9]+-[a-z][a-z0-9]*')
# GCP's form for a resource's name, which a TPU VM's is
TPU_NAME_FORM = re.compile(r'[a-z]([-a-z0-9]{0,61}[a-z0-9])?')
TPU_ZONES_PAGE = 'cloud.google.com/tpu/docs/regions-zones'
# A host as ssh takes one, [USER@]HOST, where HOST is a name or an IPv4
# address; nothing that ssh would read as an option or a shell would split.
HOST_FORM = re.compile(r'([A-Za-z0-9_][-A-Za-z0-9_.]*@)?'
                       r'[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?')
# Bindings that set the mesh: the user's are checked, never replaced.
_MESH_MACROS = ('MODEL_PARALLEL_SUBMESH', 'NUM_PARTITIONS')


@dataclasses.dataclass(frozen=True)
class Step:
  """One step of the launch: a gcloud command, or one repeated until it
  prints ACTIVE (`until_active`, a queued resource's state). `failure` says
  what its failing means, in place of the command, where that is known."""
  what: str
  argv: list[str]
  until_active: bool = False
  failure: Optional[str] = None

  @property
  def text(self) -> str:
    """The step as one line of shell; a wait is a loop in a subshell."""
    if not self.until_active:
      return shlex.join(self.argv)
    stop = '|'.join(STOP_STATES)
    return (f'(while :; do state=$({shlex.join(self.argv)}) || exit 1; '
            'case $state in ACTIVE) break;; '
            f'{stop}) echo "queued resource: $state" >&2; exit 1;; esac; '
            f'echo "queued resource: $state"; sleep {POLL_S}; done)')


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


def where_args(zone: str, project: Optional[str]) -> list[str]:
  return [f'--zone={zone}', *([f'--project={project}'] if project else [])]


def tpu_vm(verb: str, tpu_name: str, zone: str,
           project: Optional[str]) -> list[str]:
  return ['gcloud', 'compute', 'tpus', 'tpu-vm', verb, tpu_name,
          *where_args(zone, project)]


def queued_resource(verb: str, request: str, zone: str,
                    project: Optional[str]) -> list[str]:
  return ['gcloud', 'compute', 'tpus', 'queued-resources', verb, request,
          *where_args(zone, project)]


def on_every_worker(tpu_name: str, zone: str, project: Optional[str],
                    command: str) -> list[str]:
  return [*tpu_vm('ssh', tpu_name, zone, project), '--worker=all',
          f'--command={command}']


def offer_step(zone: str, project: Optional[str], where: tpu.Slice) -> Step:
  """Asks gcloud whether the zone offers the slice: Google's list changes,
  so gcloud, not a table here, knows it."""
  kind = where.accelerator_type
  listing = ['gcloud', 'compute', 'tpus', 'accelerator-types', 'list',
             *where_args(zone, project)]
  return Step(f'Check that {zone} offers {kind}', [
      'gcloud', 'compute', 'tpus', 'accelerator-types', 'describe', kind,
      *where_args(zone, project)], failure=(
          f'{zone} does not offer {kind} (gcloud says so above): '
          f'{shlex.join(listing)} lists the types it offers, and '
          f'{TPU_ZONES_PAGE} the zones of each TPU.'))


def create_steps(tpu_name: str, zone: str, project: Optional[str],
                 where: tpu.Slice, version: str, queued: bool,
                 capacity: Sequence[str]) -> list[Step]:
  """The TPU VM's creation: directly, or as a queued resource and a wait
  until it is ACTIVE. gcloud names the image --version for `tpu-vm create`
  and --runtime-version for `queued-resources create`."""
  kind = ', '.join([where.accelerator_type, version, *capacity])
  if not queued:
    return [Step(f'Create the TPU VM ({kind})', [
        *tpu_vm('create', tpu_name, zone, project),
        f'--accelerator-type={where.accelerator_type}', f'--version={version}',
        *capacity])]
  request = f'{tpu_name}-qr'
  return [
      Step(f'Request the TPU VM as queued resource {request} ({kind})', [
          *queued_resource('create', request, zone, project),
          f'--node-id={tpu_name}',
          f'--accelerator-type={where.accelerator_type}',
          f'--runtime-version={version}', *capacity]),
      Step(f'Wait until {request} is ACTIVE (stops at '
           f'{" or ".join(STOP_STATES)})', [
               *queued_resource('describe', request, zone, project),
               '--format=value(state.state)'], until_active=True)]


def setup_command(repo_url: str, checkout_dir: str, python: str) -> str:
  """Clones the repository (unless there) and installs it, T5X included,
  into its .venv as `make install-t5x` does here, then the `tpu` extra
  (jax[tpu], which brings libtpu from PyPI)."""
  checkout = remote_path(checkout_dir)
  return ' && '.join([
      'sudo apt-get -qq update',
      f'sudo apt-get -qq install -y git make {quote(python + "-venv")}',
      f'(test -d {checkout}/.git || git clone {quote(repo_url)} {checkout})',
      f'cd {checkout}', f'make install-t5x PYTHON={quote(python)}',
      f'.venv/bin/pip install -q -e {quote(".[tpu]")}'])


def log_name(name: str) -> str:
  """The experiment's name in its log's: the recipe's for a .gin path."""
  return os.path.basename(name)[:-len('.gin')] if name.endswith('.gin') else name


def _files(name: str) -> tuple[str, str]:
  """The worker's log and the pid file of its ptjf run, for its shell."""
  base = f'{LOG_DIR}/{quote(log_name(name))}'
  return f'{base}.log', f'{base}.pid'


def _alive(pid_file: str) -> str:
  """Shell test: the pid file names a live `ptjf run` (not a reused pid)."""
  return (f'tr "\\0" " " < /proc/"$(cat {pid_file} 2>/dev/null)"/cmdline '
          '2>/dev/null | grep -q "ptjf run"')


def train_command(name: str, checkout_dir: str, run_args: Sequence[str]) -> str:
  """Starts `ptjf run` in the checkout detached from the ssh session (a
  dropped connection does not stop it), appending to the worker's log,
  unless the worker's earlier one is still running: two trainers would
  share the workdir."""
  log, pid = _files(name)
  run = ' '.join(map(quote, ['.venv/bin/ptjf', *run_args]))
  return (
      f'cd {remote_path(checkout_dir)} || exit 1; mkdir -p {LOG_DIR} || exit 1; '
      f'if {_alive(pid)}; then echo "$(hostname): ptjf run '
      f'{log_name(name)} is still running (log {log}): not starting '
      'another" >&2; exit 1; fi; '
      f'setsid nohup {run} >> {log} 2>&1 < /dev/null & echo $! > {pid}; '
      f'echo "$(hostname): started ptjf run {log_name(name)}, log {log}"')


def status_command(name: str, lines: int = 20) -> str:
  """The end of the worker's log, each line led by its host, and whether
  its ptjf run is alive."""
  log, pid = _files(name)
  return (f'tail -n {lines} {log} 2>&1 | sed "s/^/$(hostname): /"; '
          f'if {_alive(pid)}; then echo "$(hostname): ptjf run '
          f'{log_name(name)} is running"; else echo "$(hostname): ptjf run '
          f'{log_name(name)} is not running"; fi')


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


def _require_shared(flag: flags.FlagHolder,
                    hosts: Optional[Sequence[str]]) -> None:
  """On GPU hosts, a path each host reads as the same directory: a URL, or
  an absolute path (of a file system they all mount); on GCS for a pod."""
  if not hosts:
    _require_gcs(flag)
  elif flag.value and '://' not in flag.value and not flag.value.startswith('/'):
    raise ValueError(f'--{flag.name}={flag.value} is not a path every host '
                     'sees: give gs://BUCKET/DIR, or an absolute path on a file '
                     'system all of --gpu_hosts mount.')


def _address(host: str) -> str:
  """The host's name or address, without ssh's USER@."""
  return host.rpartition('@')[2]


def hosts_from_flags() -> Optional[list[str]]:
  """--gpu_hosts, each host checked, or None without it; raises ValueError
  for a host ssh would not take, a host given twice, a bad port or a TPU
  flag beside it."""
  if _GPU_HOSTS.value is None:
    if _COORDINATOR_PORT.present:
      raise ValueError('--coordinator_port is the port of JAX\'s coordinator '
                       'on the first of --gpu_hosts: give --gpu_hosts too.')
    return None
  tpu_flags = [f'--{"no" * (f.value is False)}{f.name}' for f in (
      _TPU, _ZONE, _PROJECT, _ACCELERATOR_TYPE, _RUNTIME_VERSION, _QUEUED,
      _SPOT, _RESERVED, _SETUP, _REPO_URL, _PYTHON) if f.present]
  if tpu_flags:
    raise ValueError(f'--gpu_hosts and {tpu_flags[0]} are two places to run '
                     '(GPU hosts over ssh, a Cloud TPU VM over gcloud): give '
                     'one.')
  given = f'--gpu_hosts={_GPU_HOSTS.value!r}'
  hosts = _GPU_HOSTS.value.split(',')
  if hosts == ['']:
    raise ValueError(f'{given} names no host: give HOST0,HOST1,... as ssh '
                     'reaches them, e.g. --gpu_hosts=gpu-0,gpu-1.')
  seen = {}
  for i, host in enumerate(hosts):
    if not HOST_FORM.fullmatch(host):
      what = 'empty' if not host else f'{host!r}, not a host'
      raise ValueError(f'{given}: host {i} is {what}: give each as [USER@]HOST '
                       '(letters, digits, dots, hyphens, underscores), '
                       'separated by commas alone, e.g. gpu-0,me@10.0.0.2.')
    address = _address(host).lower()
    if address in seen:
      raise ValueError(f'{given}: hosts {seen[address]} and {i} are both '
                       f'{_address(host)}: each host runs one process of the '
                       'run, its log and pid file in its ~/ptjf-logs: give '
                       'each host once.')
    seen[address] = i
  port = _COORDINATOR_PORT.value
  if not 1 <= port <= 65535:
    raise ValueError(f'--coordinator_port={port} is not a TCP port: give 1 to '
                     '65535, one free on the first host (default 1234).')
  return hosts


def slice_from_flags() -> Optional[tpu.Slice]:
  """The slice to create, None without --accelerator_type; raises
  ValueError for an unknown one or creation flags without it."""
  creating = [f'--{"no" * (f.value is False)}{f.name}' for f in (
      _RUNTIME_VERSION, _QUEUED, _SPOT, _RESERVED) if f.present]
  if not _ACCELERATOR_TYPE.value:
    if creating:
      raise ValueError(f'{", ".join(creating)} is for creating the TPU VM: '
                       'give --accelerator_type too.')
    return None
  if _SPOT.value and _RESERVED.value:
    raise ValueError('--spot and --reserved are two kinds of capacity: give '
                     'one.')
  return tpu.parse(_ACCELERATOR_TYPE.value)


def check_where() -> None:
  """--tpu and --zone given, the zone spelt as one; whether it offers the
  slice is gcloud's to say (offer_step)."""
  if not _TPU.value or _ZONE.value is None:
    raise ValueError('--tpu and --zone are required: the TPU VM and its zone.')
  if not TPU_NAME_FORM.fullmatch(_TPU.value):
    raise ValueError(f'--tpu={_TPU.value!r} is not a TPU VM name: give 1 to 63 '
                     'lower-case letters, digits or hyphens, starting with a '
                     'letter and not ending with a hyphen, e.g. ptjf-xxl.')
  if not ZONE_FORM.fullmatch(_ZONE.value):
    raise ValueError(f'--zone={_ZONE.value!r} is not a zone: give REGION-ZONE '
                     'in lower case, e.g. us-central2-b.')


def check_flags(name: str, phases: Sequence[experiment.Phase],
                pass_through: experiment.PassThrough,
                hosts: Optional[Sequence[str]]) -> None:
  if not hosts:
    check_where()
  _require_shared(run_flags.WORKDIR, hosts)
  if run_flags.PRETRAIN_DIR.value:
    _require_shared(run_flags.PRETRAIN_DIR, hosts)
  experiment.check_flags(name, phases, pass_through.bindings,
                         run_flags.PRETRAIN_DIR.value, run_flags.PHASE.value)
  if _SETUP.value != bool(_REPO_URL.value):
    raise ValueError('--setup clones --repo_url (the git URL of your copy of '
                     'this repository): give both or neither.')


def _user_binds_mesh(pass_through: experiment.PassThrough) -> bool:
  """Whether the user sets the mesh (a binding or a gin file may)."""
  names = pass_through.bindings.names()
  return bool(pass_through.gin_files) or any(
      n in _MESH_MACROS or 'PjitPartitioner' in n for n in names)


def check_slice(name: str, phases: Sequence[experiment.Phase],
                runs: Sequence[Any], gin_files: Sequence[str],
                where: tpu.Slice, user_mesh: bool
                ) -> tuple[dict[str, list[str]], list[str]]:
  """Holds each phase of `runs` against the slice as `ptjf compile` does,
  short of compiling. Returns the submesh bindings to add by scope (where
  the recipe's does not tile the slice and a block of as many chips does),
  and what was checked, as notes."""
  # It needs JAX and T5X, which printing the steps alone does not.
  from ptjf import aot  # pylint: disable=g-import-not-at-top
  devices = where.devices()
  added, meshes = {}, []
  for run in runs:
    run.parse(gin_files)
    submesh = (recipe.value('MODEL_PARALLEL_SUBMESH')
               if 'MODEL_PARALLEL_SUBMESH' in recipe.macro_names() else None)
    fits = (tpu.tiling_submesh(devices, submesh) if isinstance(submesh, tuple)
            and len(submesh) == 4 else None)
    other = fits if fits != submesh else None  # a block that tiles instead
    if other and not user_mesh:
      binding = f'MODEL_PARALLEL_SUBMESH = {other}'
      added.setdefault(binding, set()).add(run.phase.arm)
      run.parse(gin_files, [binding])
    try:
      mesh = aot.check_mesh(where, devices, run.phase.arm)
    except ValueError as e:
      if other:  # the user's submesh: name one that tiles
        raise type(e)(f"{e}; --gin='MODEL_PARALLEL_SUBMESH = {other}' tiles "
                      'it.') from e
      raise
    meshes.append(f'{run.phase.arm} ' + ' x '.join(
        f'{axis} {n}' for axis, n in mesh.items()))
  by_scope = {}
  for binding, arms in added.items():
    by_scope.setdefault(experiment.scope_of(arms, phases), []).append(binding)
  shown = [f"--{scope}='{b}'" for scope, scoped in by_scope.items()
           for b in scoped]
  notes = [f'Checked on {where.name} ({where.topology_name}): each mesh tiles '
           'the slice and its batch splits over the data axis ('
           + '; '.join(meshes) + ').']
  if shown:
    notes.append(f'Bound {" ".join(shown)}: the recipe\'s submesh does not '
                 f'tile {where.name}, a block of as many chips does.')
  notes.append(f'Memory is not checked here: ptjf compile {name} '
               f'--topology={where.name} with the same bindings'
               + ''.join(f' and {flag}' for flag in shown)
               + ' compiles each distinct program of its stages for the slice (minutes).')
  return by_scope, notes


def plan(name: str, call: experiment.Invocation,
         pass_through: experiment.PassThrough,
         where: Optional[tpu.Slice]) -> list[Step]:
  """The steps, in order."""
  at = (_TPU.value, _ZONE.value, _PROJECT.value)
  steps = []
  if where:
    steps.append(offer_step(_ZONE.value, _PROJECT.value, where))
    queued = where.chip.queued if _QUEUED.value is None else _QUEUED.value
    capacity = [f for f, on in (('--spot', _SPOT.value),
                                ('--reserved', _RESERVED.value)) if on]
    steps += create_steps(*at, where, _RUNTIME_VERSION.value or
                          where.chip.runtime_version, queued, capacity)
  if _SETUP.value:
    steps.append(Step(
        f'Install on every worker: clone into {_CHECKOUT_DIR.value}, make '
        f'install-t5x with {_PYTHON.value}, then the tpu extra (libtpu)',
        on_every_worker(*at, setup_command(_REPO_URL.value, _CHECKOUT_DIR.value,
                                           _PYTHON.value))))
  log, _ = _files(name)
  steps.append(Step(
      f'Train: every worker starts the same ptjf run, detached, its output in '
      f'{log}; run it again to resume after a preemption, and see it with '
      '--status', on_every_worker(*at, train_command(
          name, _CHECKOUT_DIR.value, call.args(name, pass_through)))))
  return steps


def host_steps(name: str, call: experiment.Invocation,
               pass_through: experiment.PassThrough,
               hosts: Sequence[str]) -> list[Step]:
  """One ssh per GPU host, in order, each starting its own `ptjf run`: the
  same run with its index among the hosts and the first as coordinator."""
  coordinator = f'{_address(hosts[0])}:{_COORDINATOR_PORT.value}'
  run_args = call.args(name, pass_through)[2:]  # worker_args puts run NAME
  log, _ = _files(name)
  steps = []
  for i, host in enumerate(hosts):
    role = f", JAX's coordinator at {coordinator}" if i == 0 else ''
    started = ('; the hosts before it started and wait for it until JAX\'s '
               'distributed start-up times out: --status shows them, launch '
               'again once they have ended' if i else '')
    steps.append(Step(
        f'Train on host {i} of {len(hosts)}, {host}{role}: its ptjf run, '
        f'detached, its output in {log}; run them all again to resume, and see '
        'them with --status',
        ['ssh', host, train_command(name, _CHECKOUT_DIR.value, pod.worker_args(
            name, run_args, coordinator, len(hosts), i))],
        failure=f'host {i} ({host}) did not start its ptjf run (ssh or the '
        f'host says why above){started}.'))
  return steps


def execute(steps: Sequence[Step]) -> None:
  """Runs the steps in order; exits at the first failure, or when SIGTERM or
  SIGINT stops the running step."""
  for i, step in enumerate(steps, 1):
    print(f'[{i}/{len(steps)}] {step.what}\n{step.text}', flush=True)
    if step.until_active:
      wait_until_active(step, f'step {i}/{len(steps)}')
      continue
    done = child.run(step.argv, cwd=None)
    if done.signals:
      child.exit_stopped(f'stopped by signal {done.signals[0]} during step '
                         f'{i}/{len(steps)} ({step.what}): {step.text}',
                         done.signals[0])
    if status := done.returncode:
      sys.exit(f'error: step {i}/{len(steps)} ({step.what}) failed with exit '
               f'status {status}: {step.failure or step.text}')


def wait_until_active(step: Step, which: str) -> None:
  """Repeats the step's describe until it prints ACTIVE; exits at a state
  that will not become ACTIVE, or if the describe fails."""
  last = None
  while True:
    result = subprocess.run(step.argv, check=False, capture_output=True,
                            text=True)
    state = result.stdout.strip()
    if result.returncode:
      sys.exit(f'error: {which} ({step.what}) failed with exit status '
               f'{result.returncode}: {shlex.join(step.argv)}')
    if state == 'ACTIVE':
      return
    if state in STOP_STATES:
      sys.exit(f'error: {which}: the queued resource is {state}: delete it '
               '(gcloud compute tpus queued-resources delete ... --force) and '
               'launch again.')
    if state != last:
      print(f'queued resource: {state}', flush=True)
      last = state
    time.sleep(POLL_S)


def main(argv: Sequence[str]) -> None:
  try:
    hosts = hosts_from_flags()
    if _EXECUTE.value and hosts and not shutil.which('ssh'):
      raise ValueError('ssh is not on PATH: install an ssh client (OpenSSH) '
                       'or run without --execute.')
    if _EXECUTE.value and not hosts and not shutil.which('gcloud'):
      raise ValueError('gcloud is not on PATH: install the Google Cloud CLI '
                       '(cloud.google.com/sdk) or run without --execute.')
    name = experiment.from_argv(argv)
    if _STATUS.value:
      steps = status_steps(name, hosts)
    else:
      steps = launch_steps(name, hosts)
  except ValueError as e:  # PreflightError included
    sys.exit(f'error: {e}')
  if _EXECUTE.value:
    execute(steps)
    return
  for i, step in enumerate(steps, 1):
    print(f'# {i}/{len(steps)} {step.what}:\n{step.text}')


def status_steps(name: str, hosts: Optional[Sequence[str]]) -> list[Step]:
  """One ssh to every worker of the pod, or one to each GPU host."""
  what = f'the end of its log and whether its ptjf run {log_name(name)} is alive'
  if hosts:
    return [Step(f'Host {i} of {len(hosts)}, {host}: {what}',
                 ['ssh', host, status_command(name)])
            for i, host in enumerate(hosts)]
  check_where()
  if _ACCELERATOR_TYPE.value or _SETUP.value:
    raise ValueError('--status looks at a launched run: not with '
                     '--accelerator_type or --setup.')
  return [Step(f'Every worker: {what}', on_every_worker(
      _TPU.value, _ZONE.value, _PROJECT.value, status_command(name)))]


def launch_steps(name: str, hosts: Optional[Sequence[str]]) -> list[Step]:
  """Checks everything it can before anything is created or started; the
  steps."""
  phases = experiment.phases(name)
  argument = experiment_argument(name)  # the workers' checkout must have it
  local = bindings.pass_through_from_flags()
  own = checked = local.gin_files
  if hosts:  # every host's worker_args adds the mesh after the user's files
    mesh = bindings.gin_file(pod.MESH)
    own = [f for f in own if f != mesh]
    checked = [*own, mesh]
  pass_through = dataclasses.replace(local, gin_files=[
      in_checkout(f) if os.path.isfile(f) else f for f in own])
  check_flags(name, phases, pass_through, hosts)
  where = slice_from_flags()
  call = run_flags.invocation_from_flags()
  if hosts:
    _refuse_host_flags(call)
  running = call.phase_indices(phases)
  experiment.check_required(name, phases, running, pass_through.bindings,
                            pass_through.gin_files)
  recipe.require_t5x(libtpu=where is not None)
  from ptjf import preflight  # pylint: disable=g-import-not-at-top
  # As `ptjf check` does, short of the data and the directories, which only
  # the workers see: --pretrain_dir is checked there.
  runs = preflight.prepare(name, '<workdir>', phase=call.phase,
                           gin_files=checked,
                           tfds_data_dir=local.tfds_data_dir, check_data=False,
                           **local.bindings)
  notes = []
  if where:
    added, notes = check_slice(
        name, phases, [runs[i] for i in running], local.gin_files, where,
        _user_binds_mesh(local))
    pass_through = dataclasses.replace(
        pass_through, bindings=pass_through.bindings + added)
  for note in notes:
    print(f'# {note}', flush=True)
  if hosts:
    return host_steps(argument, call, pass_through, hosts)
  return plan(argument, call, pass_through, where)


def _refuse_host_flags(call: experiment.Invocation) -> None:
  """With --gpu_hosts, the flags that place a process in the run are each
  host's own, given by launch."""
  own = {f.lstrip('-').split('=')[0] for f in pod.host_flags('', 1, 0)}
  for flag in call.t5x_flags:
    if flag.lstrip('-').split('=')[0] in own:
      raise ValueError(f'--t5x_flag={flag}: ptjf launch --gpu_hosts gives '
                       'every host ' + ', '.join(f'--{n}' for n in sorted(own))
                       + ' itself: leave it out.')


if __name__ == '__main__':
  app.run(main)
