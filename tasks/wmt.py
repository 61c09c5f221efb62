"""WMT translation Tasks, English source, scored with sacrebleu's BLEU.

Registered as `ptjf_wmt.en_<lang>`: En->Fr (WMT'15), En->Zh (WMT'19),
En->Ro (WMT'16), En->Hi (WMT'14), the pairs of the paper's Table 1.
"""

import functools

import sacrebleu
import seqio
import tensorflow as tf

from tasks import vocab

PREFIX = 'ptjf_wmt'
# pair code -> (TFDS dataset, target language name)
PAIRS = {
    'en_fr': ('wmt15_translate/fr-en:1.0.0', 'French'),
    'en_zh': ('wmt19_translate/zh-en:1.0.0', 'Chinese'),
    'en_ro': ('wmt16_translate/ro-en:1.0.0', 'Romanian'),
    'en_hi': ('wmt14_translate/hi-en:1.0.0', 'Hindi'),
}
# The splits each pair's TFDS config builds (its builder's `subsets`).
# Validation is the paper's evaluation set (Table 1). wmt19_translate defines
# no test split for any pair, so En-Zh has none.
SPLITS = {
    'en_fr': ('train', 'validation', 'test'),
    'en_zh': ('train', 'validation'),
    'en_ro': ('train', 'validation', 'test'),
    'en_hi': ('train', 'validation', 'test'),
}

# Target language -> sacrebleu tokenizer. 13a, sacrebleu's default, splits on
# spaces and punctuation only, so Chinese, written without spaces, needs 'zh'
# (one token per character), as WMT scores it; every other language gets 13a.
BLEU_TOKENIZERS = {'zh': 'zh'}
DEFAULT_BLEU_TOKENIZER = '13a'


def task_name(pair: str) -> str:
  if pair not in PAIRS:
    raise ValueError(f'unknown WMT pair {pair!r}; known pairs: {sorted(PAIRS)}.')
  return f'{PREFIX}.{pair}'


def translate(dataset, source_key: str, target_key: str, target_name: str):
  """{source_key: text, target_key: text} -> {'inputs': prefixed source, 'targets'}.

  Written here: seqio ships no translation preprocessor (T5's lives in `t5`).
  """
  prefix = f'translate English to {target_name}: '
  return dataset.map(
      lambda x: {'inputs': tf.strings.join([prefix, x[source_key]]),
                 'targets': x[target_key]},
      num_parallel_calls=tf.data.AUTOTUNE)


def bleu(targets, predictions, tokenize: str = DEFAULT_BLEU_TOKENIZER):
  """sacrebleu corpus BLEU of decoded strings, with sacrebleu's signature.

  T5X writes 'bleu' as a scalar summary and 'bleu_signature' as a text one
  (and both to its metrics JSON), so a score is never read without its
  tokenizer and sacrebleu version.
  """
  metric = sacrebleu.BLEU(tokenize=tokenize)
  score = metric.corpus_score(predictions, [targets])
  return {'bleu': score.score,
          'bleu_signature': seqio.metrics.Text(
              textdata=str(metric.get_signature()))}


def bleu_for(target_lang: str):
  """The BLEU metric function for translations into `target_lang` (a code)."""
  tokenize = BLEU_TOKENIZERS.get(target_lang, DEFAULT_BLEU_TOKENIZER)
  return functools.partial(bleu, tokenize=tokenize)


def register_task(name: str, source: seqio.DataSource, source_key: str,
                  target_key: str, target_name: str,
                  vocabulary: seqio.Vocabulary) -> seqio.Task:
  """Registers an English -> target_name translation Task over `source`.

  `target_key` is the target's language code, as in TFDS's translation
  datasets: BLEU's tokenizer is chosen from it.
  """
  return seqio.TaskRegistry.add(
      name,
      source=source,
      preprocessors=[
          functools.partial(translate, source_key=source_key,
                            target_key=target_key, target_name=target_name),
          seqio.preprocessors.tokenize,
          seqio.CacheDatasetPlaceholder(),
          seqio.preprocessors.append_eos_after_trim,
      ],
      output_features={
          'inputs': seqio.Feature(vocabulary, add_eos=True),
          'targets': seqio.Feature(vocabulary, add_eos=True),
      },
      metric_fns=[bleu_for(target_key)])


for _pair, (_tfds_name, _target_name) in PAIRS.items():
  register_task(
      task_name(_pair),
      seqio.TfdsDataSource(tfds_name=_tfds_name, splits=SPLITS[_pair]),
      source_key='en', target_key=_pair.split('_')[1],
      target_name=_target_name, vocabulary=vocab.WMT_VOCABULARY)
