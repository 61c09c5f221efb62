"""Data-size tables that the mixtures' rates are computed from.

Each table maps a language or pair code to a size, in one unit per table.
"""

import csv
import os

import seqio

from tasks import mc4

# Characters (billions) of the paper's five mC4 languages (Choi et al., Table 2).
MC4_PAPER_CHARS_BILLIONS = {
    'en': 13396.0,
    'hi': 75.0,
    'gu': 3.6,
    'gd': 0.8,
    'sw': 4.1,
}

# Training examples of the WMT pairs (Choi et al., Table 1).
WMT_EXAMPLES = {
    'en_fr': 40_900_000,  # WMT'15
    'en_zh': 26_000_000,  # WMT'19
    'en_ro': 610_000,     # WMT'16
    'en_hi': 314_000,     # WMT'14
}

# Examples of each pair's TFDS 'validation' split (v1.0.0), the evaluation sets
# of the paper's Table 1, as the TFDS catalog lists them: github.com/tensorflow/
# datasets docs/catalog/wmt15_translate.md, wmt19_translate.md at commit
# 2afcf6f3f4e0; wmt16_translate.md, wmt14_translate.md at commit b8aa38eebc8a.
WMT_VALIDATION_EXAMPLES = {
    'en_fr': 4_503,  # newsdiscussdev2015 + newstest2014
    'en_zh': 3_981,  # newstest2018
    'en_ro': 1_999,  # newsdev2016
    'en_hi': 520,    # newsdev2014
}

_MC4_CSV = os.path.join(os.path.dirname(__file__), 'data', 'mc4_sizes.csv')


def _read_mc4_column(column: str) -> dict[str, float]:
  with open(_MC4_CSV) as f:
    rows = csv.DictReader(line for line in f if not line.startswith('#'))
    return {r['lang']: float(r[column]) for r in rows if r[column]}


# Documents per language of TFDS c4/multilingual 3.1.0 (sources: the CSV's header).
MC4_DOCUMENTS = _read_mc4_column('train_documents')
MC4_VALIDATION_DOCUMENTS = _read_mc4_column('validation_documents')
# Billions of mT5 SentencePiece tokens per language, mT5 paper (3.0.1 build).
MC4_MT5_TOKENS_BILLIONS = _read_mc4_column('mt5_tokens_billions')
# Documents tokenized to estimate a source's tokens where no table has them.
DOCUMENTS_SAMPLED = 200


def source_tokens(task_name: str) -> float:
  """Tokens of a span-corruption task's training documents: mT5's count for an
  mC4 language, else documents x the mean of the first DOCUMENTS_SAMPLED."""
  lang = task_name[len(mc4.PREFIX) + 1:]
  if task_name.startswith(mc4.PREFIX + '.') and lang in MC4_MT5_TOKENS_BILLIONS:
    return MC4_MT5_TOKENS_BILLIONS[lang] * 1e9
  task = seqio.get_mixture_or_task(task_name)
  documents = task.source.num_input_examples('train')
  if documents is None:
    raise ValueError(f'task {task_name!r}: its source does not know how many '
                     'training documents it has.')
  sample = task.preprocess_precache(  # the task's own reading and tokenizing
      task.source.get_dataset('train', shuffle=False).take(DOCUMENTS_SAMPLED))
  counts = [len(x['targets']) for x in sample.as_numpy_iterator()]
  return documents * sum(counts) / len(counts)


def seqio_sizes(task_names, split: str = 'train') -> dict[str, float]:
  """Sizes in examples from seqio: cached statistics, else the source's count.

  For tasks without an entry in a table above, e.g. a user's own task.
  """
  sizes = {}
  for name in task_names:
    task = seqio.get_mixture_or_task(name)
    if task.cache_dir:
      sizes[name] = float(task.get_cached_stats(split)['examples'])
      continue
    count = task.source.num_input_examples(split)
    if count is None:
      raise ValueError(
          f'task {name!r} has no known size for split {split!r}: cache it with '
          'seqio (seqio-cache_tasks) or give its size explicitly.')
    sizes[name] = float(count)
  return sizes

