r"""Input pipeline: the five-language tau mixture against English alone.

Both are built the way t5x.train builds its training data (seqio.get_dataset,
EncDecFeatureConverter with packing, then batched), on the synthetic corpus
and vocabulary at the lengths and batch of gin/data/synth_mc4.gin. After a
warm-up, the two pipelines are timed in alternating rounds, so that both see
the same machine load, and the ratios of their rates are printed. Also
printed: the share of token slots that packed span-corruption batches fill.

  python -m benchmarks.input_pipeline [--batches=100] [--rounds=5]
"""

from absl import app
from absl import flags
from absl import logging

from benchmarks import packing

_BATCHES = flags.DEFINE_integer('batches', 100, 'Batches timed per round.')
_ROUNDS = flags.DEFINE_integer('rounds', 5, 'Alternating rounds per pipeline.')
_WARMUP = flags.DEFINE_integer('warmup', 20, 'Batches read before timing.')
_SEED = flags.DEFINE_integer('seed', 0, 'Shuffling and sampling seed.')

SOURCES = {'tau3.33 mixture (5 languages)': 'ptjf_synth.tau3.33',
           'English task alone': 'ptjf_synth.en'}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  for flag in (_BATCHES, _ROUNDS):
    if flag.value < 1:
      raise app.UsageError(f'--{flag.name}={flag.value}: give a positive count.')
  if _WARMUP.value < 0:
    raise app.UsageError(f'--warmup={_WARMUP.value}: give 0 or more batches.')
  logging.set_verbosity(logging.FATAL)  # gin and seqio log every step they take
  lengths, batch_size = packing.read_settings()
  print(f'Packed span-corruption batches of {batch_size} rows, lengths {lengths}, '
        f'{_ROUNDS.value} alternating rounds of {_BATCHES.value} batches each '
        f'after {_WARMUP.value} warm-up batches.\n', flush=True)
  iterators = {label: packing.packed_batches(name, lengths, batch_size, _SEED.value)
               for label, name in SOURCES.items()}
  for iterator in iterators.values():
    packing.time_batches(iterator, _WARMUP.value, packing.Tally())
  tallies = {label: packing.Tally() for label in SOURCES}
  for r in range(_ROUNDS.value):
    order = list(SOURCES) if r % 2 == 0 else list(SOURCES)[::-1]
    for label in order:
      packing.time_batches(iterators[label], _BATCHES.value, tallies[label])

  print(f'{"pipeline":32s} {"seconds":>8s} {"rows/s":>8s} {"examples/s":>11s} '
        f'{"tokens/s":>10s} {"ex/row":>7s} {"inputs":>7s} {"targets":>8s}')
  for label, t in tallies.items():
    print(f'{label:32s} {t.seconds:8.2f} {t.rows / t.seconds:8.0f} '
          f'{t.examples / t.seconds:11.0f} {t.tokens / t.seconds:10.0f} '
          f'{t.examples / t.rows:7.2f} {t.input_tokens / t.input_slots:7.1%} '
          f'{t.target_tokens / t.target_slots:8.1%}')
  print('(inputs, targets: the share of token slots that are not padding)\n')
  mix, single = tallies.values()
  print(f'ratio mixture / English alone: examples/s '
        f'{(mix.examples / mix.seconds) / (single.examples / single.seconds):.2f}, '
        f'tokens/s {(mix.tokens / mix.seconds) / (single.tokens / single.seconds):.2f}')
  slots = mix.input_slots + mix.target_slots
  print(f'non-padding fraction of the mixture\'s packed batches: '
        f'{mix.tokens / slots:.3f} (inputs {mix.input_tokens / mix.input_slots:.3f}, '
        f'targets {mix.target_tokens / mix.target_slots:.3f})')


if __name__ == '__main__':
  app.run(main)
