"""The real mC4 and WMT tasks and mixtures on TFDS's mocked examples, offline.

tfds.testing.mock_data serves examples generated from each TFDS builder's own
features. The split metadata it reads (names, example counts) is written here
from the builders' own code: c4's split generators, WMT's subsets, so a task
naming a split TFDS does not build fails. Each mocked text field is tagged
with a word naming its dataset and split, so any example can be traced to the
TFDS split it came from. The vocabularies are bound to the shipped
SentencePiece model: mT5's lives on gs://.
"""

import collections
import contextlib
import os
import re
from unittest import mock

import gin
import numpy as np
import pytest
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.testing import mocking

from ptjf import recipe
from tasks import mc4
from tasks import span_corruption
from tasks import training_split
from tasks import vocab
from tasks import wmt


# Documents (or sentence pairs) per mocked split: enough for one full
# 1024-token span-corruption chunk, few enough for two CPU cores.
EXAMPLES_PER_SPLIT = 96
SHORT = {'inputs': 64, 'targets': 16}  # 70-token chunks, 14 target tokens
WMT_LENGTHS = {'inputs': 64, 'targets': 48}
EOS = 1
# The dataset the ptjf_mc4.* tasks read, at its default version.
MC4_TFDS_NAME = f'{mc4.TFDS_NAME}:{mc4.TFDS_VERSION}'
TARGET_NAMES = {'en_fr': 'French', 'en_zh': 'Chinese', 'en_ro': 'Romanian',
                'en_hi': 'Hindi'}
# Tags use letters the mocked text never does (it draws from ' abcdefghij')
# and the shipped vocabulary covers; all three syllables long, so no fragment
# of one tag is another.
_SYLLABLES = [c + v for c in 'klmnprstvwz' for v in 'ou']
_TAG_WORD = re.compile(r'\b[klmnprstvwzou]{6}\b')


def _tag(index: int) -> str:
  return ''.join(_SYLLABLES[index // len(_SYLLABLES) ** k % len(_SYLLABLES)]
                 for k in range(3))


def _tfds_splits(tfds_name: str, data_dir: str) -> list[str]:
  """Split names as the builder's own code makes them, without downloading."""
  builder = tfds.builder(tfds_name, data_dir=data_dir)
  if hasattr(builder, 'subsets'):  # WMT: split -> sub-datasets
    return [str(split) for split in builder.subsets]
  downloads = mock.MagicMock()
  downloads.download_and_extract.side_effect = lambda urls: urls
  with mock.patch.object(type(builder), '_get_pages_pcollection'):
    generators = builder._split_generators(downloads, None)  # pylint: disable=protected-access
  return [str(g.name) for g in generators]


def _write_metadata(tfds_name: str, data_dir: str) -> list[str]:
  builder = tfds.builder(tfds_name, data_dir=data_dir)
  names = _tfds_splits(tfds_name, data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(
          name=name, shard_lengths=[EXAMPLES_PER_SPLIT], num_bytes=0,
          filename_template=tfds.core.ShardedFileTemplate(
              data_dir=builder.data_path, dataset_name=builder.name,
              split=name, filetype_suffix='tfrecord'))
      for name in names]))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)
  return names


