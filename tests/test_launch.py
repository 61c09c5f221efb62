"""ptjf launch: the gcloud and ssh commands, their quoting, and what it
refuses.

The printed commands run against a fake `gcloud` (or `ssh`) that records its
arguments, and each gcloud call is held against the flags gcloud documents
for it. Launches that print need T5X (the recipe's checks), and with
--accelerator_type libtpu (the slice's mesh): those tests skip without them.
The worker's commands run here in bash, with a fake trainer in a fake
checkout; the GPU hosts' printed commands train for real, as two local hosts
of 2 CPU devices each.
"""

import collections
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from ptjf import launch
from ptjf import pod
from ptjf import recipe
from ptjf import tpu

EXAMPLE = ['ptjf_mc4_xxl', '--tpu=ptjf-xxl', '--zone=us-central2-b',
           '--project=my-project', '--accelerator_type=v4-256', '--setup',
           '--repo_url=https://github.com/ME/ptjf-t5x.git',
           '--workdir=gs://my-bucket/ptjf_mc4_xxl',
           '--tfds_data_dir=gs://my-bucket/tfds']
WMT_BINDINGS = ['--gin=LEARNING_RATE = 5e-3',
                '--finetune_gin=HIGH_RESOURCE_RATE = 0.7',
                '--finetune_gin=WARMUP_STEPS = 20000']
ZONE = '--zone=us-east5-a'
WHERE = ['--tpu=t', ZONE, '--workdir=gs://b/w']
# gcloud's documented flags (cloud.google.com/sdk/gcloud/reference/compute/
# tpus/...): (required, optional) of each command launch gives it.
DOCUMENTED = {
    ('accelerator-types', 'describe'): ({'--zone'}, {'--project'}),
    ('tpu-vm', 'create'): ({'--zone', '--version'}, {
        '--project', '--accelerator-type', '--spot', '--reserved'}),
    ('queued-resources', 'create'): ({
        '--zone', '--runtime-version', '--accelerator-type', '--node-id'}, {
            '--project', '--spot', '--reserved'}),
    ('queued-resources', 'describe'): ({'--zone'}, {'--project', '--format'}),
    ('tpu-vm', 'ssh'): ({'--zone'}, {'--project', '--worker', '--command'}),
}


def printed(result):
  """The commands printed, as lines of shell."""
  assert result.returncode == 0, result.stderr
  return [line for line in result.stdout.splitlines()
          if not line.startswith('#')]


def gcloud_lines(result):
  return [shlex.split(line) for line in printed(result)]


def worker_command(argv):
  """The command an ssh step runs on every worker."""
  (command,) = [a[len('--command='):] for a in argv if a.startswith('--command=')]
  return command


def started_argv(command):
  """The `ptjf run` a worker's train command starts, split as its shell
  would."""
  words = shlex.split(command)
  return words[words.index('nohup') + 1:words.index('>>')]


def trainer_argv(argv):
  """The `ptjf run` the train step starts on every worker."""
  return started_argv(worker_command(argv))


def one_line_error(result):
  """The refusal: stderr's last line and only 'error' line (TensorFlow's and
  absl's start-up chatter may come before it); nothing printed."""
  assert result.returncode != 0
  assert result.stdout == '' and 'Traceback' not in result.stderr
  lines = result.stderr.strip().splitlines()
  assert [line for line in lines if line.startswith('error')] == lines[-1:], (
      result.stderr)
  return lines[-1]


def fake_gcloud(directory, state='ACTIVE', fail_on=None, name='gcloud'):
  """A `gcloud` (or, by `name`, `ssh`) that records its arguments, one JSON
  list per call, answers a queued resource's describe with `state`, and
  fails on `fail_on` (exit status 3, a line of its words on stderr)."""
  log = directory / 'calls.jsonl'
  script = directory / name
  script.write_text(
      f'#!{sys.executable}\nimport json, sys\n'
      f'open({str(log)!r}, "a").write(json.dumps(sys.argv[1:]) + "\\n")\n'
      f'if "describe" in sys.argv: print({state!r})\n'
      f'if {fail_on!r} in sys.argv:\n'
      f'  print("ERROR: (gcloud) {fail_on} failed", file=sys.stderr)\n'
      '  sys.exit(3)\n')
  script.chmod(0o755)
  return log


def recorded(log):
  if not log.exists():
    return []
  return [json.loads(line) for line in log.read_text().splitlines()]


def path_with(directory):
  return f'{directory}{os.pathsep}{os.environ["PATH"]}'


def run_printed(lines, directory):
  """Runs printed lines in bash with the fake gcloud first on PATH."""
  return subprocess.run(['bash', '-c', '\n'.join(lines)], capture_output=True,
                        text=True, check=False,
                        env=dict(os.environ, PATH=path_with(directory)))


def check_documented(call):
  """A recorded call uses only gcloud's documented flags, its required ones
  included."""
  assert call[:2] == ['compute', 'tpus']
  required, optional = DOCUMENTED[tuple(call[2:4])]
  given = {a.split('=', 1)[0] for a in call[5:]}
  assert required <= given <= required | optional, call


