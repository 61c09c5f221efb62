"""BLEU as WMT reports it, its signature in the summaries, the WMT splits."""

import glob
import json
import os

import pytest
import sacrebleu
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from mixtures import sizes
from tasks import synthetic
from tasks import wmt

# Predictions change or drop a word (a character in Chinese) of some targets.
EN_TARGETS = ['the cat sat on the mat .', 'a dog barked loudly at night .',
              'we will meet again tomorrow morning .']
EN_PREDICTIONS = ['the cat sat on a mat .', 'a dog barked at night .',
                  'we will meet again tomorrow morning .']
ZH_TARGETS = ['我们明天早上去北京看长城。', '这本书非常有意思，我已经读了两遍。',
              '他每天骑自行车上班。']
ZH_PREDICTIONS = ['我们明天早上去北京看长城。', '这本书非常有意思，我已经读了三遍。',
                  '他每天骑自行车上班。']
# Every registered translation task and the tokenizer of its target language.
TOKENIZERS = {
    'ptjf_wmt.en_fr': '13a',
    'ptjf_wmt.en_zh': 'zh',
    'ptjf_wmt.en_ro': '13a',
    'ptjf_wmt.en_hi': '13a',
    'ptjf_synth.en_fr': '13a',
    'ptjf_synth.en_ro': '13a',
}


def _signature(tokenize):
  # sacrebleu's format for one reference, mixed case, default smoothing.
  return (f'nrefs:1|case:mixed|eff:no|tok:{tokenize}|smooth:exp|'
          f'version:{sacrebleu.__version__}')


@pytest.mark.parametrize('tokenize,targets,predictions', [
    ('13a', EN_TARGETS, EN_PREDICTIONS),
    ('zh', ZH_TARGETS, ZH_PREDICTIONS),
])
def test_bleu_is_sacrebleu_corpus_bleu_with_its_signature(
    tokenize, targets, predictions):
  result = wmt.bleu(targets, predictions, tokenize=tokenize)
  direct = sacrebleu.corpus_bleu(predictions, [targets], tokenize=tokenize)
  assert 0 < direct.score < 100  # each corpus has a change to score
  assert result['bleu'] == pytest.approx(direct.score)
  assert isinstance(result['bleu_signature'], seqio.metrics.Text)
  assert result['bleu_signature'].textdata == _signature(tokenize)
  assert set(result) == {'bleu', 'bleu_signature'}


def test_chinese_needs_the_zh_tokenizer():
  zh, other = wmt.bleu_for('zh'), wmt.bleu_for('fr')
  assert zh(ZH_TARGETS, ZH_PREDICTIONS)['bleu'] > 85
  assert zh(ZH_TARGETS, ZH_TARGETS)['bleu'] == pytest.approx(100)
  # 13a reads each sentence as one word, so no sentence has a bigram: even
  # a translation equal to its reference scores 0.
  assert other(ZH_TARGETS, ZH_PREDICTIONS)['bleu'] < 1
  assert other(ZH_TARGETS, ZH_TARGETS)['bleu'] < 1


def test_each_translation_task_scores_with_its_targets_tokenizer():
  registered = {n for n in seqio.TaskRegistry.names()
                if n.startswith((wmt.PREFIX + '.', synthetic.PREFIX + '.en_'))}
  assert registered == set(TOKENIZERS)
  for name, tokenize in TOKENIZERS.items():
    metric_fns = seqio.get_mixture_or_task(name).metric_fns
    assert len(metric_fns) == 1
    signature = metric_fns[0](ZH_TARGETS, ZH_TARGETS)['bleu_signature']
    assert signature.textdata == _signature(tokenize), name


def test_a_new_chinese_pair_gets_the_zh_tokenizer():
  source = seqio.FunctionDataSource(
      lambda split, shuffle_files: tf.data.Dataset.from_tensors(
          {'en': 'Hello.', 'zh': '你好。'}), splits=('validation',))
  name = 'ptjf_test_only.en_zh'
  try:
    task = wmt.register_task(name, source, 'en', 'zh', 'Chinese',
                             seqio.PassThroughVocabulary(256))
    result = task.metric_fns[0](ZH_TARGETS, ZH_PREDICTIONS)
    assert result['bleu_signature'].textdata == _signature('zh')
  finally:
    seqio.TaskRegistry.remove(name)


# TensorBoard's summary writer comes with T5X (the t5x extra), as do its loggers.
@pytest.mark.needs_t5x
def test_summaries_hold_the_score_and_its_signature(tmp_path):
  result = wmt.bleu_for('zh')(ZH_TARGETS, ZH_PREDICTIONS)
  # As seqio's Evaluator hands metric values to T5X's loggers.
  metrics = {k: v if isinstance(v, seqio.metrics.MetricValue)
                else seqio.metrics.Scalar(v) for k, v in result.items()}
  for logger in (seqio.TensorBoardLogger(str(tmp_path)),
                 seqio.JSONLogger(str(tmp_path))):
    logger(task_name='ptjf_wmt.en_zh', step=100, metrics=metrics,
           dataset=None, inferences=None, targets=None)

  written = {}
  for path in glob.glob(os.path.join(tmp_path, 'ptjf_wmt.en_zh', 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        written[value.tag] = (value.metadata.plugin_data.plugin_name,
                              tf.make_ndarray(value.tensor).item())
  assert written['eval/bleu'][0] == 'scalars'
  assert written['eval/bleu'][1] == pytest.approx(result['bleu'])
  assert written['eval/bleu_signature'] == ('text', _signature('zh').encode())
  with open(os.path.join(tmp_path, 'ptjf_wmt.en_zh-metrics.jsonl')) as f:
    line = json.loads(f.readline())
  assert line['bleu_signature'] == _signature('zh')
  assert line['bleu'] == pytest.approx(result['bleu'])


@pytest.mark.parametrize('pair', sorted(wmt.PAIRS))
def test_wmt_task_splits_are_the_splits_tfds_builds(no_network, tmp_path, pair):
  del no_network
  tfds_name = wmt.PAIRS[pair][0]
  builder = tfds.builder(tfds_name, data_dir=str(tmp_path))
  # The builder makes one split per entry of `subsets` with sub-datasets.
  built = {str(split) for split, names in builder.subsets.items() if names}
  task = seqio.get_mixture_or_task(wmt.task_name(pair))
  assert set(task.source.splits) == built
  assert task.source.tfds_dataset.name == tfds_name
  assert ('test' in built) == (pair != 'en_zh')  # wmt19_translate has none


def test_papers_eval_sets_are_tfds_validation_splits():
  # Table 1 of the paper: its evaluation examples per pair.
  paper = {'en_fr': 4_503, 'en_zh': 3_981, 'en_ro': 1_999, 'en_hi': 520}
  assert sizes.WMT_VALIDATION_EXAMPLES == paper
  assert set(paper) == set(wmt.PAIRS)
