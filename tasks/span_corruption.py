"""T5's span-corruption objective (Raffel et al. 2020, sec. 3.1.4) as seqio preprocessors.

Written here: seqio does not ship it and the `t5` package cannot be installed
from PyPI (it pins unpublished nightly packages).

The pipeline keeps one random segment of at most MAX_DOCUMENT_TOKENS tokens of
each tokenized document, concatenates them, cuts the stream into chunks of
`tokens_length` tokens, and turns each chunk into
  inputs:  non-noise tokens, one sentinel in place of each noise span
  targets: each noise span, preceded by its sentinel
where sentinel k is token id vocab_size - 1 - k. `tokens_length` is chosen so
that inputs and targets (plus EOS) fit the feature lengths exactly.
"""

import functools

import seqio
import tensorflow as tf

NOISE_DENSITY = 0.15
MEAN_NOISE_SPAN_LENGTH = 3.0
# Documents concatenated before chunking, so chunks run across documents.
CONCAT_DOCUMENTS = 128
# Tokens kept of one document: T5's select_random_chunk(max_length=65536).
MAX_DOCUMENT_TOKENS = 65_536


def lengths_for_tokens(tokens_length: int,
                       noise_density: float = NOISE_DENSITY,
                       mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH):
  """(inputs_length, targets_length) of a corrupted chunk, EOS included."""
  num_noise = int(round(tokens_length * noise_density))
  num_spans = int(round(num_noise / mean_noise_span_length))
  return (tokens_length - num_noise + num_spans + 1, num_noise + num_spans + 1)


def chunk_length_for(inputs_length: int,
                     noise_density: float = NOISE_DENSITY,
                     mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH):
  """The longest chunk whose corrupted inputs (with EOS) fit `inputs_length`.

  Returns (tokens_length, targets_length): for inputs 512 that is (568, 114).
  These are the numbers of T5's random_spans_helper with one sentinel per span.
  """
  if not 0 < noise_density < 1:
    raise ValueError(f'noise_density is {noise_density!r}: it must lie '
                     'strictly between 0 and 1.')
  if mean_noise_span_length < 1:
    raise ValueError(f'mean_noise_span_length is {mean_noise_span_length!r}: '
                     'it must be >= 1.')
  if inputs_length < 4:
    raise ValueError(f'inputs length is {inputs_length!r}: span corruption '
                     'needs at least 4 input tokens.')
  tokens_length = inputs_length - 1
  while lengths_for_tokens(tokens_length + 1, noise_density,
                           mean_noise_span_length)[0] <= inputs_length:
    tokens_length += 1
  chunk_inputs, targets_length = lengths_for_tokens(
      tokens_length, noise_density, mean_noise_span_length)
  # At density 0.5, T5 drops a token when targets would outgrow the inputs.
  if noise_density == 0.5 and targets_length > chunk_inputs:
    tokens_length -= 1
    targets_length -= 1
  return tokens_length, targets_length


def _random_partition(num_items, num_parts, seed):
  """Lengths of `num_parts` non-empty parts of `num_items`, uniformly at random."""
  # A part starts after each of num_parts - 1 distinct cut points in 1..n-1.
  cuts = tf.random.experimental.stateless_shuffle(
      tf.range(1, num_items), seed=seed)[:num_parts - 1]
  bounds = tf.concat([[0], tf.sort(cuts), [num_items]], axis=0)
  return bounds[1:] - bounds[:-1]


def random_spans_noise_mask(length, seed, noise_density=NOISE_DENSITY,
                            mean_noise_span_length=MEAN_NOISE_SPAN_LENGTH):
  """Boolean mask over `length` tokens: round(length * density) noise tokens
  in round(noise / mean_span) spans, alternating non-noise then noise."""
  length = tf.convert_to_tensor(length, tf.int32)
  padded_length = tf.maximum(length, 2)  # room for one span of each kind
  num_noise = tf.cast(
      tf.round(tf.cast(padded_length, tf.float32) * noise_density), tf.int32)
  num_noise = tf.clip_by_value(num_noise, 1, padded_length - 1)
  num_spans = tf.cast(
      tf.round(tf.cast(num_noise, tf.float32) / mean_noise_span_length),
      tf.int32)
  num_spans = tf.maximum(num_spans, 1)
  seeds = tf.random.experimental.stateless_split(seed, 2)
  noise_lengths = _random_partition(num_noise, num_spans, seeds[0])
  keep_lengths = _random_partition(padded_length - num_noise, num_spans,
                                   seeds[1])
  span_lengths = tf.reshape(tf.stack([keep_lengths, noise_lengths], 1), [-1])
  span_index = tf.repeat(tf.range(2 * num_spans), span_lengths)
  return tf.equal(span_index % 2, 1)[:length]


def replace_spans_with_sentinels(tokens, span_mask, vocab_size):
  """Drops masked tokens, putting sentinel k where the k-th masked span began."""
  previous = tf.concat([[False], span_mask[:-1]], axis=0)
  span_starts = span_mask & ~previous
  sentinels = vocab_size - tf.cumsum(tf.cast(span_starts, tokens.dtype))
  tokens = tf.where(span_starts, sentinels, tokens)
  return tf.boolean_mask(tokens, ~(span_mask & previous))