@pytest.mark.needs_libtpu
def test_example_prints_create_setup_and_train(ptjf):
  result = ptjf('launch', *EXAMPLE)
  where = 'ptjf-xxl --zone=us-central2-b --project=my-project'
  lines = result.stdout.splitlines()
  assert lines[:2] == [
      '# Checked on v4-256 (v4:4x4x8): each mesh tiles the slice and its batch '
      'splits over the data axis (pretrain data 16 x model 8; ptjf data 16 x '
      'model 8).',
      '# Memory is not checked here: ptjf compile ptjf_mc4_xxl --topology=v4-256 '
      'with the same bindings compiles each distinct program of its stages for '
      'the slice (minutes).']
  assert lines[2:8] == [
      '# 1/4 Check that us-central2-b offers v4-256:',
      'gcloud compute tpus accelerator-types describe v4-256 '
      '--zone=us-central2-b --project=my-project',
      '# 2/4 Create the TPU VM (v4-256, tpu-ubuntu2204-base):',
      f'gcloud compute tpus tpu-vm create {where} --accelerator-type=v4-256 '
      '--version=tpu-ubuntu2204-base',
      '# 3/4 Install on every worker: clone into ~/ptjf-t5x, make '
      'install-t5x with python3.11, then the tpu extra (libtpu):',
      f'gcloud compute tpus tpu-vm ssh {where} --worker=all '
      "'--command=sudo apt-get -qq update && sudo apt-get -qq install -y git "
      'make python3.11-venv && (test -d ~/ptjf-t5x/.git || git clone '
      'https://github.com/ME/ptjf-t5x.git ~/ptjf-t5x) && cd ~/ptjf-t5x && '
      'make install-t5x PYTHON=python3.11 && .venv/bin/pip install -q -e '
      '".[tpu]"\'']
  assert lines[8].startswith('# 4/4 Train: every worker starts the same ptjf '
                             'run, detached, its output in ~/ptjf-logs/'
                             'ptjf_mc4_xxl.log; run it again to resume')
  _, _, setup, train = gcloud_lines(result)
  assert shlex.split(worker_command(setup))[-5:] == [
      '.venv/bin/pip', 'install', '-q', '-e', '.[tpu]']  # the tpu extra
  assert train[:9] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh',
                       'ptjf-xxl', '--zone=us-central2-b',
                       '--project=my-project', '--worker=all']
  assert trainer_argv(train) == [
      '.venv/bin/ptjf', 'run', 'ptjf_mc4_xxl',
      '--workdir=gs://my-bucket/ptjf_mc4_xxl',
      '--tfds_data_dir=gs://my-bucket/tfds']  # v4-256 takes XXL's submesh


@pytest.mark.needs_t5x
def test_worker_command_parses_back_to_the_run_command(ptjf):
  inside = os.path.join(recipe.RECIPES_DIR, 'ptjf_wmt_ro_fr_3layer.gin')
  result = ptjf('launch', inside, *WHERE, *WMT_BINDINGS,
                '--gin_file=gin/meshes/gpu_host.gin',
                '--pretrain_dir=gs://b/pretrain', '--checkout_dir=~/my runs')
  (run,) = gcloud_lines(result)
  assert run[:9] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 't',
                     ZONE, '--worker=all', run[8]]
  assert trainer_argv(run) == [  # the recipe as the workers' checkout names it
      '.venv/bin/ptjf', 'run', 'recipes/ptjf_wmt_ro_fr_3layer.gin',
      '--workdir=gs://b/w', '--pretrain_dir=gs://b/pretrain', *WMT_BINDINGS,
      '--gin_file=gin/meshes/gpu_host.gin']
  command = worker_command(run)
  assert command.startswith(("cd ~/'my runs' ||", 'cd ~/"my runs" ||'))
  assert '>> ~/ptjf-logs/ptjf_wmt_ro_fr_3layer.log' in command


# (slice and flags, the create steps gcloud gets, the submesh bound or None)
GENERATIONS = [
    (['--accelerator_type=v4-256', '--queued', '--spot', '--phase=first'], [
        ['queued-resources', 'create', 't-qr', ZONE, '--node-id=t',
         '--accelerator-type=v4-256', '--runtime-version=tpu-ubuntu2204-base',
         '--spot']], None),
    (['--accelerator_type=v5e-256', '--spot'], [
        ['queued-resources', 'create', 't-qr', ZONE, '--node-id=t',
         '--accelerator-type=v5litepod-256',
         '--runtime-version=v2-alpha-tpuv5-lite', '--spot']], (2, 4, 1, 1)),
    (['--accelerator_type=v5litepod-256', '--noqueued', '--project=p'], [
        ['tpu-vm', 'create', 't', ZONE, '--project=p',
         '--accelerator-type=v5litepod-256', '--version=v2-alpha-tpuv5-lite']],
     (2, 4, 1, 1)),
    (['--accelerator_type=v5p-128', '--reserved'], [
        ['queued-resources', 'create', 't-qr', ZONE, '--node-id=t',
         '--accelerator-type=v5p-128', '--runtime-version=v2-alpha-tpuv5',
         '--reserved']], (2, 2, 2, 1)),  # a 4x4x4 torus: z is 4, not 8
    (['--accelerator_type=v6e-256'], [
        ['queued-resources', 'create', 't-qr', ZONE, '--node-id=t',
         '--accelerator-type=v6e-256', '--runtime-version=v2-alpha-tpuv6e']],
     (2, 4, 1, 1)),
]


@pytest.mark.needs_libtpu
@pytest.mark.parametrize('flags, creates, submesh', GENERATIONS,
                         ids=[g[0][0].split('=')[1] for g in GENERATIONS])