class OfflineTfds:
  """TFDS mocked over metadata written to a directory; texts tagged by split."""

  def __init__(self, data_dir: str):
    self.data_dir = data_dir
    self.tags = {}  # (builder full name, split) -> tag
    self.full_names = {}  # 'c4/multilingual:3.1.0' -> 'c4/multilingual/3.1.0'
    for name in [MC4_TFDS_NAME] + [n for n, _ in wmt.PAIRS.values()]:
      builder = tfds.builder(name, data_dir=data_dir)
      self.full_names[name] = builder.info.full_name
      for split in _write_metadata(name, data_dir):
        self.tags[self.full_names[name], split] = _tag(len(self.tags))
    self.origins = {tag: key for key, tag in self.tags.items()}

  def _as_dataset(self, builder, split, decoders=None, read_config=None,
                  shuffle_files=False):
    """TFDS's generated examples, each text wrapped in the split's tag."""
    del decoders, read_config, shuffle_files  # one file, read in order
    tag = self.tags[builder.info.full_name, str(split)]
    count = builder.info.splits[str(split)].num_examples
    examples = list(mocking.RandomFakeGenerator(builder.info.features, count))
    columns = {key: [f'{tag} {e[key]} {tag}' for e in examples]
               for key in examples[0]}
    return tf.data.Dataset.from_tensor_slices(columns)

  @contextlib.contextmanager
  def mocked(self):
    def as_dataset(builder, *args, **kwargs):  # patched in as a builder method
      return self._as_dataset(builder, *args, **kwargs)

    with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_FILES,
                                data_dir=self.data_dir,
                                as_dataset_fn=as_dataset):
      yield

  def raw(self, tfds_name: str, split: str) -> list[dict[str, str]]:
    """The mocked examples as tfds.load serves them."""
    dataset = tfds.load(tfds_name, split=split, shuffle_files=False)
    return [{k: v.decode() for k, v in example.items()}
            for example in tfds.as_numpy(dataset)]


def _reset_vocabularies():
  # A ConfiguredVocabulary reads its file once, at first use.
  for vocabulary in (vocab.MC4_VOCABULARY, vocab.WMT_VOCABULARY):
    vocabulary._model = None  # pylint: disable=protected-access


LOCAL_VOCABULARIES = [
    f"ptjf.mc4_vocabulary.path = '{vocab.SYNTHETIC_SENTENCEPIECE_MODEL}'",
    f'ptjf.mc4_vocabulary.extra_ids = {vocab.SYNTHETIC_EXTRA_IDS}',
    f"ptjf.wmt_vocabulary.path = '{vocab.SYNTHETIC_SENTENCEPIECE_MODEL}'",
    f'ptjf.wmt_vocabulary.extra_ids = {vocab.SYNTHETIC_EXTRA_IDS}',
]


@pytest.fixture(scope='module')
def offline(tmp_path_factory):
  """Mocked TFDS for the module; seqio's memoized builders kept apart."""
  memoized = seqio.utils.LazyTfdsLoader._MEMOIZED_BUILDERS  # pylint: disable=protected-access
  saved = dict(memoized)
  memoized.clear()
  data = OfflineTfds(str(tmp_path_factory.mktemp('tfds')))
  try:
    with data.mocked():
      yield data
  finally:
    memoized.clear()
    memoized.update(saved)


@pytest.fixture
def local_vocabularies(no_network):
  """Real tasks on the shipped SentencePiece model; gin restored after."""
  del no_network
  _reset_vocabularies()
  with gin.unlock_config():
    gin.parse_config(LOCAL_VOCABULARIES)
  try:
    yield vocab.MC4_VOCABULARY
  finally:
    gin.clear_config()
    _reset_vocabularies()


def _is_sentinel(token, vocabulary) -> bool:
  return token >= vocabulary.vocab_size - vocabulary.extra_ids


def uncorrupt(inputs, targets, vocabulary) -> list[int]:
  """The chunk a span-corrupted example was made from: each sentinel of the
  inputs replaced by the span that follows it in the targets."""
  assert inputs[-1] == EOS and targets[-1] == EOS
  spans, sentinel = {}, None
  for token in targets[:-1]:
    if _is_sentinel(token, vocabulary):
      sentinel = token
      spans[sentinel] = []
    else:
      spans[sentinel].append(token)  # KeyError: targets start with a token
  chunk = []
  for token in inputs[:-1]:
    chunk.extend(spans.pop(token) if _is_sentinel(token, vocabulary)
                 else [token])
  assert all(not span for span in spans.values())  # only a trailing sentinel
  return chunk


def tags_of(tokens, vocabulary, offline_tfds) -> set[tuple[str, str]]:
  """(TFDS dataset, split) of every whole tag in `tokens`' text."""
  text = vocabulary.decode([int(t) for t in tokens])
  return {offline_tfds.origins[w] for w in _TAG_WORD.findall(text)
          if w in offline_tfds.origins}


def _task_examples(name, split, lengths):
  task = seqio.get_mixture_or_task(name)
  return list(task.get_dataset(lengths, split=split, shuffle=False,
                               num_epochs=1).as_numpy_iterator())


