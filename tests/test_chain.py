"""The tiny chain through `python -m t5x.train`, checked by opening checkpoints.

Runs the tiny mT5 chain (pre-training, a joint fine-tune stopped after its
step-10 checkpoint and restarted, a static run and a restart from it) and the
tiny NMT chain with Adam: seven T5X runs, about five minutes on two CPU cores.
"""

import collections
import os
import subprocess

import jax
import numpy as np
import pytest
import seqio

from ptjf import checkpoint
from ptjf import recipe
from ptjf import summaries
from tasks import synthetic

pytestmark = pytest.mark.needs_t5x

# Short runs that evaluate and checkpoint every 10 steps; warm-up stays 40.
CADENCE = ('TRAIN_STEPS = 20', 'train.eval_period = 10',
           'train.eval_steps = 1',
           'utils.SaveCheckpointConfig.period = 10')
WARMUP_STEPS = 40
LANGUAGES = ('en', 'hi', 'sw', 'gu', 'gd')
LEXICONS = {lang: set(synthetic.lexicon(lang)) for lang in LANGUAGES}


def train(name, model_dir, *bindings):
  """Runs one tiny recipe to completion; returns its log."""
  gin_file = os.path.join(recipe.RECIPES_DIR, name + '.gin')
  result = subprocess.run(
      recipe.t5x_command('train', [gin_file], [
          recipe.string_binding('MODEL_DIR', model_dir), *CADENCE, *bindings]),
      cwd=recipe.REPO, env=recipe.cpu_env(), capture_output=True, text=True,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stderr


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('chain')
  dirs = {arm: str(root / arm) for arm in ('pretrain', 'ptjf', 'static', 'restart')}
  logs = {'pretrain': train('pretrain_synth_mc4_tiny', dirs['pretrain'])}
  initial = f"INITIAL_CHECKPOINT_PATH = '{checkpoint.final(dirs['pretrain'])}'"
  # Stopped after its step-10 checkpoint, then restarted for one more step.
  logs['ptjf'] = train('ptjf_synth_mc4_tiny', dirs['ptjf'], initial,
                       'TRAIN_STEPS = 10')
  logs['ptjf_resumed'] = train('ptjf_synth_mc4_tiny', dirs['ptjf'], initial,
                               'TRAIN_STEPS = 11')
  logs['static'] = train('static_synth_mc4_tiny', dirs['static'])
  logs['restart'] = train(
      'restart_synth_mc4_tiny', dirs['restart'], 'TRAIN_STEPS = 10',
      f"INITIAL_CHECKPOINT_PATH = '{checkpoint.path(dirs['static'], 20)}'")
  return dirs, logs


def state(model_dir, step):
  return checkpoint.read(checkpoint.path(model_dir, step))


def leaves(tree):
  return jax.tree_util.tree_leaves_with_path(tree)


def assert_same_parameters(a, b):
  a_leaves, b_leaves = leaves(a['target']), leaves(b['target'])
  assert [p for p, _ in a_leaves] == [p for p, _ in b_leaves]
  for (key, x), (_, y) in zip(a_leaves, b_leaves):
    assert x.dtype == y.dtype and np.array_equal(x, y), key


def assert_reset(restored):
  assert int(restored['state']['step']) == 0
  slots = leaves(restored['state']['param_states'])
  assert slots and all(not np.any(x) for _, x in slots)


def slot(tree, name):
  """{parameter path: array} of one Adafactor slot ('v' or 'm')."""
  return {path[:-1]: x for path, x in leaves(tree['state']['param_states'])
          if path[-1].key == name}


def test_pretraining_trained_and_kept_optimizer_state(runs):
  dirs, _ = runs
  assert checkpoint.steps(dirs['pretrain']) == [0, 10, 20]
  final = state(dirs['pretrain'], 20)
  assert int(final['state']['step']) == 20
  # Unfactored Adafactor with momentum: v and m shaped like each parameter,
  # v_row and v_col one-element placeholders.
  parameters = {path: x.shape for path, x in leaves(final['target'])}
  for name in ('v', 'm'):
    assert {k: x.shape for k, x in slot(final, name).items()} == parameters
    assert all(np.any(x) for x in slot(final, name).values())
  for name in ('v_row', 'v_col'):
    assert {x.shape for x in slot(final, name).values()} == {(1,)}


def test_finetune_starts_from_the_pretrained_parameters_exactly(runs):
  dirs, _ = runs
  assert_same_parameters(state(dirs['ptjf'], 0), state(dirs['pretrain'], 20))


def test_finetune_reinitialises_every_optimizer_slot_and_the_step(runs):
  dirs, _ = runs
  assert_reset(state(dirs['ptjf'], 0))


def test_finetune_learning_rate_starts_in_warm_up(runs):
  dirs, _ = runs
  logged = summaries.scalars(dirs['ptjf'])['learning_rate/current']
  peak = WARMUP_STEPS ** -0.5
  # T5X logs the rate of the epoch's last step, step 9 of a 0-based count.
  assert logged[10] == pytest.approx(9 / WARMUP_STEPS * peak, rel=1e-5)
  assert logged[10] < peak / 4


def language_of(text):
  """The synthetic language most of a text's words belong to."""
  words = text.split()
  votes = {lang: sum(w in lexicon for w in words)
           for lang, lexicon in LEXICONS.items()}
  return max(votes, key=votes.get)


def test_finetune_trains_on_every_task_of_the_mixture(runs):
  dirs, _ = runs
  with open(os.path.join(dirs['ptjf'], 'config.gin')) as f:
    config = f.read()
  assert "MIXTURE_OR_TASK_NAME = 'ptjf_synth.tau3.33'" in config
  assert "TASK_FEATURE_LENGTHS = {'inputs': 128, 'targets': 32}" in config
  for lang in LANGUAGES:
    assert f'ptjf_synth.{lang}' in summaries.eval_tasks(dirs['ptjf'])
  # The run's training stream, as seqio builds it for T5X: every language,
  # each near its tau = 3.33 rate.
  mixture = seqio.get_mixture_or_task('ptjf_synth.tau3.33')
  dataset = mixture.get_dataset({'inputs': 128, 'targets': 32}, split='train',
                                shuffle=True, seed=0)
  vocabulary = mixture.tasks[0].output_features['inputs'].vocabulary
  n = 400
  counts = collections.Counter(
      language_of(vocabulary.decode(ex['inputs'].tolist()))
      for ex in dataset.take(n).as_numpy_iterator())
  for task in mixture.tasks:
    rate, seen = mixture.get_rate(task), counts[task.name.split('.')[1]]
    assert seen > 0, task.name
    assert abs(seen - n * rate) <= 4 * (n * rate * (1 - rate)) ** 0.5 + 1, (
        task.name, seen, n * rate)


def test_restarted_finetune_resumes_its_own_state(runs):
  dirs, logs = runs
  assert checkpoint.steps(dirs['ptjf']) == [0, 10, 11]
  assert 'Saving checkpoint before the training loop starts' not in (
      logs['ptjf_resumed'])
  before, after = state(dirs['ptjf'], 10), state(dirs['ptjf'], 11)
  assert int(after['state']['step']) == 11
  # Adafactor at step 10 keeps (1 - 11^-0.8) of v and adds the new g^2 >= 0;
  # a second reset (step 0) would have replaced v by g^2 outright.
  keep = 1.0 - 11.0 ** -0.8
  v_before, v_after = slot(before, 'v'), slot(after, 'v')
  for key, v in v_before.items():
    assert np.all(v_after[key] >= keep * v * (1 - 1e-5)), key
  # ... and the parameters moved on from step 10, not from the pre-training.
  assert not all(np.array_equal(x, y) for (_, x), (_, y) in zip(
      leaves(after['target']), leaves(before['target'])))


def test_restart_baseline_resets_from_the_static_checkpoint(runs):
  dirs, _ = runs
  restarted = state(dirs['restart'], 0)
  assert_same_parameters(restarted, state(dirs['static'], 20))
  assert_reset(restarted)


def test_static_baseline_never_resets(runs):
  dirs, _ = runs
  with open(os.path.join(dirs['static'], 'config.gin')) as f:
    config = f.read()
  assert 'utils.RestoreCheckpointConfig.path = []' in config
  assert 'assignment_map' not in config
  first, last = state(dirs['static'], 10), state(dirs['static'], 20)
  assert (int(first['state']['step']), int(last['state']['step'])) == (10, 20)
  keep = np.prod([1.0 - (t + 1.0) ** -0.8 for t in range(10, 20)])
  v_first, v_last = slot(first, 'v'), slot(last, 'v')
  for key, v in v_first.items():
    assert np.all(v_last[key] >= keep * v * (1 - 1e-4)), key


@pytest.fixture(scope='module')
def nmt_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('nmt_chain')
  dirs = {arm: str(root / arm) for arm in ('pretrain', 'ptjf')}
  # optax's cosine needs more steps than warm-up: 10 of 20, then 20 of 30.
  train('pretrain_synth_ro_fr_tiny', dirs['pretrain'], 'WARMUP_STEPS = 10')
  train('ptjf_synth_ro_fr_tiny', dirs['ptjf'], 'TRAIN_STEPS = 30',
        'HIGH_RESOURCE_RATE = 0.5',
        f"INITIAL_CHECKPOINT_PATH = '{checkpoint.final(dirs['pretrain'])}'")
  return dirs


def test_nmt_finetune_resets_adam_and_its_schedule_count(nmt_runs):
  pretrained = state(nmt_runs['pretrain'], 20)
  counts = [x for path, x in leaves(pretrained['state']['param_states'])
            if path[-1].key == 'count']
  assert counts and all(int(c) == 20 for c in counts)  # moments and schedule
  restored = state(nmt_runs['ptjf'], 0)
  assert_same_parameters(restored, pretrained)
  assert_reset(restored)  # moments and optax's counts, so the schedule restarts
  logged = summaries.scalars(nmt_runs['ptjf'])['learning_rate/current']
  assert logged[10] == pytest.approx(9 / 20 * 5e-3, rel=1e-5)  # warm-up of 20
  assert summaries.eval_tasks(nmt_runs['ptjf']) == [
      'ptjf_synth.en_fr', 'ptjf_synth.en_ro', 'ptjf_synth.ro_fr.high0.5']
