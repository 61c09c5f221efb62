"""Span-corruption Tasks over mC4 (TFDS c4/multilingual), one per language.

Registered as `ptjf_mc4.<lang>` ('-' in a TFDS code becomes '_') so they never collide with the `mc4.*` tasks of
the t5 / multilingual_t5 packages.
"""

import seqio
from tensorflow_datasets.text import c4 as tfds_c4

from tasks import span_corruption
from tasks import vocab

TFDS_NAME = 'c4/multilingual:3.1.0'
# Every language TFDS builds for c4/multilingual, plus its undetermined bucket.
LANGUAGES = tuple(tfds_c4.MC4_LANGUAGES) + ('und',)
PREFIX = 'ptjf_mc4'


def task_name(lang: str) -> str:
  if lang not in LANGUAGES:
    raise ValueError(f'unknown mC4 language {lang!r}; mC4 languages are: '
                     f'{", ".join(LANGUAGES)}.')
  return f"{PREFIX}.{lang.replace('-', '_')}"  # seqio names allow no '-'


for _lang in LANGUAGES:
  span_corruption.register_task(
      task_name(_lang),
      seqio.TfdsDataSource(
          tfds_name=TFDS_NAME,
          splits={'train': _lang, 'validation': f'{_lang}-validation'}),
      vocab.MC4_VOCABULARY)