def test_every_mc4_task_reads_splits_tfds_builds(offline, local_vocabularies):
  del offline, local_vocabularies
  for lang in mc4.LANGUAGES + (mc4.UNDETERMINED,):
    task = seqio.get_mixture_or_task(f"ptjf_mc4.{lang.replace('-', '_')}")
    assert task.source.tfds_dataset.name == MC4_TFDS_NAME
    for split in ('train', 'validation'):
      assert task.num_input_examples(split) == EXAMPLES_PER_SPLIT
  # seqio reads the count before any example, so a misnamed split fails here.
  misnamed = seqio.TfdsDataSource(MC4_TFDS_NAME,
                                  splits={'validation': 'gd_validation'})
  with pytest.raises(ValueError, match="Unknown split 'gd_validation'"):
    misnamed.num_input_examples('validation')


@pytest.mark.parametrize('lang,split,tfds_split', [
    ('en', 'train', 'en'),
    ('gd', 'validation', 'gd-validation'),
    ('gd', 'train', 'gd'),
    ('bg-Latn', 'validation', 'bg-Latn-validation'),
    ('bg-Latn', 'train', 'bg-Latn'),
])
def test_mc4_task_span_corrupts_its_split_without_truncation(
    offline, local_vocabularies, lang, split, tfds_split):
  v = local_vocabularies
  assert EXAMPLES_PER_SPLIT <= span_corruption.CONCAT_DOCUMENTS  # one stream
  examples = _task_examples(f"ptjf_mc4.{lang.replace('-', '_')}", split, SHORT)
  documents = offline.raw(MC4_TFDS_NAME, tfds_split)
  assert len(documents) == EXAMPLES_PER_SPLIT
  stream = [t for d in documents for t in v.encode(d['text'])]
  chunks = [uncorrupt(e['inputs'].tolist(), e['targets'].tolist(), v)
            for e in examples]
  # Every document token, in order, once: nothing truncated or dropped.
  assert [t for c in chunks for t in c] == stream
  for example in examples[:-1]:  # only the stream's last chunk is shorter
    assert len(example['inputs']) == SHORT['inputs']
  for example in examples:
    assert example['inputs'][-1] == EOS and example['targets'][-1] == EOS
    assert EOS not in example['inputs'][:-1]
    assert _is_sentinel(example['targets'][0], v)
    assert example['targets'][0] == v.vocab_size - 1
    assert len(example['targets']) <= SHORT['targets']
  assert tags_of(stream, v, offline) == {
      (offline.full_names[MC4_TFDS_NAME], tfds_split)}


def test_mc4_task_at_the_recipes_lengths(offline, local_vocabularies):
  v = local_vocabularies
  with gin.unlock_config():
    gin.parse_config_file(os.path.join(recipe.REPO, 'gin/data/mc4.gin'))
  lengths = gin.query_parameter('TASK_FEATURE_LENGTHS/gin.macro.value')
  chunk, targets_length = span_corruption.chunk_length_for(lengths['inputs'])
  assert targets_length <= lengths['targets']
  examples = _task_examples('ptjf_mc4.en', 'train', lengths)
  stream = [t for d in offline.raw(MC4_TFDS_NAME, 'en')
            for t in v.encode(d['text'])]
  assert len(stream) > chunk  # the mocked documents fill one chunk
  assert len(examples[0]['inputs']) == lengths['inputs']
  assert len(examples[0]['targets']) == targets_length
  chunks = [uncorrupt(e['inputs'].tolist(), e['targets'].tolist(), v)
            for e in examples]
  assert [t for c in chunks for t in c] == stream


