"""ptjf/tokens.py: a task's tokens per step, measured on its own data, and a
run's settings read from the config.gin T5X wrote."""

import os

import gin
import numpy as np
import pytest
import seqio

from ptjf import recipe
from ptjf import tokens

HIGH, LOW = 'ptjf_synth.en_fr', 'ptjf_synth.en_ro'
PAIR = 'ptjf_synth.ro_fr.high0.3'
LENGTHS = {'inputs': 48, 'targets': 32}


def test_share_is_the_tasks_rate_in_its_mixture():
  assert tokens.share(PAIR, LOW) == pytest.approx(0.7)
  assert tokens.share(PAIR, HIGH) == pytest.approx(0.3)
  assert tokens.share(PAIR, 'ptjf_synth.gd') == 0.0
  assert tokens.share(LOW, LOW) == 1.0 and tokens.share(HIGH, LOW) == 0.0
  assert tokens.tokens_per_step(HIGH, LOW, LENGTHS, 16) == 0.0


def test_one_task_uses_the_tokens_its_packed_rows_hold():
  # Alone, a task's tokens per step are a batch of packed rows' non-padding
  # tokens, counted here directly from the rows seqio packs.
  packed = seqio.get_dataset(
      LOW, LENGTHS, dataset_split='train', shuffle=True, seed=0,
      feature_converter=seqio.EncDecFeatureConverter(pack=True))
  rows = list(packed.take(tokens.PACKED_ROWS).as_numpy_iterator())
  per_row = np.mean([(r['encoder_input_tokens'] > 0).sum() +
                     (r['decoder_target_tokens'] > 0).sum() for r in rows])
  measured = tokens.tokens_per_step(LOW, LOW, LENGTHS, 16)
  # Only the shuffled rows' mean length differs from the first examples'.
  assert measured == pytest.approx(16 * per_row, rel=0.02)


def test_a_mixture_scales_by_the_share_and_the_rows():
  key = tuple(sorted(LENGTHS.items()))
  expected = (8 * tokens.examples_per_row(PAIR, key) * 0.7
              * tokens.example_tokens(LOW, key))
  assert tokens.tokens_per_step(PAIR, LOW, LENGTHS, 8) == pytest.approx(expected)
  # Both tasks together fill the rows no more than the rows hold.
  both = sum(tokens.tokens_per_step(PAIR, t, LENGTHS, 1) for t in (HIGH, LOW))
  assert 0.5 * sum(LENGTHS.values()) < both <= sum(LENGTHS.values())


def test_parent_reads_the_restored_checkpoint(tmp_path):
  (tmp_path / 'config.gin').write_text(
      "BATCH_SIZE = 8\nINITIAL_CHECKPOINT_PATH = 'gs://b/w/pretrain/checkpoint_1200'\n")
  assert tokens.parent(str(tmp_path)) == tokens.Restored(
      'gs://b/w/pretrain', 1200, keeps_state=False)
  # A long path, as T5X's config.gin breaks it over two lines.
  (tmp_path / 'config.gin').write_text(
      "BATCH_SIZE = 8\nINITIAL_CHECKPOINT_PATH = \\\n"
      "    '/tmp/ptjf_reproduction/languages/ptjf/pretrain/checkpoint_1500'\nX = 1\n")
  assert tokens.parent(str(tmp_path)) == tokens.Restored(
      '/tmp/ptjf_reproduction/languages/ptjf/pretrain', 1500, keeps_state=False)
  (tmp_path / 'config.gin').write_text('BATCH_SIZE = 8\n')
  assert tokens.parent(str(tmp_path)) is None
  assert tokens.parent(str(tmp_path / 'absent')) is None


def test_a_run_without_config_cannot_be_counted(tmp_path):
  with pytest.raises(ValueError, match='has no config.gin: its tokens seen '
                     'cannot be counted'):
    tokens.run_settings(str(tmp_path))


@pytest.mark.needs_t5x
def test_run_settings_from_the_config_t5x_writes(tmp_path):
  recipe.parse(os.path.join(recipe.RECIPES_DIR, 'static_synth_ro_fr_tiny.gin'),
               [f'MODEL_DIR = "{tmp_path}"', 'HIGH_RESOURCE_RATE = 0.3'])
  (tmp_path / 'config.gin').write_text(gin.config_str())
  tokens.run_settings.cache_clear()
  assert tokens.run_settings(str(tmp_path)) == (
      PAIR, tuple(sorted(LENGTHS.items())), 16)
