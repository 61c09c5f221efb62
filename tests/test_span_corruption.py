"""T5 span corruption: length arithmetic, document cap, recoverability,
noise statistics."""

import math

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


@pytest.mark.parametrize('inputs_length,mean_span,expected', [
    # 767 tokens: round(383.5) = 384 noise (half to even) in 128 spans ->
    # inputs 767-384+128+1 = 512, targets 384+128+1 = 513 > 512: one less.
    (512, 3.0, (766, 512)),
    # 151 tokens: round(75.5) = 76 noise in round(25.33) = 25 spans ->
    # inputs 151-76+25+1 = 101, targets 76+25+1 = 102 > 101: one less.
    (101, 3.0, (150, 101)),
    # 127 tokens: round(63.5) = 64 noise in 64 spans -> inputs 127-64+64+1 =
    # 128, targets 64+64+1 = 129 > 128: one less, though 126 gives only 127.
    (128, 1.0, (126, 128)),
    # 683 tokens: round(341.5) = 342 noise in 171 spans -> inputs 513,
    # targets 514 > 513: one less.
    (513, 2.0, (682, 513)),
    # 682 tokens: 341 noise in round(170.5) = 170 spans -> inputs 512,
    # targets 512: no correction.
    (512, 2.0, (682, 512)),
])
def test_density_half_keeps_targets_within_inputs(inputs_length, mean_span,
                                                  expected):
  assert span_corruption.chunk_length_for(
      inputs_length, noise_density=0.5,
      mean_noise_span_length=mean_span) == expected


def _t5_random_spans_helper(inputs_length, noise_density,
                            mean_noise_span_length):
  """T5's random_spans_helper, one extra token per span on either side."""
  def _tokens_length_to_inputs_length_targets_length(tokens_length):
    num_noise_tokens = int(round(tokens_length * noise_density))
    num_nonnoise_tokens = tokens_length - num_noise_tokens
    num_noise_spans = int(round(num_noise_tokens / mean_noise_span_length))
    return (num_nonnoise_tokens + num_noise_spans + 1,
            num_noise_tokens + num_noise_spans + 1)

  tokens_length = inputs_length - 1
  while (_tokens_length_to_inputs_length_targets_length(tokens_length + 1)[0]
         <= inputs_length):
    tokens_length += 1
  inputs_length, targets_length = (
      _tokens_length_to_inputs_length_targets_length(tokens_length))
  if noise_density == 0.5 and targets_length > inputs_length:
    tokens_length -= 1
    targets_length -= 1
  return tokens_length, targets_length


def test_chunk_length_matches_t5_over_a_grid():
  densities = [round(0.05 * k, 2) for k in range(1, 20)]  # 0.5 exactly
  lengths = list(range(4, 100)) + [127, 128, 255, 256, 511, 512, 513, 1024,
                                   1025, 2048]
  corrected = 0
  for density in densities:
    for mean_span in (1.0, 1.5, 2.0, 3.0, 5.0, 8.0):
      for inputs_length in lengths:
        expected = _t5_random_spans_helper(inputs_length, density, mean_span)
        assert span_corruption.chunk_length_for(
            inputs_length, density, mean_span) == expected, (
                inputs_length, density, mean_span)
        # One more token would still fit only where the 0.5 rule took it off.
        corrected += span_corruption.lengths_for_tokens(
            expected[0] + 1, density, mean_span)[0] <= inputs_length
  assert corrected > 100  # so the grid exercises the 0.5 rule


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


def _t5_chunk_start(num_tokens, seed, max_length=65536):
  """Where T5's select_random_chunk starts a document, for this seed."""
  seeds = tf.unstack(tf.random.experimental.stateless_split(seed))
  num_segments = tf.cast(
      tf.math.ceil(tf.cast(num_tokens, tf.float32) /
                   tf.cast(max_length, tf.float32)), tf.int32)
  return int(max_length * tf.random.stateless_uniform(
      [], maxval=num_segments, dtype=tf.int32, seed=seeds[1]))


@pytest.mark.parametrize('num_tokens', [65_536, 65_537, 131_073, 200_000])
def test_random_chunk_is_the_segment_t5_selects(num_tokens):
  tokens = tf.range(1, num_tokens + 1)  # each value names its position
  segments = -(-num_tokens // 65_536)
  starts = []
  for i in range(64):
    seed = tf.constant([i, 17], tf.int64)
    chunk = span_corruption.random_chunk(tokens, seed).numpy()
    start = _t5_chunk_start(num_tokens, seed)
    assert start % 65_536 == 0
    assert len(chunk) == min(65_536, num_tokens - start)
    np.testing.assert_array_equal(chunk, np.arange(start + 1,
                                                   start + len(chunk) + 1))
    np.testing.assert_array_equal(
        span_corruption.random_chunk(tokens, seed).numpy(), chunk)
    starts.append(start)
  # Every segment, the short last one included, is drawn.
  assert sorted(set(starts)) == [65_536 * k for k in range(segments)]


def _documents(*lengths):
  """Documents of the given lengths; token i of each is 1 + i % 1500."""
  dataset = None
  for n in lengths:
    doc = tf.data.Dataset.from_tensors({'targets': 1 + tf.range(n) % 1500})
    dataset = doc if dataset is None else dataset.concatenate(doc)
  return dataset


def _selected(dataset, seed):
  with seqio.utils.map_seed_manager(seed):
    return [x['targets'] for x in span_corruption.select_random_chunk(
        dataset).as_numpy_iterator()]


def test_short_documents_pass_whole_and_empty_ones_are_dropped():
  selected = _selected(_documents(3, 0, 500, 65_536), seed=5)
  assert [len(x) for x in selected] == [3, 500, 65_536]
  for x in selected:
    np.testing.assert_array_equal(x, 1 + np.arange(len(x)) % 1500)


def test_long_document_is_capped_like_t5_through_span_corruption():
  original = 1 + np.arange(200_000) % 1500
  document = _documents(200_000)
  by_seed = {seed: _selected(document, seed)[0] for seed in range(0, 64, 2)}
  starts = {}
  for seed, chunk in by_seed.items():
    start = next(s for s in range(0, 200_000, 65_536)
                 if np.array_equal(original[s:s + len(chunk)], chunk))
    assert len(chunk) == min(65_536, 200_000 - start)
    starts.setdefault(start, seed)
  # Segments of 65,536, 65,536, 65,536 and 3,392 tokens, each reachable.
  assert sorted(starts) == [0, 65_536, 131_072, 196_608]
  np.testing.assert_array_equal(_selected(document, 2)[0], by_seed[2])

  features = {'targets': seqio.Feature(VOCAB)}
  lengths = {'inputs': 512, 'targets': 114}
  for start in (0, 196_608):  # ceil(65,536 / 568) = 116, ceil(3,392 / 568) = 6
    seed = starts[start]
    with seqio.utils.map_seed_manager(seed):
      examples = list(span_corruption.span_corruption(
          document, lengths, features).as_numpy_iterator())
    assert len(examples) == math.ceil(len(by_seed[seed]) / 568)
    restored = sum((_reconstruct(e['inputs'].tolist(), e['targets'].tolist(),
                                 VOCAB.vocab_size) for e in examples), [])
    assert restored == by_seed[seed].tolist()


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
  with seqio.utils.map_seed_manager(7):
    chunks = span_corruption.split_stream(
        span_corruption.concatenate_documents(
            span_corruption.select_random_chunk(_synthetic_stream())),
        tokens_length)
  originals = [c['targets'].tolist() for c in chunks.as_numpy_iterator()]
  with seqio.utils.map_seed_manager(9):
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