def test_each_generation_gets_gclouds_type_image_and_mesh(
    flags, creates, submesh, tmp_path, ptjf):
  result = ptjf('launch', 'ptjf_mc4_xxl', *WHERE, *flags)
  log = fake_gcloud(tmp_path)
  ran = run_printed(printed(result), tmp_path)
  assert ran.returncode == 0, ran.stderr
  calls = recorded(log)
  for call in calls:
    check_documented(call)
  project = [a for a in flags if a.startswith('--project')]
  where = [ZONE, *project]
  queued = creates[0][0] == 'queued-resources'
  waits = [['compute', 'tpus', 'queued-resources', 'describe', 't-qr', *where,
            '--format=value(state.state)']] if queued else []
  (kind,) = [a.split('=')[1] for a in creates[0]
             if a.startswith('--accelerator-type=')]  # gcloud's, as created
  offered = [['compute', 'tpus', 'accelerator-types', 'describe', kind, *where]]
  assert calls[:-1] == offered + [['compute', 'tpus', *c]
                                  for c in creates] + waits
  ssh = ['compute', 'tpus', 'tpu-vm', 'ssh', 't', *where, '--worker=all']
  assert calls[-1][:len(ssh)] == ssh
  run = trainer_argv(['gcloud', *calls[-1]])
  bound = [a for a in run if 'MODEL_PARALLEL_SUBMESH' in a]
  assert bound == ([f'--gin=MODEL_PARALLEL_SUBMESH = {submesh}']
                   if submesh else [])
  if submesh:
    assert (f"# Bound --gin='MODEL_PARALLEL_SUBMESH = {submesh}': the "
            "recipe's submesh does not tile") in result.stdout
  assert ('--phase=first' in run) == ('--phase=first' in flags)
  if '--accelerator_type=v5e-256' in flags:  # --execute runs the same, waits too
    log.unlink()
    executed = ptjf('launch', 'ptjf_mc4_xxl', *WHERE, *flags, '--execute',
                    env={'PATH': path_with(tmp_path)})
    assert executed.returncode == 0, executed.stderr
    assert recorded(log) == calls
    assert '[4/4] Train' in executed.stdout


def test_a_submesh_that_cannot_tile_a_2d_slice_becomes_a_block_that_does():
  device = collections.namedtuple('Device', 'coords core_on_chip')
  grid = lambda x, y, z: [device((i, j, k), 0) for i in range(x)
                          for j in range(y) for k in range(z)]
  v5e_256 = grid(16, 16, 1)
  assert tpu.tiling_submesh(v5e_256, (1, 1, 8, 1)) == (2, 4, 1, 1)  # XXL
  assert tpu.tiling_submesh(v5e_256, (1, 1, 2, 1)) == (1, 2, 1, 1)  # XL
  assert tpu.tiling_submesh(grid(4, 4, 8), (1, 1, 8, 1)) == (1, 1, 8, 1)  # v4-256
  assert tpu.tiling_submesh(grid(2, 2, 1), (1, 1, 8, 1)) is None  # v4-8: 4 chips
  assert tpu.parse('v5e-256').accelerator_type == 'v5litepod-256'
  assert tpu.parse('v5litepod-256').accelerator_type == 'v5litepod-256'
  assert tpu.parse('v5p-128').accelerator_type == 'v5p-128'


V5E = ['ptjf_mc4_xxl', *WHERE, '--accelerator_type=v5e-256']


@pytest.mark.needs_libtpu
def test_execute_stops_at_the_first_failure(tmp_path, ptjf):
  log = fake_gcloud(tmp_path, fail_on='ssh')
  result = ptjf('launch', *V5E, '--runtime_version=my-image', '--execute',
                env={'PATH': path_with(tmp_path)})
  assert result.returncode != 0
  calls = recorded(log)
  assert [call[3] for call in calls] == ['describe', 'create', 'describe',
                                         'ssh']
  assert '--runtime-version=my-image' in calls[1]
  assert 'step 4/4' in result.stderr and 'exit status 3' in result.stderr


@pytest.mark.needs_libtpu
def test_a_zone_without_the_slice_stops_the_launch_before_any_create(
    tmp_path, ptjf):
  log = fake_gcloud(tmp_path, fail_on='accelerator-types')
  result = ptjf('launch', *V5E, '--project=p', '--execute',
                env={'PATH': path_with(tmp_path)})
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert recorded(log) == [['compute', 'tpus', 'accelerator-types', 'describe',
                            'v5litepod-256', ZONE, '--project=p']]
  words, line = result.stderr.strip().splitlines()[-2:]
  assert words == 'ERROR: (gcloud) accelerator-types failed'  # gcloud's, above
  assert line == (
      'error: step 1/4 (Check that us-east5-a offers v5litepod-256) failed '
      'with exit status 3: us-east5-a does not offer v5litepod-256 (gcloud '
      'says so above): gcloud compute tpus accelerator-types list '
      '--zone=us-east5-a --project=p lists the types it offers, and '
      'cloud.google.com/tpu/docs/regions-zones the zones of each TPU.')


def wait_step():
  return launch.create_steps('t', 'z', None, tpu.parse('v5e-8'),
                             'v2-alpha-tpuv5-lite', True, [])[1]


