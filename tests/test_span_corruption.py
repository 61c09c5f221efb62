"""T5 span corruption: length arithmetic, recoverability, noise statistics."""

import numpy as np
import pytest
import seqio
import tensorflow as tf

from tasks import span_corruption
from tasks import vocab

VOCAB = vocab.SYNTHETIC_VOCABULARY


@pytest.mark.parametrize('inputs_length,expected', [
    (512, (568, 114)),    # 568 tokens: 85 noise in 28 spans -> 483+28+1, 85+28+1
    (1024, (1137, 229)),  # 1137 tokens: 171 noise in 57 spans -> 966+57+1, 171+57+1
])
def test_chunk_length_arithmetic(inputs_length, expected):
  assert span_corruption.chunk_length_for(inputs_length) == expected


def test_replace_spans_with_sentinels_literal():
  tokens = tf.constant([10, 11, 12, 13, 14, 15, 16])
  mask = tf.constant([False, True, True, False, False, True, False])
  inputs = span_corruption.replace_spans_with_sentinels(tokens, mask, 100)
  targets = span_corruption.replace_spans_with_sentinels(tokens, ~mask, 100)
  assert inputs.numpy().tolist() == [10, 99, 13, 14, 98, 16]
  assert targets.numpy().tolist() == [99, 11, 12, 98, 15, 97]


def test_noise_mask_counts_and_shape():
  mask = span_corruption.random_spans_noise_mask(
      568, tf.constant([3, 4])).numpy()
  assert mask.sum() == 85
  starts = np.flatnonzero(mask & ~np.concatenate([[False], mask[:-1]]))
  assert len(starts) == 28
  assert not mask[0] and mask[-1]  # non-noise first, noise last


def _synthetic_stream():
  """Real documents of the synthetic corpus, tokenized with its vocabulary."""
  task = seqio.get_mixture_or_task('ptjf_synth.hi')
  docs = task.source.get_dataset('train', shuffle=False).take(400)
  return docs.map(lambda x: {'targets': VOCAB.encode_tf(x['text'])})


def _reconstruct(inputs, targets, vocab_size):
  """Puts each target span back in place of its sentinel in the inputs."""
  spans, current = {}, None
  for token in targets:
    if token >= vocab_size - 100:
      current = token
      spans[current] = []
    else:
      spans[current].append(token)
  out = []
  for token in inputs:
    out.extend(spans[token] if token >= vocab_size - 100 else [token])
  return out


def test_every_token_is_recoverable_and_noise_statistics_hold():
  tokens_length, _ = span_corruption.chunk_length_for(512)
  chunks = span_corruption.split_stream(
      span_corruption.concatenate_documents(_synthetic_stream()),
      tokens_length)
  originals = [c['targets'].tolist() for c in chunks.as_numpy_iterator()]
  with seqio.utils.map_seed_manager(7):
    corrupted = list(span_corruption._corrupt(
        chunks, vocab_size=VOCAB.vocab_size, noise_density=0.15,
        mean_noise_span_length=3.0).as_numpy_iterator())
  assert len(corrupted) == len(originals) > 50
  noise = spans = total = 0
  for original, example in zip(originals, corrupted):
    inputs, targets = example['inputs'].tolist(), example['targets'].tolist()
    assert max(original) < VOCAB.vocab_size - 100  # no text token is a sentinel
    assert _reconstruct(inputs, targets, VOCAB.vocab_size) == original
    num_spans = sum(t >= VOCAB.vocab_size - 100 for t in inputs)
    spans += num_spans
    noise += len(targets) - num_spans
    total += len(original)
  assert noise / total == pytest.approx(0.15, abs=0.01)
  assert noise / spans == pytest.approx(3.0, abs=0.3)


def test_task_yields_512_and_114_without_truncation():
  task = seqio.get_mixture_or_task('ptjf_synth.hi')
  lengths = {'inputs': 512, 'targets': 114}
  with seqio.utils.map_seed_manager(11):
    examples = list(task.get_dataset(lengths, split='validation',
                                     shuffle=False).as_numpy_iterator())
  full = [e for e in examples if len(e['inputs']) == 512]
  # Only the tail of each stream of 128 concatenated documents is shorter.
  num_streams = -(-200 // span_corruption.CONCAT_DOCUMENTS)
  assert len(full) >= len(examples) - num_streams > 0
  for e in examples:
    assert e['inputs'][-1] == e['targets'][-1] == VOCAB.eos_id
    assert len(e['targets']) <= 114
    # Each sentinel of the inputs opens a span in the targets: nothing cut.
    in_sentinels = [t for t in e['inputs'] if t >= VOCAB.vocab_size - 100]
    out_sentinels = [t for t in e['targets'] if t >= VOCAB.vocab_size - 100]
    assert in_sentinels == out_sentinels
  assert all(len(e['targets']) == 114 for e in full)


def test_too_short_targets_length_is_rejected():
  task = seqio.get_mixture_or_task('ptjf_synth.hi')
  with pytest.raises(ValueError, match='targets length 100 is too short'):
    task.get_dataset({'inputs': 512, 'targets': 100}, split='validation')


def test_bad_noise_density_is_rejected():
  with pytest.raises(ValueError, match='noise_density is 1.5'):
    span_corruption.chunk_length_for(512, noise_density=1.5)
