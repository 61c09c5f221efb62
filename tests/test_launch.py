"""ptjf launch: the gcloud commands, their quoting, and what it refuses."""

import json
import os
import shlex
import subprocess
import sys

from ptjf import recipe

EXAMPLE = ['ptjf_mc4_xxl', '--tpu=ptjf-xxl', '--zone=us-central2-b',
           '--project=my-project', '--accelerator_type=v4-256', '--setup',
           '--repo_url=https://github.com/ME/ptjf-t5x.git',
           '--workdir=gs://my-bucket/ptjf_mc4_xxl',
           '--tfds_data_dir=gs://my-bucket/tfds']
WMT_BINDINGS = ['--gin=LEARNING_RATE = 5e-3',
                '--finetune_gin=HIGH_RESOURCE_RATE = 0.7',
                '--finetune_gin=WARMUP_STEPS = 20000']
WHERE = ['--tpu=t', '--zone=z', '--workdir=gs://b/w']


def _launch(*args, path=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  if path is not None:
    env['PATH'] = path
  return subprocess.run([sys.executable, '-m', 'ptjf.cli', 'launch', *args],
                        cwd=recipe.REPO, capture_output=True, text=True,
                        check=False, env=env)


def gcloud_lines(stdout):
  return [shlex.split(line) for line in stdout.splitlines()
          if not line.startswith('#')]


def worker_command(argv):
  """The command an ssh step runs on every worker, split as its shell would."""
  (command,) = [a[len('--command='):] for a in argv if a.startswith('--command=')]
  return shlex.split(command)


def test_example_prints_create_setup_and_run():
  result = _launch(*EXAMPLE)
  assert result.returncode == 0, result.stderr
  where = 'ptjf-xxl --zone=us-central2-b --project=my-project'
  assert result.stdout.splitlines() == [
      '# 1/3 Create the TPU VM (v4-256, tpu-ubuntu2204-base):',
      f'gcloud compute tpus tpu-vm create {where} --accelerator-type=v4-256 '
      '--version=tpu-ubuntu2204-base',
      '# 2/3 Install on every worker: clone into ~/ptjf-t5x, make '
      'install-t5x with python3.11, then jax[tpu]:',
      f'gcloud compute tpus tpu-vm ssh {where} --worker=all '
      "'--command=sudo apt-get -qq update && sudo apt-get -qq install -y git "
      'make python3.11-venv && (test -d ~/ptjf-t5x/.git || git clone '
      'https://github.com/ME/ptjf-t5x.git ~/ptjf-t5x) && cd ~/ptjf-t5x && '
      'make install-t5x PYTHON=python3.11 && .venv/bin/pip install -q '
      '"jax[tpu]" -f https://storage.googleapis.com/jax-releases/'
      "libtpu_releases.html'",
      '# 3/3 Train: every worker runs the same command; run it again to '
      'resume after a preemption:',
      f'gcloud compute tpus tpu-vm ssh {where} --worker=all '
      "'--command=cd ~/ptjf-t5x && .venv/bin/ptjf run ptjf_mc4_xxl "
      "--workdir=gs://my-bucket/ptjf_mc4_xxl "
      "--tfds_data_dir=gs://my-bucket/tfds'"]
  setup = ' '.join(worker_command(gcloud_lines(result.stdout)[1]))
  assert 'make install-t5x PYTHON=python3.11 &&' in setup  # quotes removed
  assert '.venv/bin/pip install -q jax[tpu] -f' in setup


def test_worker_command_parses_back_to_the_run_command():
  tricky = "--finetune_gin=MIXTURE_OR_TASK_NAME = 'it''s $HOME'"
  result = _launch('ptjf_wmt_ro_fr_3layer', *WHERE, *WMT_BINDINGS, tricky,
                   '--gin_file=gin/meshes/gpu_host.gin',
                   '--pretrain_dir=gs://b/pretrain', '--checkout_dir=~/my runs')
  assert result.returncode == 0, result.stderr
  (run,) = gcloud_lines(result.stdout)
  assert run[:9] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 't',
                     '--zone=z', '--worker=all', run[8]]
  assert worker_command(run) == [
      'cd', '~/my runs', '&&', '.venv/bin/ptjf', 'run', 'ptjf_wmt_ro_fr_3layer',
      '--workdir=gs://b/w', '--pretrain_dir=gs://b/pretrain', *WMT_BINDINGS,
      tricky, '--gin_file=gin/meshes/gpu_host.gin']
  assert "cd ~/'my runs' &&" in run[8] or 'cd ~/"my runs" &&' in run[8]


def test_phase_first_and_runtime_by_accelerator():
  result = _launch('ptjf_wmt_ro_fr_3layer', *WHERE, '--phase=first',
                   '--gin=LEARNING_RATE=5e-3', '--accelerator_type=v5p-128')
  assert result.returncode == 0, result.stderr
  create, run = gcloud_lines(result.stdout)
  assert create[-2:] == ['--accelerator-type=v5p-128', '--version=v2-alpha-tpuv5']
  assert worker_command(run)[3:] == [
      '.venv/bin/ptjf', 'run', 'ptjf_wmt_ro_fr_3layer', '--phase=first',
      '--workdir=gs://b/w', '--gin=LEARNING_RATE=5e-3']
  chosen = _launch('ptjf_mc4_xxl', *WHERE, '--accelerator_type=v4-8',
                   '--runtime_version=my-image')
  assert gcloud_lines(chosen.stdout)[0][-1] == '--version=my-image'