@pytest.mark.parametrize('state', ['FAILED', 'SUSPENDED'])
def test_a_queued_resource_that_fails_stops_the_launch(state, tmp_path,
                                                       monkeypatch):
  fake_gcloud(tmp_path, state=state)
  step = wait_step()
  ran = run_printed([step.text, 'echo next'], tmp_path)  # as printed
  assert ran.returncode == 0 and ran.stdout == 'next\n'  # the subshell stops
  assert ran.stderr == f'queued resource: {state}\n'
  monkeypatch.setenv('PATH', path_with(tmp_path))  # as --execute runs it
  with pytest.raises(SystemExit, match=f'the queued resource is {state}'):
    launch.wait_until_active(step, 'step 2/3')


def test_unknown_slices_and_capacity_flags_are_refused_before_anything_runs(
    tmp_path, ptjf):
  log = fake_gcloud(tmp_path)
  execute = lambda *a: ptjf('launch', 'ptjf_mc4_xxl', *WHERE, *a, '--execute',
                            env={'PATH': path_with(tmp_path)})
  for name in ('v5e-512', 'v9-8'):
    error = one_line_error(execute(f'--accelerator_type={name}'))
    assert error.startswith(f"error: unknown TPU slice '{name}': give one of "
                            'v4-8, v4-16,')
    assert 'v5e-256' in error and 'v6e-256' in error and 'v5litepod-N' in error
  assert '--spot and --reserved' in one_line_error(
      execute('--accelerator_type=v5e-8', '--spot', '--reserved'))
  assert '--noqueued is for creating the TPU VM' in one_line_error(
      execute('--noqueued'))
  assert '--status looks at a launched run' in one_line_error(
      execute('--status', '--accelerator_type=v4-8'))
  assert recorded(log) == []


def test_a_zone_spelt_as_no_zone_is_refused_before_anything_is_printed(
    tmp_path, ptjf):
  log = fake_gcloud(tmp_path)
  for zone in ('us-central2', 'US-CENTRAL2-B', '', 'us-central2-b ',
               'central2-b', 'us-central2-'):
    for flags in (['--workdir=gs://b/w', '--accelerator_type=v4-8'],
                  ['--status']):
      error = one_line_error(ptjf(
          'launch', 'ptjf_mc4_xxl', '--tpu=t', f'--zone={zone}', *flags,
          '--execute', env={'PATH': path_with(tmp_path)}))
      assert error == (f'error: --zone={zone!r} is not a zone: give '
                       'REGION-ZONE in lower case, e.g. us-central2-b.')
  assert recorded(log) == []


@pytest.mark.needs_libtpu
def test_xxl_on_a_v4_8_is_refused_before_anything_runs(tmp_path, ptjf):
  log = fake_gcloud(tmp_path)
  error = one_line_error(ptjf('launch', 'ptjf_mc4_xxl', *WHERE, '--accelerator_type=v4-8',
                              '--execute', env={'PATH': path_with(tmp_path)}))
  assert error.startswith(  # ptjf compile's words
      'error: pretrain: the mesh does not tile v4-8 (v4:2x2x1): ')
  assert recorded(log) == []


@pytest.mark.needs_libtpu
def test_a_batch_or_a_submesh_of_the_users_that_does_not_fit_is_refused(ptjf):
  error = one_line_error(ptjf('launch', *WHERE, 'ptjf_mc4_xxl', '--gin=BATCH_SIZE=1000',
                              '--accelerator_type=v4-256'))
  assert error == (
      'error: pretrain: BATCH_SIZE 1000 does not split over the data axis: '
      'v4-256 (128 chips) with 8 per model replica make a data axis of 16, '
      'which must divide each of 4 microbatches: bind a multiple of 64, '
      "e.g. --gin='BATCH_SIZE = 960'.")
  error = one_line_error(ptjf('launch',
      *V5E, '--gin=MODEL_PARALLEL_SUBMESH = (1, 1, 8, 1)'))  # never replaced
  assert error.startswith('error: pretrain: the mesh does not tile v5e-256 ')
  assert error.endswith("--gin='MODEL_PARALLEL_SUBMESH = (2, 4, 1, 1)' tiles it.")


@pytest.mark.needs_t5x
def test_bindings_are_checked_as_ptjf_check_does(ptjf):
  error = one_line_error(ptjf('launch', 'ptjf_mc4_xxl', *WHERE, '--gin=LEARNIN_RATE=1'))
  assert 'error: --gin binds LEARNIN_RATE, which pretrain_mc4_xxl.gin and' in error


@pytest.mark.needs_t5x
@pytest.mark.parametrize('flag, message', [
    ('--t5x_flag=--gin_bindings=LEARNING_RATE=-1',
     'ptjf sets --gin_bindings for t5x.train itself'),
    ('--t5x_flag=--multiprocess_gpuu', 'did you mean --multiprocess_gpu'),
    ("--finetune_gin=WARMUP_STEPS = 40000 +", 'is not a gin binding'),
    ('--finetune_gin=WARMUP_STEPS = 9000000', 'WARMUP_STEPS is 9000000'),
])
def test_a_bad_point_is_refused_before_anything_is_printed_or_run(
    flag, message, tmp_path, ptjf):
  log = fake_gcloud(tmp_path)
  result = ptjf('launch', 'ptjf_wmt_ro_fr_3layer', *WHERE, *WMT_BINDINGS[:2],
                flag, '--execute', env={'PATH': path_with(tmp_path)})
  assert message in one_line_error(result)
  assert recorded(log) == []


