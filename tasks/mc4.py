"""Span-corruption Tasks over mC4, one per language.

Registered as `ptjf_mc4.<lang>` ('-' in a TFDS code becomes '_') so they never
collide with the `mc4.*` tasks of the t5 / multilingual_t5 packages.

Each reads AllenAI's JSON-lines release of mC4 (tasks/mc4_json.py) when a
directory of it is bound, else TFDS c4/multilingual. Both are chosen by gin
when the data is first read, so one binding switches every task:

  MC4_JSON_DIR = 'gs://my-bucket/c4/multilingual'  (gin/data/mc4.gin binds
                                                    ptjf.mc4_json_dir.directory)
  ptjf.mc4_tfds_version.version = '3.0.1'           (the build mT5 trained on)
"""

from typing import Optional

import gin
import seqio
from tensorflow_datasets.text import c4 as tfds_c4

from tasks import mc4_json
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


@gin.configurable(module='ptjf')
def mc4_json_dir(directory: Optional[str] = None) -> Optional[str]:
  """The directory of AllenAI's mC4 JSON shards the ptjf_mc4.* tasks read
  (local, gs:// or any path TensorFlow reads); None reads TFDS."""
  if directory is not None and (not isinstance(directory, str) or not directory):
    raise ValueError(f'MC4_JSON_DIR is {directory!r}: give the directory of '
                     "AllenAI's c4-<lang>.*.json.gz files as a string, or None "
                     'to read TFDS c4/multilingual.')
  return directory


class TfdsMc4Source(seqio.TfdsDataSource):
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


class Mc4Source(seqio.DataSource):
  """One language of mC4: its JSON shards under `mc4_json_dir()` when that is
  bound, else TFDS. Every call asks which, so gin decides at read time."""

  def __init__(self, lang: str):
    self.lang = lang
    self.tfds = TfdsMc4Source(splits={'train': lang, 'validation': f'{lang}-validation'})
    super().__init__(splits=mc4_json.SPLITS)

  def chosen(self) -> seqio.DataSource:
    directory = mc4_json_dir()
    return mc4_json.source(directory, self.lang) if directory else self.tfds

  @property
  def tfds_dataset(self) -> seqio.utils.LazyTfdsLoader:
    return self.tfds.tfds_dataset

  @property
  def supports_arbitrary_sharding(self) -> bool:
    return self.chosen().supports_arbitrary_sharding

  def list_shards(self, split: str):
    return self.chosen().list_shards(split)

  def num_input_examples(self, split: str) -> Optional[int]:
    return self.chosen().num_input_examples(split)

  def get_dataset(self, split='train', shuffle=True, seed=None, shard_info=None,
                  **kwargs):
    return self.chosen().get_dataset(split=split, shuffle=shuffle, seed=seed,
                                     shard_info=shard_info, **kwargs)

  def __repr__(self) -> str:
    return f'Mc4Source({self.lang!r}: {self.chosen()!r})'


for _lang in LANGUAGES + (UNDETERMINED,):
  span_corruption.register_task(task_name(_lang), Mc4Source(_lang),
                                vocab.MC4_VOCABULARY)
