"""The same recipe and seeds give the same batches and the same first step on
CPU; another DATA_SEED gives others. Needs T5X; about three minutes.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from ptjf import checkpoint
from ptjf import experiment
from ptjf import recipe
from ptjf import summaries

pytestmark = pytest.mark.needs_t5x

RECIPE = 'static_synth_mc4_tiny'  # the five-language mixture, sampled
# The first batches T5X's train() would read, built in a fresh process from
# the recipe's own DatasetConfig and the model's feature converter.
FIRST_BATCHES = '''
import json, sys
from t5x import utils
from ptjf import recipe
recipe.parse(sys.argv[1], ['MODEL_DIR = "/unused"', *sys.argv[2:]])
cfg = recipe.value('train_script.train.train_dataset_cfg')
converter = recipe.value('MODEL').FEATURE_CONVERTER_CLS
dataset = utils.get_dataset(cfg, 0, 1, converter)
batches = [{k: v.tolist() for k, v in b.items()}
           for b, _ in zip(dataset.as_numpy_iterator(), range(3))]
print(json.dumps(batches))
'''


def first_batches(*bindings):
  result = subprocess.run(
      [sys.executable, '-c', FIRST_BATCHES, experiment.recipe_path(RECIPE),
       *bindings],
      cwd=recipe.REPO, env=recipe.cpu_env(), capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_same_data_seed_gives_the_same_first_batches():
  a, b = first_batches('DATA_SEED = 7'), first_batches('DATA_SEED = 7')
  assert len(a) == 3 and a == b
  assert first_batches('DATA_SEED = 8') != a


def first_step(ptjf, workdir, *bindings):
  """Trains one step with `ptjf run`; the loss and the parameters after it."""
  result = ptjf('run', RECIPE, f'--workdir={workdir}', '--gin=TRAIN_STEPS = 1',
                *(f'--gin={b}' for b in bindings))
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  run_dir = os.path.join(workdir, 'static')
  loss = summaries.scalars(run_dir)['loss'][1]
  return loss, checkpoint.read(checkpoint.path(run_dir, 1))['target']


def test_the_same_seeds_give_the_same_first_step(tmp_path, ptjf):
  # gin/runs/tiny.gin: both seeds 0
  loss, params = first_step(ptjf, tmp_path / 'a')
  again, params_again = first_step(ptjf, tmp_path / 'b')
  assert loss == again
  for x, y in zip(jax.tree_util.tree_leaves(params),
                  jax.tree_util.tree_leaves(params_again)):
    assert np.array_equal(x, y)
  other, _ = first_step(ptjf, tmp_path / 'c', 'DATA_SEED = 1')
  assert other != loss