def test_local_workdir_is_refused(ptjf):
  error = one_line_error(ptjf('launch', 'ptjf_mc4_xxl', '--tpu=t', ZONE,
                              '--workdir=/tmp/ptjf'))
  assert "--workdir must be a gs:// path, not '/tmp/ptjf'" in error
  assert 'every worker' in error
  assert 'gs://' in one_line_error(ptjf('launch', 'ptjf_mc4_xxl', '--tpu=t',
                                        ZONE))


def test_missing_flags_are_refused(ptjf):
  assert '--tpu and --zone' in one_line_error(
      ptjf('launch', 'ptjf_mc4_xxl', '--tpu=t', '--workdir=gs://b/w'))
  assert '--repo_url' in one_line_error(ptjf('launch', 'ptjf_mc4_xxl', *WHERE, '--setup'))
  assert 'unknown experiment' in one_line_error(ptjf('launch', 'ptjf_nope', *WHERE))
  assert 'give one EXPERIMENT' in one_line_error(ptjf('launch', *WHERE))
  assert 'the fine-tune does not run' in one_line_error(
      ptjf('launch', 'ptjf_mc4_xxl', *WHERE, '--phase=first', '--finetune_gin=A=1'))
  assert 'has one phase' in one_line_error(
      ptjf('launch', 'static_mc4_xxl', *WHERE, '--pretrain_gin=TRAIN_STEPS=5'))
  assert 'first phase of a two-phase' in one_line_error(
      ptjf('launch', 'static_mc4_xxl', *WHERE, '--pretrain_dir=gs://b/p'))
  assert '--runtime_version is for creating' in one_line_error(
      ptjf('launch', 'ptjf_mc4_xxl', *WHERE, '--runtime_version=x'))
  # ptjf sweep's flag, unknown to a process that never imported ptjf.sweep
  sweep_flag = ptjf('launch', 'ptjf_mc4_xxl', *WHERE, '--root=/r',
                    subprocess=True)
  assert sweep_flag.returncode == 1 and sweep_flag.stdout == ''
  assert "Unknown command line flag 'root'" in sweep_flag.stderr


def test_missing_required_macros_are_named_with_their_flag(ptjf):
  error = one_line_error(ptjf('launch', 'ptjf_wmt_ro_fr_3layer', *WHERE))
  assert ("LEARNING_RATE, HIGH_RESOURCE_RATE, WARMUP_STEPS REQUIRED: bind them "
          "with --gin='LEARNING_RATE = ...', --finetune_gin='HIGH_RESOURCE_RATE"
          " = ...', --finetune_gin='WARMUP_STEPS = ...'") in error
  # The restart's static phase trains at the rate too: --finetune_gin misses it.
  error = one_line_error(ptjf('launch', 'restart_wmt_ro_fr_3layer', *WHERE,
                              *WMT_BINDINGS))
  assert "leaves HIGH_RESOURCE_RATE REQUIRED: bind it with --gin='" in error
  # Fine-tuning from an existing pre-training needs the fine-tune's only.
  error = one_line_error(ptjf('launch', 'ptjf_wmt_ro_fr_3layer', *WHERE,
                              '--pretrain_dir=gs://b/p',
                              '--finetune_gin=LEARNING_RATE=1e-3'))
  assert 'leaves HIGH_RESOURCE_RATE, WARMUP_STEPS REQUIRED' in error


@pytest.mark.parametrize('hidden, flags', [
    ('t5x', []),
    pytest.param('libtpu', ['--accelerator_type=v4-8'], marks=pytest.mark.needs_t5x)])