def random_chunk(tokens, seed, max_length=MAX_DOCUMENT_TOKENS):
  """One of the ceil(n / max_length) aligned segments of `tokens`, uniformly at
  random; the last may be shorter, and short `tokens` come back whole."""
  num_segments = (tf.size(tokens) + max_length - 1) // max_length
  # The second of two split seeds, as T5 draws it: a seed picks T5's segment.
  draw_seed = tf.random.experimental.stateless_split(seed)[1]
  start = max_length * tf.random.stateless_uniform(
      [], draw_seed, maxval=tf.maximum(num_segments, 1), dtype=tf.int32)
  return tokens[start:start + max_length]


@seqio.map_over_dataset(num_seeds=1)
def _select_chunk(x, seed, max_length, feature_key):
  return {feature_key: random_chunk(x[feature_key], seed, max_length)}


def select_random_chunk(dataset, max_length=MAX_DOCUMENT_TOKENS,
                        feature_key='targets'):
  """Keeps a random_chunk of each document; like T5, drops empty ones."""
  dataset = dataset.filter(lambda x: tf.size(x[feature_key]) > 0)
  return _select_chunk(dataset, max_length=max_length, feature_key=feature_key)


def concatenate_documents(dataset, feature_key='targets',
                          batch_size=CONCAT_DOCUMENTS):
  """Joins `batch_size` documents into one token stream."""
  dataset = dataset.map(lambda x: {feature_key: x[feature_key]},
                        num_parallel_calls=tf.data.AUTOTUNE)
  dataset = dataset.ragged_batch(batch_size)
  return dataset.map(lambda x: {feature_key: x[feature_key].flat_values},
                     num_parallel_calls=tf.data.AUTOTUNE)


def split_stream(dataset, chunk_length, feature_key='targets'):
  """Cuts each token stream into chunks of `chunk_length` (the last shorter)."""
  def to_chunks(x):
    tokens = x[feature_key]
    num_chunks = (tf.size(tokens) + chunk_length - 1) // chunk_length
    row_starts = tf.range(num_chunks) * chunk_length
    chunks = tf.RaggedTensor.from_row_starts(tokens, row_starts)
    return tf.data.Dataset.from_tensor_slices({feature_key: chunks})
  return dataset.flat_map(to_chunks)


@seqio.map_over_dataset(num_seeds=1)
def _corrupt(x, seed, vocab_size, noise_density, mean_noise_span_length):
  tokens = x['targets']
  mask = random_spans_noise_mask(tf.size(tokens), seed, noise_density,
                                 mean_noise_span_length)
  return {
      'inputs': replace_spans_with_sentinels(tokens, mask, vocab_size),
      'targets': replace_spans_with_sentinels(tokens, ~mask, vocab_size),
  }


def span_corruption(dataset, sequence_length, output_features,
                    noise_density=NOISE_DENSITY,
                    mean_noise_span_length=MEAN_NOISE_SPAN_LENGTH):
  """seqio preprocessor: tokenized 'targets' documents -> corrupted examples.

  The chunk length is derived from sequence_length['inputs'] so no example is
  truncated; targets fit sequence_length['targets'] when it is at least
  chunk_length_for(...)[1] (114 for 512, 229 for 1024).
  """
  tokens_length, targets_length = chunk_length_for(
      sequence_length['inputs'], noise_density, mean_noise_span_length)
  if sequence_length.get('targets', targets_length) < targets_length:
    raise ValueError(
        f"targets length {sequence_length['targets']} is too short for inputs "
        f"length {sequence_length['inputs']}: span corruption produces "
        f'{targets_length} target tokens; set the targets length to at least '
        f'{targets_length}.')
  dataset = select_random_chunk(dataset)
  dataset = concatenate_documents(dataset)
  dataset = split_stream(dataset, tokens_length)
  vocab_size = output_features['targets'].vocabulary.vocab_size
  return _corrupt(dataset, vocab_size=vocab_size, noise_density=noise_density,
                  mean_noise_span_length=mean_noise_span_length)


def is_span_corruption(task: seqio.Task) -> bool:
  """Whether `task` preprocesses with span_corruption, also when bound
  through functools.partial."""
  return any(getattr(p, 'func', p) is span_corruption
             for p in task.preprocessors)


def target_tokens(output, example=None, is_target=False):
  """seqio postprocess_fn: a target's token count (EOS included), for
  `cross_entropy`; anything else passes through."""
  return len(example['targets']) if is_target and example else output


def cross_entropy(targets, scores):
  """seqio score metric: the targets' negative log-likelihood per token, in
  nats (T5X's score_batch sums log-likelihoods; `targets` are token counts)."""
  return {'cross_entropy': -sum(scores) / sum(targets)}


def _lines_to_text(dataset):
  return dataset.map(lambda line: {'text': line},
                     num_parallel_calls=tf.data.AUTOTUNE)


def register_task(name: str, source: seqio.DataSource,
                  vocabulary: seqio.Vocabulary) -> seqio.Task:
  """Registers a span-corruption Task over a source of {'text': ...} examples.

  A seqio.TextLineDataSource (one document per line) works as well.
  """
  from_lines = [_lines_to_text] if isinstance(
      source, seqio.TextLineDataSource) else []
  return seqio.TaskRegistry.add(
      name,
      source=source,
      preprocessors=from_lines + [
          functools.partial(seqio.preprocessors.rekey,
                            key_map={'inputs': None, 'targets': 'text'}),
          seqio.preprocessors.tokenize,
          seqio.CacheDatasetPlaceholder(),
          span_corruption,
          seqio.preprocessors.append_eos_after_trim,
      ],
      output_features={
          'inputs': seqio.Feature(vocabulary, add_eos=True, required=False),
          'targets': seqio.Feature(vocabulary, add_eos=True),
      },
      postprocess_fn=target_tokens,
      metric_fns=[cross_entropy])
