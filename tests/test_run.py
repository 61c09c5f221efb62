"""`ptjf run` on the tiny experiment, killed in each phase and re-run, and its
refusals before training. Needs T5X; the kill test takes about three minutes.
"""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
import tensorflow as tf

from ptjf import checkpoint
from ptjf import recipe
from ptjf import preflight

pytestmark = pytest.mark.skipif(bool(recipe.t5x_missing()),
                                reason=recipe.t5x_missing())

EXPERIMENT = 'ptjf_synth_mc4_tiny'  # 160 + 160 steps, checkpoints every 80
COMMAND = [sys.executable, '-m', 'ptjf.cli', 'run', EXPERIMENT]


def start(workdir):
  return subprocess.Popen([*COMMAND, f'--workdir={workdir}'], cwd=recipe.REPO,
                          env=recipe.cpu_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)


def kill_when_complete(process, ckpt, timeout_s=600):
  """SIGKILLs the whole `ptjf run` (and its t5x.train) once `ckpt` is written."""
  deadline = time.time() + timeout_s
  while not checkpoint.complete(ckpt):
    assert process.poll() is None, process.stdout.read()[-3000:]
    assert time.time() < deadline, f'{ckpt} never appeared'
    time.sleep(0.5)
  os.killpg(process.pid, signal.SIGKILL)
  output = process.communicate()[0]
  return output, time.time()