def test_without_t5x_or_libtpu_it_says_how_to_install_them(hidden, flags, ptjf,
                                                           monkeypatch):
  """The checks need them: a launch without them is refused, not unchecked."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  find = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda n, *a: None if n == hidden else find(n, *a))
  error = one_line_error(ptjf('launch', 'ptjf_mc4_xxl', *WHERE, *flags))
  assert error.startswith({'t5x': 'error: T5X is not installed in ',
                           'libtpu': 'error: libtpu is not installed in '}[hidden])
  assert "pip install -e '.[t5x]'" in error or "pip install -e '.[tpu]'" in error


def test_execute_without_gcloud_runs_nothing(tmp_path, ptjf):
  error = one_line_error(ptjf('launch', *EXAMPLE, '--execute',
                              env={'PATH': str(tmp_path)}))
  assert 'gcloud is not on PATH' in error


def test_gin_path_outside_the_repository_is_refused(tmp_path, ptjf):
  outside = tmp_path / 'static_mine_tiny.gin'
  outside.write_text('# REQUIRED: MODEL_DIR\n')
  assert 'outside the repository' in one_line_error(
      ptjf('launch', str(outside), *WHERE))


FAKE_TRAINER = f'''#!{sys.executable}
import json, sys, time
print('step 1')
open(sys.argv[0] + '.argv', 'a').write(json.dumps(sys.argv[1:]) + '\\n')
sys.stdout.flush()
time.sleep(120)
'''


def _on_worker(command, home):
  return subprocess.run(['bash', '-c', command], capture_output=True,
                        text=True, check=False, timeout=60,
                        env=dict(os.environ, HOME=str(home)))


def _stop(pid_file):
  pid = int(pid_file.read_text())
  os.kill(pid, signal.SIGTERM)
  for _ in range(100):
    if not os.path.exists(f'/proc/{pid}') or 'Z' in open(
        f'/proc/{pid}/stat').read().split()[2]:
      return
    time.sleep(0.1)


def test_the_trainer_runs_detached_once_per_worker_and_shows_its_status(
    tmp_path):
  """The train and status steps' commands, run here as on one worker."""
  checkout = tmp_path / 'my checkout'
  (checkout / '.venv' / 'bin').mkdir(parents=True)
  trainer = checkout / '.venv' / 'bin' / 'ptjf'
  trainer.write_text(FAKE_TRAINER)
  trainer.chmod(0o755)
  tricky = "--gin=MIXTURE_OR_TASK_NAME = 'it''s $HOME'"
  args = ['run', 'ptjf_x', '--workdir=gs://b/w', tricky]
  train = launch.train_command('ptjf_x', str(checkout), args)
  status = launch.status_command('ptjf_x')
  logs = tmp_path / 'ptjf-logs'
  started = _on_worker(train, tmp_path)
  assert started.returncode == 0, started.stderr
  assert started.stdout.endswith(
      ': started ptjf run ptjf_x, log ~/ptjf-logs/ptjf_x.log\n')
  pid = int((logs / 'ptjf_x.pid').read_text())
  for _ in range(50):  # bash returns before its child has called setsid(2)
    if os.getsid(pid) == pid:
      break
    time.sleep(0.1)
  assert os.getsid(pid) == pid  # its own session: a dropped ssh leaves it
  try:
    for _ in range(100):
      if os.path.exists(f'{trainer}.argv'):
        break
      time.sleep(0.1)
    again = _on_worker(train, tmp_path)
    assert again.returncode == 1
    assert again.stderr.endswith(
        ': ptjf run ptjf_x is still running (log ~/ptjf-logs/ptjf_x.log): not '
        'starting another\n')
    shown = _on_worker(status, tmp_path).stdout.splitlines()
    assert [line.split(': ', 1)[1] for line in shown] == [
        'step 1', 'ptjf run ptjf_x is running']
  finally:
    _stop(logs / 'ptjf_x.pid')
  assert _on_worker(status, tmp_path).stdout.endswith(
      ': ptjf run ptjf_x is not running\n')
  assert [json.loads(line) for line in open(f'{trainer}.argv')] == [args]


def test_status_prints_one_ssh_to_every_worker(ptjf):
  (status,) = gcloud_lines(ptjf('launch', 'ptjf_mc4_xxl', '--tpu=t', ZONE,
                                '--project=p', '--status'))
  assert status[:9] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 't',
                        ZONE, '--project=p', '--worker=all']
  assert worker_command(status) == launch.status_command('ptjf_mc4_xxl')


def test_help_explains_pods_preemption_queues_and_gpus(ptjf):
  help_text = ptjf('launch', '--help').stdout
  for phrase in ('Every worker of the pod runs the same', 'GCS', 'preemption',
                 'v5litepod-N', 'queued resources', 'v2-alpha-tpuv5-lite',
                 'detached', '--status', '--t5x_flag=--multiprocess_gpu',
                 'gin/meshes/gpu_host.gin', '--tpu:', '--[no]spot:', '--gin:',
                 '--gpu_hosts:', '--coordinator_port:'):
    assert phrase in help_text, phrase


GPU_HOSTS = ['--gpu_hosts=gpu-0,me@gpu-1,10.0.0.3', '--workdir=/shared/w']


def ssh_lines(result):
  """Each printed ssh as (host, the command it runs there)."""
  lines = [shlex.split(line) for line in printed(result)]
  assert all(len(words) == 3 and words[0] == 'ssh' for words in lines), lines
  return [(host, command) for _, host, command in lines]


@pytest.mark.needs_t5x
def test_gpu_hosts_get_one_ssh_each_that_parses_back_to_its_own_run(
    tmp_path, ptjf):
  inside = os.path.join(recipe.RECIPES_DIR, 'ptjf_wmt_ro_fr_3layer.gin')
  flags = [inside, *GPU_HOSTS, *WMT_BINDINGS, '--coordinator_port=4321',
           '--gin=NUM_PARTITIONS = 1', '--checkout_dir=~/my runs',
           '--gin_file=gin/meshes/gpu_host.gin']  # given once, not twice
  result = ptjf('launch', *flags)
  assert [line for line in result.stdout.splitlines() if line.startswith('#')] == [
      f'# {i + 1}/3 Train on host {i} of 3, {host}{role}: its ptjf run, '
      'detached, its output in ~/ptjf-logs/ptjf_wmt_ro_fr_3layer.log; run them '
      'all again to resume, and see them with --status:'
      for i, (host, role) in enumerate([
          ('gpu-0', ", JAX's coordinator at gpu-0:4321"), ('me@gpu-1', ''),
          ('10.0.0.3', '')])]
  hosts = ssh_lines(result)
  assert [host for host, _ in hosts] == ['gpu-0', 'me@gpu-1', '10.0.0.3']
  for i, (_, command) in enumerate(hosts):
    assert command.startswith(("cd ~/'my runs' ||", 'cd ~/"my runs" ||'))
    assert '>> ~/ptjf-logs/ptjf_wmt_ro_fr_3layer.log' in command
    assert started_argv(command) == [
        '.venv/bin/ptjf', 'run', 'recipes/ptjf_wmt_ro_fr_3layer.gin',
        '--workdir=/shared/w', WMT_BINDINGS[0], '--gin=NUM_PARTITIONS = 1',
        *WMT_BINDINGS[1:],
        '--gin_file=gin/meshes/gpu_host.gin', '--t5x_flag=--multiprocess_gpu',
        '--t5x_flag=--coordinator_address=gpu-0:4321',
        '--t5x_flag=--process_count=3', f'--t5x_flag=--process_index={i}']
  # --execute runs the same commands with ssh, host after host
  log = fake_gcloud(tmp_path, name='ssh')
  executed = ptjf('launch', *flags, '--execute',
                  env={'PATH': path_with(tmp_path)})
  assert executed.returncode == 0, executed.stderr
  assert recorded(log) == [list(host) for host in hosts]
  assert '[3/3] Train on host 2 of 3, 10.0.0.3' in executed.stdout
  # a host that does not start stops the launch there, and says what now
  log.unlink()
  fake_gcloud(tmp_path, name='ssh', fail_on='me@gpu-1')
  failed = ptjf('launch', *flags, '--execute',
                env={'PATH': path_with(tmp_path)})
  assert [call[0] for call in recorded(log)] == ['gpu-0', 'me@gpu-1']
  assert failed.returncode == 1 and 'Traceback' not in failed.stderr
  error = failed.stderr.strip().splitlines()[-1]
  assert error.startswith('error: step 2/3 (Train on host 1 of 3, me@gpu-1: ')
  assert error.endswith(
      'failed with exit status 3: host 1 (me@gpu-1) did not start its ptjf run '
      '(ssh or the host says why above); the hosts before it started and wait '
      "for it until JAX's distributed start-up times out: --status shows them, "
      'launch again once they have ended.')


