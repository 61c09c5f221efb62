"""Decode evaluation with t5x.eval and t5x.infer, as docs/evaluation.md runs them.

A tiny NMT model and a tiny mT5 train for a few steps; gin/runs/eval.gin then
scores them with their model fragments alone: BLEU from 4 beams with
sacrebleu's signature for translation, cross-entropy per token for span
corruption.
"""

import json
import math
import os
import subprocess
import sys

import pytest
import sacrebleu

from ptjf import checkpoint
from ptjf import recipe
from ptjf import summaries
from tasks import span_corruption



def test_cross_entropy_is_negative_log_likelihood_per_target_token():
  # Two targets of 4 and 6 tokens scored -8 and -4 nats: 12 nats / 10 tokens.
  counts = [span_corruption.target_tokens('x', {'targets': [5] * n}, True)
            for n in (4, 6)]
  assert counts == [4, 6]
  assert span_corruption.cross_entropy(counts, [-8.0, -4.0]) == {
      'cross_entropy': 1.2}
  assert span_corruption.target_tokens('a prediction') == 'a prediction'


def _t5x(module, *args):
  result = subprocess.run(
      [sys.executable, '-m', module, '--gin_search_paths=.', *args],
      cwd=recipe.REPO, env=recipe.cpu_env(), capture_output=True, text=True,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stderr


def _train(name, model_dir, *bindings):
  _t5x('t5x.train', f'--gin_file=recipes/{name}.gin',
       f'--gin_bindings={recipe.string_binding("MODEL_DIR", model_dir)}',
       *(f'--gin_bindings={b}' for b in bindings))
  return checkpoint.final(model_dir)


def _metrics(output_dir, task):
  with open(os.path.join(output_dir, 'inference_eval',
                         f'{task}-metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(scope='module')
def nmt(tmp_path_factory):
  """A tiny en_fr model (12 steps) scored on en_ro's validation split."""
  root = tmp_path_factory.mktemp('nmt_eval')
  path = _train('pretrain_synth_ro_fr_tiny', str(root / 'run'),
                'TRAIN_STEPS = 12', 'WARMUP_STEPS = 4')
  output = str(root / 'eval')
  _t5x('t5x.eval', '--gin_file=gin/models/nmt_tiny.gin',
       '--gin_file=gin/runs/eval.gin',
       "--gin.MIXTURE_OR_TASK_NAME='ptjf_synth.en_ro'",
       f"--gin.CHECKPOINT_PATH='{path}'", f"--gin.EVAL_OUTPUT_DIR='{output}'")
  return {'checkpoint': path, 'eval': output}


@pytest.mark.needs_t5x
def test_eval_writes_bleu_with_its_signature(nmt):
  [record] = _metrics(nmt['eval'], 'ptjf_synth.en_ro')
  assert record['step'] == 12
  with open(os.path.join(nmt['eval'], 'inference_eval',
                         'ptjf_synth.en_ro-000012.jsonl')) as f:
    decoded = [json.loads(line) for line in f]
  assert len(decoded) == 200  # the synthetic validation split, every example
  metric = sacrebleu.BLEU(tokenize='13a')
  expected = metric.corpus_score([d['prediction'] for d in decoded],
                                 [[d['target'] for d in decoded]])
  assert record['bleu'] == pytest.approx(expected.score)
  assert record['bleu_signature'] == str(metric.get_signature())
  assert 'tok:13a' in record['bleu_signature']


@pytest.mark.needs_t5x
def test_eval_decodes_with_four_beams_and_no_optimizer(nmt):
  with open(os.path.join(nmt['eval'], 'config.gin')) as f:
    config = f.read()
  assert 'predict_batch_with_aux.num_decodes = 4' in config
  assert 'models.EncoderDecoderModel.optimizer_def = None' in config
  # TensorBoard reads the scores from their event files.
  assert os.listdir(os.path.join(nmt['eval'], 'inference_eval',
                                 'ptjf_synth.en_ro'))


@pytest.mark.needs_t5x
def test_infer_writes_predictions(nmt, tmp_path):
  path = nmt['checkpoint']
  _t5x('t5x.infer', '--gin_file=gin/models/nmt_tiny.gin',
       '--gin_file=gin/runs/infer.gin',
       "--gin.MIXTURE_OR_TASK_NAME='ptjf_synth.en_ro'",
       f"--gin.CHECKPOINT_PATH='{path}'",
       f"--gin.INFER_OUTPUT_DIR='{tmp_path}'")
  with open(tmp_path / 'ptjf_synth.en_ro-predict.jsonl-00000-of-00001') as f:
    lines = [json.loads(line) for line in f]
  assert len(lines) == 200 and all('prediction' in l for l in lines)


@pytest.mark.needs_t5x
def test_eval_scores_span_corruption_per_language(tmp_path):
  path = _train('pretrain_synth_mc4_tiny', str(tmp_path / 'run'),
                'TRAIN_STEPS = 4', 'WARMUP_STEPS = 2')
  _t5x('t5x.eval', '--gin_file=gin/models/mt5_tiny.gin',
       '--gin_file=gin/runs/eval.gin', '--gin_file=gin/data/synth_mc4.gin',
       "--gin.MIXTURE_OR_TASK_NAME='ptjf_synth.tau3.33'",
       f"--gin.CHECKPOINT_PATH='{path}'",
       f"--gin.EVAL_OUTPUT_DIR='{tmp_path / 'eval'}'")
  for lang in ('en', 'hi', 'gu', 'gd', 'sw'):
    [record] = _metrics(str(tmp_path / 'eval'), f'ptjf_synth.{lang}')
    # Four steps from scratch: near a uniform guess over 1,636 pieces.
    assert record['step'] == 4
    assert 0.5 * math.log(1636) < record['cross_entropy'] < 1.5 * math.log(1636)


@pytest.mark.needs_t5x
def test_decode_eval_during_training_writes_bleu_where_plot_reads_it(tmp_path):
  model_dir = str(tmp_path / 'run')
  _t5x('t5x.train', '--gin_file=recipes/pretrain_synth_ro_fr_tiny.gin',
       '--gin_file=gin/runs/decode_eval.gin',
       f'--gin_bindings={recipe.string_binding("MODEL_DIR", model_dir)}',
       '--gin_bindings=TRAIN_STEPS = 10', '--gin_bindings=WARMUP_STEPS = 4',
       '--gin_bindings=DECODE_EVAL_EXAMPLES = 16')
  [record] = _metrics(model_dir, 'ptjf_synth.en_fr')
  assert record['step'] == 10 and 'tok:13a' in record['bleu_signature']
  with open(os.path.join(model_dir, 'inference_eval',
                         'ptjf_synth.en_fr-000010.jsonl')) as f:
    decoded = [json.loads(line) for line in f]
  assert len(decoded) == 16
  metric = sacrebleu.BLEU(tokenize='13a')
  assert record['bleu'] == pytest.approx(metric.corpus_score(
      [d['prediction'] for d in decoded], [[d['target'] for d in decoded]]).score)
  assert summaries.series(model_dir, 'ptjf_synth.en_fr', 'bleu') == {
      10: pytest.approx(record['bleu'])}