@pytest.mark.parametrize('pair', sorted(wmt.PAIRS))
@pytest.mark.parametrize('split', ['train', 'validation'])
def test_wmt_task_translates_the_mocked_pair(offline, local_vocabularies,
                                             pair, split):
  v = local_vocabularies
  tfds_name = wmt.PAIRS[pair][0]
  target = pair.split('_')[1]
  examples = _task_examples(f'ptjf_wmt.{pair}', split, WMT_LENGTHS)
  raw = offline.raw(tfds_name, split)
  assert len(examples) == len(raw) == EXAMPLES_PER_SPLIT
  for example, pair_text in zip(examples, raw):
    prompt = f'translate English to {TARGET_NAMES[pair]}: {pair_text["en"]}'
    assert example['inputs_pretokenized'].decode() == prompt
    assert example['targets_pretokenized'].decode() == pair_text[target]
    # Shorter than the lengths, so nothing may be trimmed.
    assert len(v.encode(prompt)) < WMT_LENGTHS['inputs']
    assert len(v.encode(pair_text[target])) < WMT_LENGTHS['targets']
    assert example['inputs'].tolist() == v.encode(prompt) + [EOS]
    assert example['targets'].tolist() == v.encode(pair_text[target]) + [EOS]
    # Uppercase and ':' are unknown to the shipped model, so the decoded
    # prompt shows them as ' ⁇ '; the words around them survive.
    assert v.decode(example['inputs'].tolist()) == v.decode(v.encode(prompt))
  origin = {(offline.full_names[tfds_name], split)}
  assert tags_of(examples[0]['inputs'], v, offline) == origin
  assert tags_of(examples[0]['targets'], v, offline) == origin


@pytest.mark.parametrize('name, tfds_name, train_split, lengths', [
    ('ptjf_wmt.en_ro', wmt.PAIRS['en_ro'][0], 'train', WMT_LENGTHS),
    ('ptjf_mc4.gd', MC4_TFDS_NAME, 'gd', SHORT),  # through Mc4Source
])
def test_training_split_twin_reads_the_tfds_train_split(
    offline, local_vocabularies, name, tfds_name, train_split, lengths):
  twin_name = training_split.training_split_task(name)
  try:
    twin = seqio.get_mixture_or_task(twin_name)
    assert twin.num_input_examples('validation') == EXAMPLES_PER_SPLIT
    documents = [{k: v.decode() for k, v in example.items()} for example in
                 tfds.as_numpy(twin.source.get_dataset('validation'))]
    assert documents == offline.raw(tfds_name, train_split)
    examples = _task_examples(twin_name, 'validation', lengths)
    origins = set().union(*(tags_of(e[key], local_vocabularies, offline)
                            for e in examples for key in ('inputs', 'targets')))
    assert origins == {(offline.full_names[tfds_name], train_split)}
  finally:
    seqio.TaskRegistry.remove(twin_name)  # its size is the mocked one


def _packed_batches(name, lengths, batches, batch_size=16, shuffle=True):
  # As T5X's utils.get_dataset calls it for one host.
  dataset = seqio.get_dataset(
      name, lengths, seqio.EncDecFeatureConverter(pack=True),
      dataset_split='train', shuffle=shuffle, seed=0, num_epochs=None,
      shard_info=seqio.ShardInfo(index=0, num_shards=1),
      batch_size=batch_size)
  if not shuffle:
    # Many small pipelines on few cores: tf.data's autotuning costs more than
    # it saves. Which task each example comes from does not change.
    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = dataset.with_options(options)
  return list(dataset.take(batches).as_numpy_iterator())


def _segments(batch):
  """(inputs, targets) of each packed example, with the batch's layout
  checked: segments numbered 1.. from the left, positions from 0 in each."""
  out = []
  for row in range(batch['encoder_input_tokens'].shape[0]):
    enc_seg = batch['encoder_segment_ids'][row]
    dec_seg = batch['decoder_segment_ids'][row]
    assert np.array_equal(batch['decoder_loss_weights'][row], dec_seg > 0)
    count = enc_seg.max()
    assert dec_seg.max() == count
    for side, seg in (('encoder', enc_seg), ('decoder', dec_seg)):
      used = seg[seg > 0]
      assert np.all(np.diff(used) >= 0) and np.all(seg[len(used):] == 0)
      assert set(used.tolist()) == set(range(1, count + 1))
      positions = batch[f'{side}_positions'][row]
      for s in range(1, count + 1):
        assert positions[seg == s].tolist() == list(range((seg == s).sum()))
    for s in range(1, count + 1):
      inputs = batch['encoder_input_tokens'][row][enc_seg == s].tolist()
      targets = batch['decoder_target_tokens'][row][dec_seg == s].tolist()
      shifted = batch['decoder_input_tokens'][row][dec_seg == s].tolist()
      assert shifted == [0] + targets[:-1]
      out.append((inputs, targets))
  return out