def test_gpu_hosts_status_is_one_ssh_per_host(ptjf):
  result = ptjf('launch', 'ptjf_mc4_xxl', '--gpu_hosts=gpu-0,gpu-1', '--status')
  assert result.stdout.splitlines()[0] == (
      '# 1/2 Host 0 of 2, gpu-0: the end of its log and whether its ptjf run '
      'ptjf_mc4_xxl is alive:')
  assert ssh_lines(result) == [(host, launch.status_command('ptjf_mc4_xxl'))
                               for host in ('gpu-0', 'gpu-1')]


TPU_FLAG_ERROR = ('error: --gpu_hosts and {} are two places to run (GPU hosts '
                  'over ssh, a Cloud TPU VM over gcloud): give one.')
HOST_FORM_ERROR = (
    "error: --gpu_hosts={!r}: host {} is {}: give each as [USER@]HOST (letters, "
    'digits, dots, hyphens, underscores), separated by commas alone, e.g. '
    'gpu-0,me@10.0.0.2.')


@pytest.mark.parametrize('flags, error', [
    (['--gpu_hosts='], "error: --gpu_hosts='' names no host: give HOST0,HOST1,"
     '... as ssh reaches them, e.g. --gpu_hosts=gpu-0,gpu-1.'),
    (['--gpu_hosts=a,,b'], HOST_FORM_ERROR.format('a,,b', 1, 'empty')),
    (['--gpu_hosts=a,'], HOST_FORM_ERROR.format('a,', 1, 'empty')),
    (['--gpu_hosts=a, b'], HOST_FORM_ERROR.format('a, b', 1, "' b', not a host")),
    (['--gpu_hosts=gpu 0'], HOST_FORM_ERROR.format('gpu 0', 0,
                                                    "'gpu 0', not a host")),
    (['--gpu_hosts=-oProxyCommand=x'], HOST_FORM_ERROR.format(
        '-oProxyCommand=x', 0, "'-oProxyCommand=x', not a host")),
    (['--gpu_hosts=a;rm -rf ~'], HOST_FORM_ERROR.format(
        'a;rm -rf ~', 0, "'a;rm -rf ~', not a host")),
    (['--gpu_hosts=gpu-0:22'], HOST_FORM_ERROR.format(
        'gpu-0:22', 0, "'gpu-0:22', not a host")),
    (['--gpu_hosts=gpu-0,gpu-1,GPU-0'], "error: --gpu_hosts='gpu-0,gpu-1,GPU-0'"
     ': hosts 0 and 2 are both GPU-0: each host runs one process of the run, '
     'its log and pid file in its ~/ptjf-logs: give each host once.'),
    (['--gpu_hosts=me@gpu-0,you@gpu-0'], "error: --gpu_hosts='me@gpu-0,you@"
     "gpu-0': hosts 0 and 1 are both gpu-0: each host runs one process of the "
     'run, its log and pid file in its ~/ptjf-logs: give each host once.'),
    (['--gpu_hosts=a,b', '--coordinator_port=0'], 'error: --coordinator_port=0 '
     'is not a TCP port: give 1 to 65535, one free on the first host (default '
     '1234).'),
    (['--gpu_hosts=a,b', '--coordinator_port=65536'], 'error: '
     '--coordinator_port=65536 is not a TCP port: give 1 to 65535, one free on '
     'the first host (default 1234).'),
    (['--tpu=t', ZONE, '--coordinator_port=1234'], "error: --coordinator_port "
     "is the port of JAX's coordinator on the first of --gpu_hosts: give "
     '--gpu_hosts too.'),
    (['--gpu_hosts=a,b', '--tpu=t'], TPU_FLAG_ERROR.format('--tpu')),
    (['--gpu_hosts=a,b', ZONE], TPU_FLAG_ERROR.format('--zone')),
    (['--gpu_hosts=a,b', '--accelerator_type=v4-8'],
     TPU_FLAG_ERROR.format('--accelerator_type')),
    (['--gpu_hosts=a,b', '--setup'], TPU_FLAG_ERROR.format('--setup')),
    (['--gpu_hosts=a,b', '--noqueued'], TPU_FLAG_ERROR.format('--noqueued')),
    (['--gpu_hosts=a,b', '--workdir=runs/x'], 'error: --workdir=runs/x is not a '
     'path every host sees: give gs://BUCKET/DIR, or an absolute path on a file '
     'system all of --gpu_hosts mount.'),
    (['--gpu_hosts=a,b', '--workdir=/w', '--pretrain_dir=~/p'], 'error: '
     '--pretrain_dir=~/p is not a path every host sees: give gs://BUCKET/DIR, '
     'or an absolute path on a file system all of --gpu_hosts mount.'),
    (['--gpu_hosts=a,b', '--workdir=/w', '--t5x_flag=--process_index=1'],
     'error: --t5x_flag=--process_index=1: ptjf launch --gpu_hosts gives every '
     'host --coordinator_address, --multiprocess_gpu, --process_count, '
     '--process_index itself: leave it out.'),
])
def test_bad_gpu_hosts_flags_are_refused_before_anything_runs(
    flags, error, tmp_path, ptjf):
  log = fake_gcloud(tmp_path, name='ssh')
  result = ptjf('launch', 'ptjf_mc4_xxl', *flags, '--execute',
                env={'PATH': path_with(tmp_path)})
  assert one_line_error(result) == error
  assert recorded(log) == []


