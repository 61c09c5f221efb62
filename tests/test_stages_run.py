"""A chain of three stages through `ptjf run`, PTJF with a cooldown
fine-tune: pretrain, then ptjfhot (the parameters restored, tau 5), then
ptjfcool (the whole state kept, tau 3.33). Its middle stage is SIGKILLed once
it has a checkpoint, and the same command run again. Needs T5X; about four
minutes."""

import os
import signal
import subprocess

import jax
import numpy as np
import pytest

from ptjf import checkpoint

pytestmark = pytest.mark.needs_t5x

EXPERIMENT = 'ptjfcool_synth_mc4_tiny'
SHORT = ['--pretrain_gin=TRAIN_STEPS = 10',
         '--stage_gin=ptjfhot:TRAIN_STEPS = 20',
         '--stage_gin=ptjfhot:WARMUP_STEPS = 5',
         '--stage_gin=ptjfcool:TRAIN_STEPS = 30',
         '--gin=utils.SaveCheckpointConfig.period = 10']


def leaves(tree):
  return {jax.tree_util.keystr(k): v
          for k, v in jax.tree_util.tree_leaves_with_path(tree)}


@pytest.fixture(scope='module')
def chain_run(tmp_path_factory, ptjf):
  """The chain killed in ptjfhot once its checkpoint_10 is whole, then run
  again to its end: the workdir and both outputs."""
  workdir = str(tmp_path_factory.mktemp('stages'))
  middle = os.path.join(workdir, 'ptjfhot')
  first = ptjf.start('run', EXPERIMENT, f'--workdir={workdir}', *SHORT,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True, start_new_session=True)
  lines = []
  for line in first.stdout:
    lines.append(line)
    if '[3/3]' in line or checkpoint.complete(checkpoint.path(middle, 10)):
      break
  os.killpg(first.pid, signal.SIGKILL)
  first.wait()
  killed = ''.join(lines)
  assert '[2/3] ptjfhot' in killed and '[3/3]' not in killed, killed[-3000:]
  again = ptjf.start('run', EXPERIMENT, f'--workdir={workdir}', *SHORT,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)
  output = again.communicate()[0]
  assert again.returncode == 0, output[-3000:]
  return workdir, killed, output


def test_a_killed_middle_stage_resumes_there(chain_run):
  workdir, _, output = chain_run
  first, middle, last = output.split('\n[')
  assert 'complete (checkpoint_10); skipped' in first
  assert middle.startswith('2/3] ptjfhot: recipes/ptjfhot_synth_mc4_tiny.gin')
  assert '20 steps, resuming from checkpoint_10' in middle
  assert (f'steps 20 to 30, restoring the whole state of '
          f'{workdir}/ptjfhot/checkpoint_20') in last
  assert checkpoint.steps(os.path.join(workdir, 'ptjfhot')) == [0, 10, 20]
  assert checkpoint.steps(os.path.join(workdir, 'ptjfcool')) == [20, 30]


def test_the_parameters_stage_restarts_its_optimizer_and_step(chain_run):
  workdir, _, _ = chain_run
  pretrained = checkpoint.read(os.path.join(workdir, 'pretrain', 'checkpoint_10'))
  start = checkpoint.read(os.path.join(workdir, 'ptjfhot', 'checkpoint_0'))
  assert int(start['state']['step']) == 0
  for name, value in leaves(pretrained['target']).items():
    np.testing.assert_array_equal(leaves(start['target'])[name], value)
  assert not any(np.any(v) for v in leaves(start['state']['param_states']).values())


def test_the_state_stage_starts_with_the_previous_state(chain_run):
  """ptjfcool's first checkpoint is ptjfhot's last, optimizer slots and step
  included, and it trains on from there."""
  workdir, _, _ = chain_run
  ended = leaves(checkpoint.read(os.path.join(workdir, 'ptjfhot', 'checkpoint_20')))
  began = leaves(checkpoint.read(os.path.join(workdir, 'ptjfcool', 'checkpoint_20')))
  assert began.keys() == ended.keys()
  assert any(np.any(v) for name, v in ended.items() if 'param_states' in name)
  for name, value in ended.items():
    np.testing.assert_array_equal(began[name], value, err_msg=name)
  assert int(began["['state']['step']"]) == 20
  final = checkpoint.read(os.path.join(workdir, 'ptjfcool', 'checkpoint_30'))
  assert int(final['state']['step']) == 30
  assert any(not np.array_equal(v, ended["['target']" + name])
             for name, v in leaves(final['target']).items())
