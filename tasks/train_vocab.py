r"""Trains a SentencePiece vocabulary on a rate-weighted sample of mixtures.

  python -m tasks.train_vocab --mixture=ptjf_mc4.tau3.33 \
      --examples=10000000 --vocab_size=64000 --output=/tmp/spm64k.model \
      [--mc4_json_dir=gs://my-bucket/c4/multilingual]

Each mixture contributes --examples raw training examples (every text field),
split between its tasks by the mixture's rates: a tau=3.33 mixture gives the
paper's temperature-sampled vocabulary corpus (App. B). The model follows T5's
id layout (pad 0, EOS 1, UNK 2, no BOS); use it with extra_ids=100, e.g.
  ptjf.mc4_vocabulary.path = '/tmp/spm64k.model'
  ptjf.mc4_vocabulary.extra_ids = 100
"""

import importlib
import os
import sys
import tempfile
from typing import Iterator, Sequence

from absl import app
from absl import flags
from absl import logging
import gin
import seqio
import sentencepiece as spm

from ptjf import outputs

_MIXTURES = flags.DEFINE_multi_string(
    'mixture', [], 'Mixture or task to sample (repeatable).')
_EXAMPLES = flags.DEFINE_integer(
    'examples', 100_000, 'Raw examples drawn from each --mixture.')
_VOCAB_SIZE = flags.DEFINE_integer('vocab_size', 64_000,
                                   'Pieces in the vocabulary (paper: 64,000).')
_OUTPUT = flags.DEFINE_string('output', None, 'Path of the .model to write.')
_CHARACTER_COVERAGE = flags.DEFINE_float(
    'character_coverage', 0.99995, 'Share of characters the pieces cover.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the sample.')
_MC4_JSON_DIR = flags.DEFINE_string(
    'mc4_json_dir', None, "Read mC4 from AllenAI's JSON shards in this "
    'directory (as MC4_JSON_DIR does for training), not from TFDS.')
if 'module' not in flags.FLAGS:  # shared with mixtures.show
  flags.DEFINE_multi_string('module', [], 'Extra modules to import first, '
                            'e.g. ones that register your own tasks.')


def examples_per_task(name: str, examples: int) -> dict[str, int]:
  """Splits `examples` between the mixture's tasks in proportion to rates."""
  if examples < 1:
    raise ValueError(f'examples is {examples!r}: draw at least 1.')
  if name in seqio.TaskRegistry.names():
    return {name: examples}
  if name not in seqio.MixtureRegistry.names():
    raise ValueError(f'unknown mixture or task {name!r}: register it first '
                     '(or import its module with --module).')
  mixture = seqio.get_mixture_or_task(name)
  total = mixture.total_rate
  return {t.name: round(examples * mixture.get_rate(t) / total)
          for t in mixture.tasks}


def sample_texts(name: str, examples: int, seed: int = 0) -> Iterator[str]:
  """Lines of every text field of the raw examples drawn from `name`."""
  for task_name, count in examples_per_task(name, examples).items():
    source = seqio.get_mixture_or_task(task_name).source
    dataset = source.get_dataset('train', shuffle=True, seed=seed).repeat()
    for example in dataset.take(count).as_numpy_iterator():
      for value in example.values():
        if isinstance(value, bytes):
          yield from (line for line in value.decode('utf-8').splitlines()
                      if line.strip())


def train(texts: Iterator[str], output: str, vocab_size: int,
          character_coverage: float = 0.99995) -> None:
  """Writes a unigram SentencePiece model with T5's special-token ids, and
  its .vocab beside it, both whole or neither (outputs.write)."""
  if not output.endswith('.model'):
    raise ValueError(f'output is {output!r}: it must end in .model.')
  with tempfile.TemporaryDirectory(prefix='ptjf_vocab_') as trained:
    spm.SentencePieceTrainer.train(
        sentence_iterator=texts, model_prefix=os.path.join(trained, 'spm'),
        vocab_size=vocab_size, model_type='unigram',
        character_coverage=character_coverage,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        max_sentence_length=16384, shuffle_input_sentence=True,
        num_threads=os.cpu_count() or 1)
    written = {}
    for suffix in ('.model', '.vocab'):
      with open(os.path.join(trained, 'spm' + suffix), 'rb') as f:
        written[output[:-len('.model')] + suffix] = f.read()
  outputs.write(written)
  logging.info('Wrote %s', output)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not _MIXTURES.value or not _OUTPUT.value:
    raise app.UsageError('set --mixture (one or more) and --output.')
  for module in ['mixtures'] + flags.FLAGS.module:
    importlib.import_module(module)
  if not _OUTPUT.value.endswith('.model'):
    sys.exit(f'error: --output is {_OUTPUT.value!r}: it must end in .model.')
  try:
    outputs.check(_OUTPUT.value, f'--output={_OUTPUT.value}')
  except ValueError as e:
    sys.exit(f'error: {e}')
  if _MC4_JSON_DIR.value is not None:
    gin.bind_parameter('ptjf.mc4_json_dir.directory', _MC4_JSON_DIR.value)
  try:
    plans = {m: examples_per_task(m, _EXAMPLES.value)
             for m in _MIXTURES.value}
  except ValueError as e:
    sys.exit(f'error: {e}')
  for mixture, plan in plans.items():
    logging.info('%s: examples per task %s', mixture, plan)

  def texts():
    for mixture in plans:
      yield from sample_texts(mixture, _EXAMPLES.value, _SEED.value)

  try:
    train(texts(), _OUTPUT.value, _VOCAB_SIZE.value, _CHARACTER_COVERAGE.value)
  except outputs.WriteError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main)
