"""`ptjf run` on the tiny experiment, SIGKILLed three times in each phase and
re-run, and the refusals that need its real checkpoints (tests/test_bad_input.py
has the others). Needs T5X; the kill test takes about seven minutes.
"""

import os
import random
import re
import signal
import subprocess
import threading
import time

import jax
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import t5x_log
from ptjf import checkpoint
from ptjf import recipe
from ptjf import preflight

pytestmark = pytest.mark.needs_t5x

EXPERIMENT = 'ptjf_synth_mc4_tiny'  # 160 + 160 steps, checkpoints every 80
SEED = int(os.environ.get('PTJF_KILL_SEED', '0'))  # the kill points' seed
# Where each attempt is killed: while t5x.train starts (imports, restore,
# compile), while it trains, and while Orbax writes a checkpoint.
SCHEDULE = [(arm, when) for arm in ('pretrain', 'ptjf')
            for when in ('starting', 'training', 'saving')]
_TMP = re.compile(r'checkpoint_\d+\.(?:orbax-checkpoint-tmp|tmp-)')


def start(ptjf, workdir):
  return ptjf.start('run', EXPERIMENT, f'--workdir={workdir}',
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                    start_new_session=True)


def temporary_checkpoints(model_dir):
  return sorted(n for n in os.listdir(model_dir) if _TMP.match(n)) if (
      os.path.isdir(model_dir)) else []


def kill_at(process, model_dir, arm, when, rng, timeout_s=600):
  """SIGKILLs the whole `ptjf run` (and its t5x.train) at a random point of
  `when` in phase `arm`; returns its output and what was on disk then."""
  lines, phase_started, training = [], threading.Event(), threading.Event()

  def read():
    for line in process.stdout:
      lines.append(line)
      if f'/logs/{arm}.' in line:
        phase_started.set()
      elif phase_started.is_set() and line.startswith('    step '):
        training.set()

  reader = threading.Thread(target=read, daemon=True)
  reader.start()
  deadline = time.time() + timeout_s
  event = training if when == 'training' else phase_started
  while not event.wait(0.05):
    assert process.poll() is None, ''.join(lines)[-3000:]
    assert time.time() < deadline, f'{arm} never got to {when}'
  if when == 'saving':
    while not temporary_checkpoints(model_dir):
      assert process.poll() is None, ''.join(lines)[-3000:]
      time.sleep(0.01)
  else:
    time.sleep(rng.uniform(0, 8 if when == 'starting' else 2))
  os.killpg(process.pid, signal.SIGKILL)
  process.wait()
  reader.join()
  return ''.join(lines), dict(
      steps=checkpoint.steps(model_dir),
      complete=checkpoint.complete_steps(model_dir),
      temporary=temporary_checkpoints(model_dir), time=time.time())


@pytest.fixture(scope='module')
def preempted(tmp_path_factory, ptjf):
  workdir = str(tmp_path_factory.mktemp('run'))
  dirs = {arm: os.path.join(workdir, arm) for arm in ('pretrain', 'ptjf')}
  rng, outputs, kills = random.Random(SEED), [], []
  for arm, when in SCHEDULE:
    output, on_disk = kill_at(start(ptjf, workdir), dirs[arm], arm, when, rng)
    outputs.append(output)
    kills.append(dict(arm=arm, when=when, **on_disk))
  last = start(ptjf, workdir)
  outputs.append(last.communicate()[0])
  assert last.returncode == 0, outputs[-1][-3000:]
  return workdir, dirs['pretrain'], dirs['ptjf'], outputs, kills


def test_every_kill_left_checkpoints_a_restart_can_use(preempted):
  *_, kills = preempted
  for kill in kills:
    # Orbax writes under a temporary name and renames when done: a checkpoint
    # under its final name is always complete.
    assert kill['steps'] == kill['complete'], kill
  assert all(k['temporary'] for k in kills if k['when'] == 'saving'), kills


def test_the_run_completes_after_each_kill(preempted):
  workdir, pretrain, finetune, outputs, _ = preempted
  first, second = outputs[-1].split('[2/2]')
  assert 'complete (checkpoint_160); skipped' in first
  assert 'resuming from checkpoint_' in second
  assert checkpoint.steps(pretrain) == [0, 80, 160]
  assert checkpoint.steps(finetune) == [0, 80, 160]
  for run_dir in (pretrain, finetune):
    assert not temporary_checkpoints(run_dir)  # T5X cleared them on restart
    final = checkpoint.read(checkpoint.path(run_dir, 160))
    assert int(final['state']['step']) == 160
    assert all(np.all(np.isfinite(x))
               for x in jax.tree_util.tree_leaves(final['target']))


def finetune_logs(workdir):
  logs = os.path.join(workdir, 'logs')
  for name in sorted(f for f in os.listdir(logs) if f.startswith('ptjf.')):
    with open(os.path.join(logs, name)) as f:
      yield f.read()