def test_gpu_hosts_execute_without_ssh_runs_nothing(tmp_path, ptjf):
  error = one_line_error(ptjf('launch', 'ptjf_mc4_xxl', *GPU_HOSTS, '--execute',
                              env={'PATH': str(tmp_path)}))
  assert error == ('error: ssh is not on PATH: install an ssh client (OpenSSH) '
                   'or run without --execute.')


def fake_checkout(directory):
  """A checkout as the hosts have it: the repository's gin files and recipes,
  and a .venv/bin/ptjf that runs this repository's ptjf with this Python."""
  for name in ('gin', 'recipes'):
    (directory / name).symlink_to(os.path.join(recipe.REPO, name))
  (directory / '.venv' / 'bin').mkdir(parents=True)
  script = directory / '.venv' / 'bin' / 'ptjf'
  script.write_text(f'#!/bin/sh\nPYTHONPATH={shlex.quote(recipe.REPO)} exec '
                    f'{shlex.quote(sys.executable)} -m ptjf.cli "$@"\n')
  script.chmod(0o755)


def _wait_ended(pid_files, seconds):
  """Whether every process the pid files name has ended within `seconds`
  (they are not this process's children: their shell has exited)."""
  pids = [int(f.read_text()) for f in pid_files]
  deadline = time.monotonic() + seconds
  while time.monotonic() < deadline:
    if not any(_lives(pid) for pid in pids):
      return True
    time.sleep(1)
  for pid in pids:  # each leads its session and group (setsid)
    if _lives(pid):
      os.killpg(pid, signal.SIGKILL)
  return False


def _lives(pid):
  try:
    with open(f'/proc/{pid}/stat') as stat:
      return stat.read().rsplit(')', 1)[1].split()[0] != 'Z'
  except FileNotFoundError:
    return False


@pytest.mark.needs_t5x
def test_the_printed_host_commands_train_as_one_run_of_two_hosts(
    tmp_path, ptjf):
  """Each printed ssh's command run here in bash as one host of 2 CPU
  devices with a home of its own: together, one run with a model axis."""
  checkout, workdir = tmp_path / 'checkout', tmp_path / 'work'
  checkout.mkdir()
  fake_checkout(checkout)
  result = ptjf('launch', 'pretrain_synth_mc4_tiny',
                '--gpu_hosts=localhost,127.0.0.1',
                f'--coordinator_port={pod.free_port()}', f'--workdir={workdir}',
                f'--checkout_dir={checkout}', '--gin=TRAIN_STEPS = 10',
                '--gin=WARMUP_STEPS = 5', '--gin=NUM_PARTITIONS = 2',
                '--gin=utils.SaveCheckpointConfig.period = 10')
  homes = [tmp_path / f'home{i}' for i in range(2)]
  logs = [home / 'ptjf-logs' / 'pretrain_synth_mc4_tiny.log' for home in homes]
  for home, (_, command) in zip(homes, ssh_lines(result)):
    started = subprocess.run(['bash', '-c', command], capture_output=True,
                             text=True, check=False, timeout=60,
                             env={**pod.host_env(2), 'HOME': str(home)})
    assert started.returncode == 0, started.stderr
  assert _wait_ended([log.with_suffix('.pid') for log in logs], 240), (
      'the hosts did not end in 240 s:\n' + logs[0].read_text()[-3000:])
  final = workdir / 'pretrain' / 'checkpoint_10'
  for i, log in enumerate(logs):  # each host ran its own t5x.train to the end
    output = log.read_text()
    assert re.fullmatch(rf'\s*done in [0-9:]+: {re.escape(str(final))}',
                        output.splitlines()[-1]), output[-3000:]
    assert [f'--process_index={i}'] == re.findall(r'--process_index=\d', output)
  assert final.is_dir()
