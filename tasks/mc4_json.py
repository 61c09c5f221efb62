"""mC4 from AllenAI's JSON-lines release, the copy users can download.

TFDS's c4/multilingual is an Apache Beam build over 72 Common Crawl dumps;
AllenAI publishes the built data on the Hugging Face hub (dataset allenai/c4,
folder multilingual/) as gzipped JSON lines with `text`, `timestamp`, `url`:

  release 3.1.0 (the paper's: language-ID confidence >= 0.95), hub branch
  mC4_3.1.0, each file grouping eight shard indices:
    c4-ar.00064-00065-00066-00067-00068-00069-00070-00071.json.gz
  release 3.0.1 (mT5's), hub branch main:
    c4-gd.tfrecord-00000-of-00002.json.gz
    c4-gd-validation.tfrecord-00000-of-00001.json.gz

A language's training files are c4-<lang>.*.json.gz and its validation files
c4-<lang>-validation.*.json.gz in both; the release is told apart by the
names. `source(directory, lang)` reads them as a seqio file-based source, each
host its own files (seqio shards the file list by ShardInfo).
"""

import dataclasses
import functools
import gzip
import json
import os
import re
import zlib
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import seqio
import tensorflow as tf

SPLITS = ('train', 'validation')
_SHARD_NAME = {
    '3.1.0': re.compile(r'(\d{5}(?:-\d{5})*)'),
    '3.0.1': re.compile(r'tfrecord-(\d{5})-of-(\d{5})'),
}
# The hub's branch holding each release.
HUB_BRANCH = {'3.1.0': 'mC4_3.1.0', '3.0.1': 'main'}
HUB_DATASET = 'allenai/c4'
HUB_FOLDER = 'multilingual'
_BATCH = 256  # documents handed to tf.data per call into Python


class BadShardError(ValueError):
  """A shard that cannot be read whole: the message names the file and line."""


def file_name_glob(lang: str, split: str) -> str:
  """'c4-gd.*.json.gz' (train), 'c4-gd-validation.*.json.gz' (validation)."""
  if split not in SPLITS:
    raise ValueError(f'mC4 has no split {split!r}; its splits: {", ".join(SPLITS)}.')
  return f'c4-{lang}{"-validation" * (split == "validation")}.*.json.gz'


def _texts(path: bytes) -> Iterator[np.ndarray]:
  """Every document's text of one shard, in batches; raises BadShardError."""
  path = path.decode() if isinstance(path, bytes) else path
  batch, line = [], 0
  # Python's gzip, not TF's: TF's GZIP reader ends a truncated file silently.
  with tf.io.gfile.GFile(path, 'rb') as raw, gzip.GzipFile(fileobj=raw) as lines:
    try:
      for line, text in enumerate(lines, 1):
        batch.append(_text(text, path, line))
        if len(batch) == _BATCH:
          yield np.array(batch, dtype=object)
          batch = []
    except (OSError, EOFError, zlib.error) as e:
      raise BadShardError(f'{path}: not a whole gzip file, unreadable after line '
                     f'{line} ({e}); download it again.') from e
  if not line:
    raise BadShardError(f'{path}: holds no documents; download it again.')
  if batch:
    yield np.array(batch, dtype=object)


def _text(line: bytes, path: str, number: int) -> bytes:
  try:
    document = json.loads(line)
  except ValueError as e:
    raise BadShardError(f'{path} line {number}: not JSON ({e}).') from e
  text = document.get('text') if isinstance(document, dict) else None
  if not isinstance(text, str):
    raise BadShardError(f'{path} line {number}: no "text" string; mC4 lines are '
                   'JSON objects with text, timestamp and url.')
  return text.encode()


def read_documents(path: tf.Tensor) -> tf.data.Dataset:
  """{'text': ...} for every line of one gzipped JSON-lines shard, in order."""
  texts = tf.data.Dataset.from_generator(
      _texts, args=(path,),
      output_signature=tf.TensorSpec(shape=[None], dtype=tf.string))
  return texts.unbatch().map(lambda text: {'text': text})


def list_files(directory: str, lang: str, split: str) -> list[str]:
  return sorted(tf.io.gfile.glob(os.path.join(directory, file_name_glob(lang, split))))


@functools.lru_cache(maxsize=None)
def source(directory: str, lang: str) -> seqio.FileDataSource:
  """The language's shards under `directory` as a seqio source."""
  return seqio.FileDataSource(
      read_file_fn=read_documents,
      split_to_filepattern={split: os.path.join(directory, file_name_glob(lang, split))
                            for split in SPLITS})


@dataclasses.dataclass
class Shards:
  """The files of one language and split, and what their names say."""
  lang: str
  split: str
  files: list[str]
  release: Optional[str]  # None: no files, or names of neither release
  missing: list[str]  # shard indices the names say should be there

  @property
  def name(self) -> str:
    return f'{self.lang} {self.split}'