def test_finetune_restored_pretraining_parameters_once(preempted):
  workdir, pretrain, finetune, _, kills = preempted
  initial = checkpoint.read(checkpoint.path(pretrain, 160))
  start_state = checkpoint.read(checkpoint.path(finetune, 0))
  for (key, a), (_, b) in zip(jax.tree_util.tree_leaves_with_path(initial['target']),
                              jax.tree_util.tree_leaves_with_path(start_state['target'])):
    assert np.array_equal(a, b), key
  assert int(start_state['state']['step']) == 0
  assert all(not np.any(x) for x in jax.tree_util.tree_leaves(
      start_state['state']['param_states']))
  # Only attempts that found no checkpoint of the fine-tune's own restored
  # the pre-training; checkpoint_0 was written by the first to get that far.
  # (Attempts killed before T5X restored anything are left out.)
  restored = [(f'load @ {pretrain}/checkpoint_160' in log,
               f'load @ {finetune}/checkpoint_' in log)
              for log in finetune_logs(workdir)]
  from_pretraining = [pre for pre, own in restored if pre or own]
  assert not any(pre and own for pre, own in restored)
  assert from_pretraining[0] and not from_pretraining[-1]
  assert from_pretraining == sorted(from_pretraining, reverse=True)
  first_own = next(k for k in kills if k['arm'] == 'ptjf' and k['complete'])
  assert os.path.getmtime(checkpoint.path(finetune, 0)) < first_own['time']


def test_last_attempt_logs_break_down_into_every_part(preempted):
  logs = os.path.join(preempted[0], 'logs')
  for arm in ('pretrain', 'ptjf'):
    last = sorted(f for f in os.listdir(logs) if f.startswith(f'{arm}.'))[-1]
    attempt = t5x_log.Attempt(os.path.join(logs, last))
    parts = attempt.breakdown()
    assert all(seconds >= 0 for seconds in parts.values()), parts
    assert parts['imports'] > 0 and parts['compile'] > 0 and parts['steps'] > 0
    assert sum(parts.values()) == pytest.approx(attempt.ended - attempt.launched)


def train_loss_steps_per_event_file(run_dir):
  """The steps with a logged train loss, per attempt (one event file each)."""
  out = []
  for path in sorted(tf.io.gfile.glob(os.path.join(run_dir, 'train', 'events.*'))):
    events = map(tf.compat.v1.Event.FromString,
                 (r.numpy() for r in tf.data.TFRecordDataset(path)))
    out.append(sorted(e.step for e in events
                      if any(v.tag == 'loss' for v in e.summary.value)))
  return out


def test_resumed_finetune_kept_its_step_and_optimizer_state(preempted):
  _, _, finetune, _, _ = preempted
  before, after = (checkpoint.read(checkpoint.path(finetune, s)) for s in (80, 160))
  assert int(before['state']['step']) == 80 and int(after['state']['step']) == 160
  # Each attempt's t5x.train went on from the step it restored, not from 0.
  attempts = [a for a in train_loss_steps_per_event_file(finetune) if a]
  assert attempts and all(a == sorted(a) for a in attempts)
  assert attempts[-1][-1] == 160 and attempts[-1][0] in (20, 100)
  # Adafactor's v decays by 1 - t^-0.8 at update t; a reset would start it over.
  decay = np.prod([1 - t ** -0.8 for t in range(81, 161)])
  v80 = jax.tree_util.tree_leaves(before['state']['param_states'])
  v160 = jax.tree_util.tree_leaves(after['state']['param_states'])
  kept = [np.all(b >= decay * a * (1 - 1e-6)) for a, b in zip(v80, v160)
          if a.shape != (1,) and np.all(a >= 0)]
  assert kept and all(kept)


def test_refuses_a_finetune_directory_inside_the_pretraining(preempted, tmp_path):
  _, pretrain, *_ = preempted
  with pytest.raises(recipe.PreflightError, match=re.escape(
      f"lies in {pretrain}, a T5X run's directory (it holds config.gin): give "
      f"the experiment's directory, e.g. {os.path.dirname(pretrain)}.")):
    preflight.prepare(EXPERIMENT, os.path.join(pretrain, 'sub'), pretrain_dir=pretrain)


def test_refuses_a_pretraining_of_another_model(preempted, tmp_path):
  _, pretrain, *_ = preempted  # a tiny mT5, not the tiny NMT model
  with pytest.raises(recipe.PreflightError, match='is of a different model than '
                     'ptjf_synth_ro_fr_tiny.gin'):
    preflight.prepare('ptjf_synth_ro_fr_tiny', str(tmp_path / 'w'), pretrain_dir=pretrain,
                pretrain_gin=['TRAIN_STEPS = 160'],
                finetune_gin=['HIGH_RESOURCE_RATE = 0.5'])


def test_refuses_a_directory_with_checkpoints_past_the_run(preempted, tmp_path):
  _, pretrain, *_ = preempted
  with pytest.raises(recipe.PreflightError, match='holds checkpoint_160, past'):
    preflight.prepare('pretrain_synth_mc4_tiny', os.path.dirname(pretrain),
                gin=['TRAIN_STEPS = 100'])