def one_line_error(result):
  assert result.returncode != 0
  assert result.stdout == '' and 'Traceback' not in result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
  return lines[0]


def test_local_workdir_is_refused():
  error = one_line_error(_launch('ptjf_mc4_xxl', '--tpu=t', '--zone=z',
                                 '--workdir=/tmp/ptjf'))
  assert "--workdir must be a gs:// path, not '/tmp/ptjf'" in error
  assert 'every worker' in error
  assert 'gs://' in one_line_error(_launch('ptjf_mc4_xxl', '--tpu=t', '--zone=z'))


def test_missing_flags_are_refused():
  assert '--tpu and --zone' in one_line_error(
      _launch('ptjf_mc4_xxl', '--tpu=t', '--workdir=gs://b/w'))
  assert '--repo_url' in one_line_error(_launch('ptjf_mc4_xxl', *WHERE, '--setup'))
  assert 'unknown experiment' in one_line_error(_launch('ptjf_nope', *WHERE))
  assert 'give one EXPERIMENT' in one_line_error(_launch(*WHERE))
  assert 'the fine-tune does not run' in one_line_error(
      _launch('ptjf_mc4_xxl', *WHERE, '--phase=first', '--finetune_gin=A=1'))
  assert 'has one phase' in one_line_error(
      _launch('static_mc4_xxl', *WHERE, '--pretrain_gin=TRAIN_STEPS=5'))
  assert 'first phase of a two-phase' in one_line_error(
      _launch('static_mc4_xxl', *WHERE, '--pretrain_dir=gs://b/p'))
  sweep_flag = _launch('ptjf_mc4_xxl', *WHERE, '--root=/r')  # ptjf sweep's
  assert sweep_flag.returncode == 1 and sweep_flag.stdout == ''
  assert "Unknown command line flag 'root'" in sweep_flag.stderr


def test_missing_required_macros_are_named_with_their_flag():
  error = one_line_error(_launch('ptjf_wmt_ro_fr_3layer', *WHERE))
  assert ("LEARNING_RATE, HIGH_RESOURCE_RATE, WARMUP_STEPS REQUIRED: bind them "
          "with --gin='LEARNING_RATE = ...', --finetune_gin='HIGH_RESOURCE_RATE"
          " = ...', --finetune_gin='WARMUP_STEPS = ...'") in error
  # The restart's static phase trains at the rate too: --finetune_gin misses it.
  error = one_line_error(_launch('restart_wmt_ro_fr_3layer', *WHERE,
                                 *WMT_BINDINGS))
  assert "leaves HIGH_RESOURCE_RATE REQUIRED: bind it with --gin='" in error
  # Fine-tuning from an existing pre-training needs the fine-tune's only.
  error = one_line_error(_launch('ptjf_wmt_ro_fr_3layer', *WHERE,
                                 '--pretrain_dir=gs://b/p',
                                 '--finetune_gin=LEARNING_RATE=1e-3'))
  assert 'leaves HIGH_RESOURCE_RATE, WARMUP_STEPS REQUIRED' in error


def test_execute_without_gcloud_runs_nothing(tmp_path):
  error = one_line_error(_launch(*EXAMPLE, '--execute', path=str(tmp_path)))
  assert 'gcloud is not on PATH' in error


def fake_gcloud(directory, fail_on=None):
  """A `gcloud` that records its arguments, one JSON list per call."""
  log = directory / 'calls.jsonl'
  script = directory / 'gcloud'
  script.write_text(
      f'#!{sys.executable}\nimport json, sys\n'
      f'open({str(log)!r}, "a").write(json.dumps(sys.argv[1:]) + "\\n")\n'
      f'sys.exit(3 if {fail_on!r} in sys.argv else 0)\n')
  script.chmod(0o755)
  return log


def recorded(log):
  return [json.loads(line) for line in log.read_text().splitlines()]


def test_execute_runs_the_printed_commands_in_order(tmp_path):
  printed = gcloud_lines(_launch(*EXAMPLE).stdout)
  log = fake_gcloud(tmp_path)
  result = _launch(*EXAMPLE, '--execute', path=str(tmp_path))
  assert result.returncode == 0, result.stderr
  assert recorded(log) == [argv[1:] for argv in printed]
  assert '[3/3] Train' in result.stdout


def test_execute_stops_at_the_first_failure(tmp_path):
  log = fake_gcloud(tmp_path, fail_on='ssh')
  result = _launch(*EXAMPLE, '--execute', path=str(tmp_path))
  assert result.returncode != 0
  assert [call[3] for call in recorded(log)] == ['create', 'ssh']
  assert 'step 2/3' in result.stderr and 'exit status 3' in result.stderr


def test_gin_path_outside_the_repository_is_refused(tmp_path):
  outside = tmp_path / 'static_mine_tiny.gin'
  outside.write_text('# REQUIRED: MODEL_DIR\n')
  assert 'outside the repository' in one_line_error(
      _launch(str(outside), *WHERE))
  inside = os.path.join(recipe.RECIPES_DIR, 'static_mc4_xxl.gin')
  run = gcloud_lines(_launch(inside, *WHERE).stdout)[0]
  assert worker_command(run)[5] == 'recipes/static_mc4_xxl.gin'


def test_help_explains_pods_preemption_and_gpus():
  help_text = _launch('--help').stdout
  for phrase in ('Every worker of the pod runs the same', 'GCS', 'preemption',
                 '--t5x_flag=--multiprocess_gpu', 'gin/meshes/gpu_host.gin',
                 '--tpu:', '--gin:'):
    assert phrase in help_text
