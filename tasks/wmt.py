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


def bleu(targets, predictions):
  """Corpus BLEU (sacrebleu, its default 13a tokenisation) of decoded strings."""
  score = sacrebleu.corpus_bleu(predictions, [targets])
  return {'bleu': score.score}


def register_task(name: str, source: seqio.DataSource, source_key: str,
                  target_key: str, target_name: str,
                  vocabulary: seqio.Vocabulary) -> seqio.Task:
  """Registers an English -> target_name translation Task over `source`."""
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
      metric_fns=[bleu])


for _pair, (_tfds_name, _target_name) in PAIRS.items():
  register_task(
      task_name(_pair),
      seqio.TfdsDataSource(tfds_name=_tfds_name,
                           splits={'train': 'train',
                                   'validation': 'validation'}),
      source_key='en', target_key=_pair.split('_')[1],
      target_name=_target_name, vocabulary=vocab.WMT_VOCABULARY)