@pytest.fixture(scope='module')
def killed_twice(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  pretrain, finetune = (os.path.join(workdir, arm) for arm in ('pretrain', 'ptjf'))
  outputs = {}
  outputs[1], _ = kill_when_complete(start(workdir), checkpoint.path(pretrain, 80))
  outputs[2], second_kill = kill_when_complete(start(workdir),
                                               checkpoint.path(finetune, 80))
  last = start(workdir)
  outputs[3] = last.communicate()[0]
  assert last.returncode == 0, outputs[3][-3000:]
  return workdir, pretrain, finetune, outputs, second_kill


def test_each_attempt_continues_where_the_last_stopped(killed_twice):
  workdir, pretrain, finetune, outputs, _ = killed_twice
  assert 'resuming' not in outputs[1] and 'from scratch' in outputs[1]
  assert '[1/2] pretrain' in outputs[2] and 'resuming from checkpoint_80' in outputs[2]
  assert f'restoring the parameters of {pretrain}/checkpoint_160' in outputs[2]
  first, second = outputs[3].split('[2/2]')
  assert 'complete (checkpoint_160); skipped' in first
  assert 'resuming from checkpoint_80' in second
  assert checkpoint.steps(pretrain) == [0, 80, 160]
  assert checkpoint.steps(finetune) == [0, 80, 160]
  assert not [n for n in os.listdir(finetune) if 'orbax-checkpoint-tmp' in n]


def test_finetune_restored_pretraining_parameters_once(killed_twice):
  workdir, pretrain, finetune, _, second_kill = killed_twice
  initial = checkpoint.read(checkpoint.path(pretrain, 160))
  start_state = checkpoint.read(checkpoint.path(finetune, 0))
  for (key, a), (_, b) in zip(jax.tree_util.tree_leaves_with_path(initial['target']),
                              jax.tree_util.tree_leaves_with_path(start_state['target'])):
    assert np.array_equal(a, b), key
  assert int(start_state['state']['step']) == 0
  assert all(not np.any(x) for x in jax.tree_util.tree_leaves(
      start_state['state']['param_states']))
  # checkpoint_0 dates from the second attempt; the third restored its own.
  assert os.path.getmtime(checkpoint.path(finetune, 0)) < second_kill
  logs = sorted(f for f in os.listdir(os.path.join(workdir, 'logs'))
                if f.startswith('ptjf.'))
  assert len(logs) == 2
  with open(os.path.join(workdir, 'logs', logs[-1])) as f:
    resumed = f.read()
  assert f'@ {finetune}/checkpoint_80' in resumed
  assert f'@ {pretrain}/checkpoint_160' not in resumed


def train_loss_steps_per_event_file(run_dir):
  """The steps with a logged train loss, per attempt (one event file each)."""
  out = []
  for path in sorted(tf.io.gfile.glob(os.path.join(run_dir, 'train', 'events.*'))):
    events = map(tf.compat.v1.Event.FromString,
                 (r.numpy() for r in tf.data.TFRecordDataset(path)))
    out.append(sorted(e.step for e in events
                      if any(v.tag == 'loss' for v in e.summary.value)))
  return out


def test_resumed_finetune_kept_its_step_and_optimizer_state(killed_twice):
  _, _, finetune, _, _ = killed_twice
  before, after = (checkpoint.read(checkpoint.path(finetune, s)) for s in (80, 160))
  assert int(before['state']['step']) == 80 and int(after['state']['step']) == 160
  attempts = train_loss_steps_per_event_file(finetune)
  # The resumed t5x.train went on from the step it restored, not from 0.
  assert len(attempts) == 2 and max(attempts[0]) <= 80
  assert attempts[1] == [100, 120, 140, 160]
  # Adafactor's v decays by 1 - t^-0.8 at update t; a reset would start it over.
  decay = np.prod([1 - t ** -0.8 for t in range(81, 161)])
  v80 = jax.tree_util.tree_leaves(before['state']['param_states'])
  v160 = jax.tree_util.tree_leaves(after['state']['param_states'])
  kept = [np.all(b >= decay * a * (1 - 1e-6)) for a, b in zip(v80, v160)
          if a.shape != (1,) and np.all(a >= 0)]
  assert kept and all(kept)


@pytest.mark.parametrize('kwargs, message', [
    (dict(name='ptjf_mc4_xxxl'), "unknown experiment 'ptjf_mc4_xxxl': did you mean ptjf_mc4_xxl"),
    (dict(name='ptjf_synth_ro_fr_tiny'), 'leaves HIGH_RESOURCE_RATE unbound'),
    (dict(gin=['LEARNING_RATES = 1e-3']), 'binds LEARNING_RATES, which'),
    (dict(gin=["MODEL_DIR = '/elsewhere'"]), 'MODEL_DIR is set by ptjf run'),
    (dict(gin=['TRAIN_STEPS = -3']), 'TRAIN_STEPS is -3; it must be a positive integer'),
    (dict(finetune_gin=['network.T5Config.emb_dim = 32']), 'build different models'),
    (dict(finetune_gin=['network.T5Config.emb_dimx = 32']), "doesn't have a parameter named 'emb_dimx'"),
    (dict(name='static_synth_mc4_tiny', pretrain_gin=['TRAIN_STEPS = 3']), 'has one phase'),
    (dict(phase='first', finetune_gin=['WARMUP_STEPS = 3']), 'the fine-tune does not run'),
])
def test_bad_arguments_are_refused_before_training(tmp_path, kwargs, message):
  args = {'name': EXPERIMENT, 'workdir': str(tmp_path / 'w'), **kwargs}
  with pytest.raises(preflight.PreflightError, match=message.replace('(', r'\(')):
    preflight.prepare(args.pop('name'), args.pop('workdir'), **args)
  assert not os.path.exists(tmp_path / 'w')


def test_refuses_pretrain_dir_without_its_final_checkpoint(tmp_path):
  partial = tmp_path / 'pretrain'
  (partial / 'checkpoint_80').mkdir(parents=True)
  with pytest.raises(preflight.PreflightError,
                     match=r'checkpoint_160 is missing or incomplete \(checkpoints there: \[80\]\)'):
    preflight.prepare(EXPERIMENT, str(tmp_path / 'w'), pretrain_dir=str(partial))


def test_refuses_a_finetune_directory_inside_the_pretraining(killed_twice, tmp_path):
  _, pretrain, _, _, _ = killed_twice
  with pytest.raises(preflight.PreflightError, match='overlap'):
    preflight.prepare(EXPERIMENT, os.path.join(pretrain, 'sub'), pretrain_dir=pretrain)


def test_refuses_a_pretraining_of_another_model(killed_twice, tmp_path):
  _, pretrain, _, _, _ = killed_twice  # a tiny mT5, not the tiny NMT model
  with pytest.raises(preflight.PreflightError, match='is of a different model than '
                     'ptjf_synth_ro_fr_tiny.gin'):
    preflight.prepare('ptjf_synth_ro_fr_tiny', str(tmp_path / 'w'), pretrain_dir=pretrain,
                pretrain_gin=['TRAIN_STEPS = 160'],
                finetune_gin=['HIGH_RESOURCE_RATE = 0.5'])


def test_refuses_a_directory_with_checkpoints_past_the_run(killed_twice, tmp_path):
  _, pretrain, _, _, _ = killed_twice
  with pytest.raises(preflight.PreflightError, match='holds checkpoint_160, past'):
    preflight.prepare('pretrain_synth_mc4_tiny', os.path.dirname(pretrain),
                gin=['TRAIN_STEPS = 100'])


def test_cli_reports_one_line_without_traceback(tmp_path):
  result = subprocess.run([*COMMAND, f'--workdir={tmp_path}/w',
                           '--gin.LEARNING_RATES=1e-3'], cwd=recipe.REPO,
                          env=recipe.cpu_env(), capture_output=True, text=True)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      'error: --gin binds LEARNING_RATES, which')
  assert 'Traceback' not in result.stderr and not os.path.exists(tmp_path / 'w')
