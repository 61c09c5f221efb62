r"""mC4's JSON source against its TFDS source, and against what a pod host needs.

The same documents are stored twice: as gzipped JSON-lines shards named as
AllenAI's mC4 3.1.0 names them (read by the ptjf_mc4.en task with
MC4_JSON_DIR bound, tasks/mc4_json.py) and as a prepared TFDS dataset (read
by seqio's TfdsDataSource, as the task reads c4/multilingual). Both go
through the same span corruption and T5X's packing feature converter at the
XXL recipe's lengths, in batches of one host's share of the global batch,
timed on one CPU core (the process is pinned to it) in alternating rounds,
each from a new pipeline, start-up included: no pipeline reads ahead in the
background while the other is timed.

What one host must deliver for recipes/pretrain_mc4_xxl.gin on a v4-256:
BATCH_SIZE / hosts sequences per step, at the roofline step time `ptjf
compile pretrain_mc4_xxl --topology=v4-256` reports (the fastest the pod can
ask for). Printed: sequences and tokens per second of each source, the ratio
JSON / TFDS, and the ratio of one core's JSON rate to that demand.

The documents are the synthetic corpus's English with its vocabulary (no
network): a real mC4 document tokenized with mT5's vocabulary is longer,
which changes sequences per document, not tokens per second much.

  python -m benchmarks.mc4_json_input [--documents=20000] [--rounds=4]
"""

import os
import tempfile

from absl import app
from absl import flags
from absl import logging
import gin
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from benchmarks import packing
from tasks import mc4_json
from tasks import span_corruption
from tasks import synthetic
from tasks import vocab

_DOCUMENTS = flags.DEFINE_integer('documents', 20000, 'Documents stored in each form.')
_ROUNDS = flags.DEFINE_integer('rounds', 4, 'Alternating rounds per source.')
_BATCHES = flags.DEFINE_integer('batches', 60, 'Batches timed per round.')
_STEP_TIME = flags.DEFINE_float(
    'step_time', 1.45, 'Seconds per step the pod can go at: ptjf compile '
    "pretrain_mc4_xxl --topology=v4-256's roofline.")
_HOSTS = flags.DEFINE_integer('hosts', 32, 'Hosts of the slice (v4-256: 32).')

LENGTHS = {'inputs': 1024, 'targets': 229}  # gin/data/mc4.gin
BATCH_SIZE = 1024  # gin/data/mc4.gin
SHARDS = 16
TFDS_NAME = 'ptjf_bench_mc4_en'
TFDS_TASK = 'ptjf_bench.tfds_en'


def store(directory: str, count: int) -> None:
  """The same documents as JSON shards and as a prepared TFDS dataset."""
  texts = [x['text'].decode() for x in synthetic.text_source('en', count).get_dataset(
      'train', shuffle=False).take(count).as_numpy_iterator()]
  os.makedirs(os.path.join(directory, 'json'))
  mc4_json.write_shards(os.path.join(directory, 'json'), {('en', 'train'): texts},
                        per_file=-(-count // SHARDS))
  tfds.dataset_builders.store_as_tfds_dataset(
      name=TFDS_NAME, version='1.0.0', data_dir=os.path.join(directory, 'tfds'),
      features=tfds.features.FeaturesDict({'text': tfds.features.Text()}),
      split_datasets={'train': tf.data.Dataset.from_tensor_slices({'text': texts})})


def batches(task: str, seed: int):
  return packing.packed_batches(task, LENGTHS, BATCH_SIZE // _HOSTS.value, seed,
                                repeat=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  for flag in (_DOCUMENTS, _ROUNDS, _BATCHES, _HOSTS):
    if flag.value < 1:
      raise app.UsageError(f'--{flag.name}={flag.value}: give a positive count.')
  if not _STEP_TIME.value > 0:
    raise app.UsageError(f'--step_time={_STEP_TIME.value}: give seconds above 0.')
  logging.set_verbosity(logging.FATAL)
  tfds.display_progress_bar(False)
  core = {min(os.sched_getaffinity(0))}
  for thread in os.listdir('/proc/self/task'):  # TensorFlow's threads too
    os.sched_setaffinity(int(thread), core)
  with tempfile.TemporaryDirectory() as directory:
    store(directory, _DOCUMENTS.value)
    for name, value in (('ptjf.mc4_json_dir.directory', os.path.join(directory, 'json')),
                        ('ptjf.mc4_vocabulary.path', vocab.SYNTHETIC_SENTENCEPIECE_MODEL),
                        ('ptjf.mc4_vocabulary.extra_ids', vocab.SYNTHETIC_EXTRA_IDS)):
      gin.bind_parameter(name, value)
    span_corruption.register_task(TFDS_TASK, seqio.TfdsDataSource(
        f'{TFDS_NAME}:1.0.0', tfds_data_dir=os.path.join(directory, 'tfds')),
                                  vocab.MC4_VOCABULARY)
    sources = {'JSON shards (ptjf_mc4.en)': 'ptjf_mc4.en',
               'TFDS (same documents)': TFDS_TASK}
    tallies = {label: packing.Tally() for label in sources}
    for r in range(_ROUNDS.value):
      for label in list(sources)[::1 if r % 2 == 0 else -1]:
        packing.time_batches(batches(sources[label], seed=r), _BATCHES.value,
                             tallies[label])
  rows = BATCH_SIZE // _HOSTS.value
  demand = rows / _STEP_TIME.value
  print(f'{_DOCUMENTS.value:,} synthetic English documents; packed span-corruption '
        f'batches of {rows} rows at lengths {LENGTHS}; one CPU core; '
        f'{_ROUNDS.value} alternating rounds of {_BATCHES.value} batches from a new '
        'pipeline.\n')
  print(f'{"source":28s} {"seconds":>8s} {"sequences/s":>12s} {"tokens/s":>10s}')
  for label, t in tallies.items():
    print(f'{label:28s} {t.seconds:8.2f} {t.rows / t.seconds:12.1f} '
          f'{t.tokens / t.seconds:10.0f}')
  json_rate, tfds_rate = (t.rows / t.seconds for t in tallies.values())
  print(f'\nratio JSON / TFDS: {json_rate / tfds_rate:.2f}')
  print(f'one v4-256 host of pretrain_mc4_xxl needs {rows} sequences per '
        f'{_STEP_TIME.value:g} s step = {demand:.1f} sequences/s; one core '
        f'gives {json_rate / demand:.1f}x that from the JSON shards.')


if __name__ == '__main__':
  app.run(main)