def _check_layout(batches, lengths, batch_size):
  for batch in batches:
    for key, value in batch.items():
      side = 'inputs' if key.startswith('encoder') else 'targets'
      assert value.shape == (batch_size, lengths[side]), key
      assert value.dtype == np.int32, key


def _mc4_task_of(inputs, targets, v, offline_tfds):
  """The task whose TFDS train split an example's text came from, or None
  when the example is too short to hold a whole tag."""
  origins = tags_of(uncorrupt(inputs, targets, v), v, offline_tfds)
  assert len(origins) <= 1, origins  # a chunk never mixes languages
  if not origins:
    return None
  (dataset, lang), = origins
  assert dataset == offline_tfds.full_names[MC4_TFDS_NAME]
  assert not lang.endswith('-validation')
  return f"ptjf_mc4.{lang.replace('-', '_')}"


def _assert_rates(counts, mixture_name):
  """Every task sampled, each near its rate (4 standard deviations)."""
  mixture = seqio.get_mixture_or_task(mixture_name)
  total = sum(counts.values())
  assert set(counts) == {t.name for t in mixture.tasks}
  for task in mixture.tasks:
    rate = mixture.get_rate(task) / mixture.total_rate
    share = counts[task.name] / total
    assert abs(share - rate) <= 4 * (rate * (1 - rate) / total) ** 0.5 + 0.01, (
        task.name, share, rate)


@pytest.mark.parametrize('name,batches', [
    ('ptjf_mc4.tau3.33', 25),
    ('ptjf_mc4.en_only', 2),
])
def test_mc4_mixture_batches_as_t5x_reads_them(offline, local_vocabularies,
                                               name, batches):
  v = local_vocabularies
  data = _packed_batches(name, SHORT, batches)
  _check_layout(data, SHORT, 16)
  counts, unknown = collections.Counter(), 0
  for batch in data:
    for inputs, targets in _segments(batch):
      assert inputs[-1] == EOS and targets[-1] == EOS
      assert _is_sentinel(targets[0], v)
      task = _mc4_task_of(inputs, targets, v, offline)
      if task is None:
        unknown += 1
        assert len(inputs) < SHORT['inputs']  # a stream's short last chunk
      else:
        counts[task] += 1
  assert unknown <= 0.05 * sum(counts.values())
  _assert_rates(counts, name)


def test_mc4_all_mixture_samples_every_language(offline, local_vocabularies):
  # The flattest temperature: its rarest language (bg-Latn) is drawn at 0.34%,
  # so 3,200 examples miss any language with probability under 1%. Most of
  # the minute this takes is tracing a span-corruption pipeline per language;
  # unshuffled tasks spare filling a shuffle buffer for each first.
  v = local_vocabularies
  name, batches, batch_size = 'ptjf_mc4_all.tau5', 50, 64
  mixture = seqio.get_mixture_or_task(name)
  rates = [mixture.get_rate(t) / mixture.total_rate for t in mixture.tasks]
  assert sum((1 - r) ** (batches * batch_size) for r in rates) < 0.01
  lengths = {'inputs': 32, 'targets': 8}
  data = _packed_batches(name, lengths, batches, batch_size, shuffle=False)
  _check_layout(data, lengths, batch_size)
  counts = collections.Counter(
      _mc4_task_of(i, t, v, offline) for b in data for i, t in _segments(b))
  del counts[None]
  _assert_rates(counts, name)


def _wmt_lookup(offline_tfds, v):
  """Tokenized (inputs, targets) of every mocked training pair -> its task."""
  lookup = {}
  for pair, (tfds_name, _) in wmt.PAIRS.items():
    target = pair.split('_')[1]
    for text in offline_tfds.raw(tfds_name, 'train'):
      prompt = f'translate English to {TARGET_NAMES[pair]}: {text["en"]}'
      key = (tuple(v.encode(prompt) + [EOS]),
             tuple(v.encode(text[target]) + [EOS]))
      lookup[key] = f'ptjf_wmt.{pair}'
  return lookup


