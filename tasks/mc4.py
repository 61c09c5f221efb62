"""Span-corruption Tasks over mC4 (TFDS c4/multilingual), one per language.

Registered as `ptjf_mc4.<lang>` ('-' in a TFDS code becomes '_') so they never
collide with the `mc4.*` tasks of the t5 / multilingual_t5 packages.

The version read is chosen by gin when the data is first read, so one binding
switches every task, e.g. to the build mT5 trained on:

  ptjf.mc4_tfds_version.version = '3.0.1'
"""

import gin
import seqio
from tensorflow_datasets.text import c4 as tfds_c4

from tasks import span_corruption
from tasks import vocab

TFDS_NAME = 'c4/multilingual'
# The paper's mC4 (App. B): TFDS 3.1.0 raised the language-ID confidence
# threshold to 0.95 (from 0.7 in 3.0.1, mT5's build), as UniMax processed it.
TFDS_VERSION = '3.1.0'
# Versions of TFDS's c4 that hold the multilingual config (its release notes).
MULTILINGUAL_VERSIONS = tuple(
    v for v in tfds_c4.RELEASE_NOTES if tuple(map(int, v.split('.'))) >= (3,))
# Every language TFDS builds for c4/multilingual.
LANGUAGES = tuple(tfds_c4.MC4_LANGUAGES)
# TFDS's bucket of documents of undetermined language: a task of its own,
# left out of every mixture, as mT5 left it out.
UNDETERMINED = 'und'
PREFIX = 'ptjf_mc4'


@gin.configurable(module='ptjf')
def mc4_tfds_version(version: str = TFDS_VERSION) -> str:
  """The c4/multilingual version the ptjf_mc4.* tasks read."""
  if version not in MULTILINGUAL_VERSIONS:
    raise ValueError(
        f'ptjf.mc4_tfds_version.version is {version!r}: c4/multilingual exists '
        f'in versions {", ".join(MULTILINGUAL_VERSIONS)} ({TFDS_VERSION}: '
        'language-ID confidence >= 0.95, the paper\'s; 3.0.1: mT5\'s).')
  return version


class Mc4Source(seqio.TfdsDataSource):
  """c4/multilingual at the version `mc4_tfds_version` gives when read."""

  def __init__(self, splits: dict[str, str]):
    super().__init__(tfds_name=f'{TFDS_NAME}:{TFDS_VERSION}', splits=splits)
    self._split_map = dict(splits)
    self._loaders = {}

  @property
  def tfds_dataset(self) -> seqio.utils.LazyTfdsLoader:
    name = f'{TFDS_NAME}:{mc4_tfds_version()}'
    if name not in self._loaders:
      self._loaders[name] = seqio.utils.LazyTfdsLoader(
          name, split_map=self._split_map)
    return self._loaders[name]


def task_name(lang: str) -> str:
  if lang not in LANGUAGES + (UNDETERMINED,):
    raise ValueError(f'unknown mC4 language {lang!r}; mC4 languages are: '
                     f'{", ".join(LANGUAGES + (UNDETERMINED,))}.')
  return f"{PREFIX}.{lang.replace('-', '_')}"  # seqio names allow no '-'


for _lang in LANGUAGES + (UNDETERMINED,):
  span_corruption.register_task(
      task_name(_lang),
      Mc4Source(splits={'train': _lang, 'validation': f'{_lang}-validation'}),
      vocab.MC4_VOCABULARY)