def _release(names: Sequence[str], prefix: str) -> Optional[str]:
  """The release all `names` follow ('3.1.0', '3.0.1'), else None."""
  for release, pattern in _SHARD_NAME.items():
    if all(re.fullmatch(re.escape(prefix) + pattern.pattern + r'\.json\.gz', n)
           for n in names):
      return release
  return None


def _missing(names: Sequence[str], prefix: str, release: str) -> list[str]:
  """Shard indices absent from an otherwise numbered run of files. 3.0.1
  names give the count; 3.1.0 names do not, so only gaps below the highest
  index can be seen."""
  found, total = set(), 0
  for name in names:
    groups = re.fullmatch(re.escape(prefix) + _SHARD_NAME[release].pattern
                          + r'\.json\.gz', name).groups()
    if release == '3.0.1':
      found.add(int(groups[0]))
      total = max(total, int(groups[1]))
    else:
      found.update(int(i) for i in groups[0].split('-'))
      total = max(found) + 1
  return [f'{i:05d}' for i in range(total) if i not in found]


def inventory(directory: str, lang: str, split: str) -> Shards:
  files = list_files(directory, lang, split)
  names = [os.path.basename(f) for f in files]
  prefix = file_name_glob(lang, split).split('*')[0]
  release = _release(names, prefix) if names else None
  missing = _missing(names, prefix, release) if release else []
  return Shards(lang, split, files, release, missing)


def find(directory: str, reads: Iterable[tuple[str, str]]
         ) -> tuple[list[Shards], list[str]]:
  """The shards of every (language, split) in `reads`, and a phrase for each
  language and split with no files or a gap; ValueError if `directory` is
  not a directory."""
  if not tf.io.gfile.isdir(directory):
    raise ValueError(f'MC4_JSON_DIR {directory!r} is not a directory: give the '
                     "one holding AllenAI's c4-<lang>.*.json.gz files "
                     '(ptjf data EXPERIMENT says how to download them).')
  found = [inventory(directory, lang, split) for lang, split in sorted(set(reads))]
  problems = [f'{s.name}: no {file_name_glob(s.lang, s.split)}' for s in found
              if not s.files]
  problems += [f'{s.name}: files named like neither release '
               f'({os.path.basename(s.files[0])})'
               for s in found if s.files and s.release is None]
  problems += [f'{s.name}: shards {_listed(s.missing)} missing'
               for s in found if s.missing]
  releases = {s.release for s in found if s.release}
  if len(releases) > 1:
    problems.append(f'releases {" and ".join(sorted(releases))} mixed: keep one '
                    'per directory')
  return found, problems


def check_present(directory: str, reads: Iterable[tuple[str, str]]) -> list[Shards]:
  """find(), raising ValueError in one line naming every problem."""
  found, problems = find(directory, reads)
  if problems:
    raise ValueError(f'MC4_JSON_DIR {directory!r} lacks shards: '
                     + '; '.join(problems) + '. ptjf data EXPERIMENT prints the '
                     'commands that download them.')
  return found


def _listed(items: Sequence[str], shown: int = 5) -> str:
  more = len(items) - shown
  return ', '.join(items[:shown]) + (f' and {more} more' if more > 0 else '')


def read_whole(path: str) -> int:
  """Reads a shard to its end; its documents, or BadShardError."""
  return sum(len(batch) for batch in _texts(path))


def read_first(path: str) -> int:
  """Reads a shard's first documents (up to a batch); how many, or BadShardError."""
  return len(next(_texts(path)))


def write_shards(directory: str, documents: dict[tuple[str, str], Sequence[str]],
                 release: str = '3.1.0', per_file: int = 100) -> list[str]:
  """Writes {(lang, split): texts} as the release names its files, `per_file`
  documents a file (for tests, benchmarks and rehearsals); returns the paths."""
  paths = []
  for (lang, split), texts in sorted(documents.items()):
    chunks = [texts[i:i + per_file] for i in range(0, len(texts), per_file)]
    prefix = file_name_glob(lang, split).split('*')[0]
    for i, chunk in enumerate(chunks):
      shard = (f'tfrecord-{i:05d}-of-{len(chunks):05d}' if release == '3.0.1'
               else '-'.join(f'{8 * i + k:05d}' for k in range(8)))
      paths.append(os.path.join(directory, f'{prefix}{shard}.json.gz'))
      with tf.io.gfile.GFile(paths[-1], 'wb') as raw, gzip.GzipFile(
          fileobj=raw, mode='wb') as f:
        for n, text in enumerate(chunk):
          f.write(json.dumps({'text': text, 'timestamp': '2020-01-01T00:00:00Z',
                              'url': f'https://example.com/{lang}/{split}/{i}/{n}'},
                             ensure_ascii=False).encode() + b'\n')
  return paths