@pytest.mark.parametrize('name', ['ptjf_wmt.ro_fr.high0.3', 'ptjf_wmt.tau3.33'])
def test_wmt_mixture_batches_as_t5x_reads_them(offline, local_vocabularies,
                                               name):
  v = local_vocabularies
  lookup = _wmt_lookup(offline, v)
  data = _packed_batches(name, WMT_LENGTHS, 20)
  _check_layout(data, WMT_LENGTHS, 16)
  counts = collections.Counter()
  for batch in data:
    for inputs, targets in _segments(batch):
      counts[lookup[tuple(inputs), tuple(targets)]] += 1  # whole, untrimmed
  _assert_rates(counts, name)


@pytest.mark.parametrize('model', ['mt5_tiny', 'nmt_tiny'])
def test_tiny_models_vocabulary_fits_the_shipped_model(model):
  plain = seqio.SentencePieceVocabulary(vocab.SYNTHETIC_SENTENCEPIECE_MODEL,
                                        extra_ids=vocab.SYNTHETIC_EXTRA_IDS)
  with open(os.path.join(recipe.REPO, f'gin/models/{model}.gin')) as f:
    sizes = re.findall(r'^\s*vocab_size = (\d+)', f.read(), re.MULTILINE)
  assert len(sizes) == 1
  embedding = int(sizes[0])
  # Rows for every piece and sentinel, rounded up to a multiple of 128.
  assert embedding % 128 == 0
  assert 0 <= embedding - plain.vocab_size < 128


@pytest.mark.needs_t5x
def test_tiny_model_trains_a_step_on_the_mocked_mixture(
    offline, local_vocabularies, tmp_path):
  del offline
  from ptjf import checkpoint  # pylint: disable=g-import-not-at-top
  from ptjf import experiment  # pylint: disable=g-import-not-at-top
  from ptjf import summaries  # pylint: disable=g-import-not-at-top
  from t5x import train as t5x_train  # pylint: disable=g-import-not-at-top
  model_dir = str(tmp_path / 'model')
  # The tiny static recipe, moved from the synthetic corpus to the real mC4
  # mixture and the mC4 vocabulary, bound to the shipped model.
  recipe.parse(experiment.recipe_path('static_synth_mc4_tiny'), [
      recipe.string_binding('MODEL_DIR', model_dir),
      "MIXTURE_OR_TASK_NAME = 'ptjf_mc4.tau3.33'",
      'VOCABULARY = %ptjf.MC4_VOCABULARY',
      *LOCAL_VOCABULARIES,
      "TASK_FEATURE_LENGTHS = {'inputs': 64, 'targets': 16}",
      'BATCH_SIZE = 8',
      'TRAIN_STEPS = 1',
      'train_script.train.eval_steps = 1',
  ])
  model = recipe.value('MODEL')
  task = seqio.get_mixture_or_task('ptjf_mc4.gd')
  assert model.output_vocabulary == task.output_features['targets'].vocabulary
  assert model.output_vocabulary.vocab_size == local_vocabularies.vocab_size
  assert recipe.value('network.T5Config.vocab_size') >= (
      local_vocabularies.vocab_size)
  step, _ = gin.get_configurable(t5x_train.train)()
  assert step == 1
  assert checkpoint.steps(model_dir)[-1] == 1
  shapes = checkpoint.parameter_shapes(checkpoint.path(model_dir, 1))
  embedding = [shape for name, shape in shapes.items()
               if name.endswith('token_embedder/embedding')]
  assert embedding == [(recipe.value('network.T5Config.vocab_size'),
                        recipe.value('network.T5Config.emb_dim'))]
  loss = summaries.scalars(model_dir)['loss'][1]
  assert np.isfinite(loss) and loss > 0
  # T5X evaluated each language on its validation split.
  assert set(summaries.eval_tasks(model_dir)) >= set(
      f'ptjf_mc4.{lang}' for lang in ('en', 'hi', 'gu', 'gd', 'sw'))
