"""Task registrations, the synthetic corpus, vocabularies and their errors."""

import math

import gin
import numpy as np
import pytest
import seqio
import tensorflow as tf
from tensorflow_datasets.text import c4 as tfds_c4

from mixtures import registry
from mixtures import sizes
from tasks import mc4
from tasks import synthetic
from tasks import train_vocab
from tasks import vocab
from tasks import wmt


def test_one_prefixed_task_per_mc4_language():
  names = seqio.TaskRegistry.names()
  for lang in tfds_c4.MC4_LANGUAGES + ['und']:
    task = seqio.get_mixture_or_task(mc4.task_name(lang))
    assert task.name.startswith('ptjf_mc4.')
    assert set(task.source.splits) == {'train', 'validation'}
    assert task.source.tfds_dataset.name == 'c4/multilingual:3.1.0'
  assert 'ptjf_mc4.bg_Latn' in names
  assert not any(n.startswith('mc4.') for n in names)  # t5's names stay free


def test_mc4_split_names_follow_tfds():
  task = seqio.get_mixture_or_task('ptjf_mc4.gd')
  # seqio keeps a plain split map private; a wrong name would fail only at
  # training time, on the TPU pod, so it is checked here.
  assert task.source.tfds_dataset._split_map == {  # pylint: disable=protected-access
      'train': 'gd', 'validation': 'gd-validation'}


def test_mc4_version_is_the_095_language_id_build_unless_bound():
  # TFDS's own release notes: 3.1.0 raised the language-ID threshold to 0.95.
  assert '0.95' in tfds_c4.RELEASE_NOTES[mc4.TFDS_VERSION]
  assert mc4.MULTILINGUAL_VERSIONS == ('3.1.0', '3.0.1', '3.0.0')
  task = seqio.get_mixture_or_task('ptjf_mc4.gd')
  try:
    gin.bind_parameter('ptjf.mc4_tfds_version.version', '3.0.1')
    loader = task.source.tfds_dataset
    assert loader.name == 'c4/multilingual:3.0.1'
    assert loader._split_map == {  # pylint: disable=protected-access
        'train': 'gd', 'validation': 'gd-validation'}
    gin.bind_parameter('ptjf.mc4_tfds_version.version', '3.2.0')
    with pytest.raises(ValueError, match=r"version is '3.2.0': c4/multilingual "
                       r'exists in versions 3.1.0, 3.0.1, 3.0.0'):
      task.source.tfds_dataset  # pylint: disable=pointless-statement
  finally:
    gin.clear_config()
  assert task.source.tfds_dataset.name == 'c4/multilingual:3.1.0'


def test_wmt_tasks_use_the_papers_datasets_and_bleu():
  expected = {'en_fr': 'wmt15_translate/fr-en:1.0.0',
              'en_zh': 'wmt19_translate/zh-en:1.0.0',
              'en_ro': 'wmt16_translate/ro-en:1.0.0',
              'en_hi': 'wmt14_translate/hi-en:1.0.0'}
  for pair, tfds_name in expected.items():
    task = seqio.get_mixture_or_task(f'ptjf_wmt.{pair}')
    assert task.source.tfds_dataset.name == tfds_name
    assert [f.func for f in task.metric_fns] == [wmt.bleu]
    assert 'validation' in task.source.splits


def test_translate_preprocessor_literal():
  ds = tf.data.Dataset.from_tensors({'en': 'Hello.', 'ro': 'Salut.'})
  out = next(wmt.translate(ds, 'en', 'ro', 'Romanian').as_numpy_iterator())
  assert out == {'inputs': b'translate English to Romanian: Hello.',
                 'targets': b'Salut.'}


def test_bleu_is_sacrebleu_corpus_bleu():
  targets = ['the cat sat on the mat', 'a dog barked loudly at night']
  assert wmt.bleu(targets, targets)['bleu'] == pytest.approx(100.0)
  predictions = ['the cat sat on a mat', 'a dog barked at night']
  # By hand: n-gram precisions 10/11, 6/9, 3/7, 1/5; 11 words against 12.
  brevity = math.exp(1 - 12 / 11)
  expected = 100 * brevity * (10 / 11 * 6 / 9 * 3 / 7 * 1 / 5) ** 0.25
  assert wmt.bleu(targets, predictions)['bleu'] == pytest.approx(expected)


def test_unknown_codes_are_rejected():
  with pytest.raises(ValueError, match="unknown mC4 language 'xx'"):
    mc4.task_name('xx')
  with pytest.raises(ValueError, match="unknown WMT pair 'en_de'"):
    wmt.task_name('en_de')
  with pytest.raises(ValueError, match="unknown synthetic language or pair"):
    synthetic.task_name('de')


def test_synthetic_sizes_keep_the_papers_ratios():
  gd = synthetic.SPAN_LANGUAGES['gd']
  for lang, chars in sizes.MC4_PAPER_CHARS_BILLIONS.items():
    assert synthetic.SPAN_LANGUAGES[lang] == round(gd * chars / 0.8)
  assert synthetic.SPAN_LANGUAGES['en'] / gd == pytest.approx(16745, rel=1e-9)
  low = synthetic.PAIRS['en_ro']
  assert synthetic.PAIRS['en_fr'] == round(low * 40.9e6 / 610e3)


def test_synthetic_documents_are_deterministic_and_distinct():
  first = synthetic.document('gd', 'train', 5).numpy()
  assert first == synthetic.document('gd', 'train', 5).numpy()
  assert first != synthetic.document('gd', 'train', 6).numpy()
  assert first != synthetic.document('gd', 'validation', 5).numpy()


def test_synthetic_languages_share_latent_structure():
  pair = synthetic.sentence_pair('en_fr', 'train', 3)
  en, fr = pair['en'].numpy().decode(), pair['fr'].numpy().decode()
  assert en.count(' .') == fr.count(' .')  # the same sentences
  assert len(en.split()) == len(fr.split())  # word for word
  en_words = {w: i for i, w in enumerate(synthetic.lexicon('en'))}
  fr_words = synthetic.lexicon('fr')
  # Translating concept by concept gives the same multiset of words.
  assert sorted(fr_words[en_words[w]] for w in en.split() if w != '.') == (
      sorted(w for w in fr.split() if w != '.'))
  assert len(set(synthetic.lexicon('gd'))) == synthetic.NUM_CONCEPTS


@pytest.mark.parametrize('lang_or_pair', ['gd', 'en_ro'])
def test_paper_epochs_tasks_are_the_first_training_examples(lang_or_pair):
  full = seqio.get_mixture_or_task(synthetic.task_name(lang_or_pair))
  cut = seqio.get_mixture_or_task(synthetic.paper_epochs_task_name(lang_or_pair))
  size = {**synthetic.PAPER_EPOCHS_DOCUMENTS, **synthetic.PAPER_EPOCHS_PAIRS}[lang_or_pair]
  assert cut.source.num_input_examples('train') == size
  assert cut.source.num_input_examples('validation') == synthetic.VALIDATION_EXAMPLES
  read = lambda task, split, n=None: [
      {k: v for k, v in e.items()} for e in
      task.source.get_dataset(split, shuffle=False).take(n or -1).as_numpy_iterator()]
  assert read(cut, 'train') == read(full, 'train', size)
  assert read(cut, 'validation') == read(full, 'validation')


def test_paper_epochs_sizes_keep_the_papers_ratios():
  pairs = synthetic.PAPER_EPOCHS_PAIRS
  assert pairs['en_fr'] / pairs['en_ro'] == pytest.approx(40.9e6 / 610e3, rel=0.01)
  # The mixtures sample at the paper's rates, not at the cut sizes' own.
  full = seqio.get_mixture_or_task('ptjf_synth.tau3.33')
  cut = seqio.get_mixture_or_task(f'{synthetic.PAPER_EPOCHS_PREFIX}.tau3.33')
  rates = lambda m: {t.name.rsplit('.', 1)[-1]: m.get_rate(t) for t in m.tasks}
  assert rates(cut) == pytest.approx(rates(full), rel=1e-12)
  assert registry.pair_mixture(synthetic.paper_epochs_task_name('en_fr'),
                               synthetic.paper_epochs_task_name('en_ro'), 0.3) == (
      'ptjf_synth.paper_epochs.ro_fr.high0.3')


def test_smallest_language_has_hundreds_of_examples():
  task = seqio.get_mixture_or_task('ptjf_synth.gd')
  n = sum(1 for _ in task.get_dataset({'inputs': 64, 'targets': 16},
                                      split='train', shuffle=False))
  assert n >= 300


@pytest.mark.parametrize('name,lengths', [
    ('ptjf_synth.tau3.33', {'inputs': 128, 'targets': 32}),
    ('ptjf_synth.unimax', {'inputs': 128, 'targets': 32}),
    ('ptjf_synth.en_only', {'inputs': 128, 'targets': 32}),
    ('ptjf_synth.ro_fr.high0.3', {'inputs': 64, 'targets': 64}),
])
def test_synthetic_mixtures_batch_through_feature_converters(
    no_network, name, lengths):
  del no_network
  name = registry.run_mixture(name, 320, 16, lengths)  # as a tiny run reads it
  ds = seqio.get_dataset(name, lengths, seqio.EncDecFeatureConverter(pack=True),
                         dataset_split='train', shuffle=True, seed=1,
                         num_epochs=None, batch_size=4)
  batch = next(ds.as_numpy_iterator())
  assert batch['encoder_input_tokens'].shape == (4, lengths['inputs'])
  assert batch['decoder_target_tokens'].shape == (4, lengths['targets'])
  fill = max((batch['encoder_input_tokens'] != 0).mean(),
             (batch['decoder_target_tokens'] != 0).mean())
  assert fill > 0.5  # packing filled the binding side
  assert batch['decoder_loss_weights'].sum() > 0


def test_translation_examples_decode_to_prompt_and_target():
  task = seqio.get_mixture_or_task('ptjf_synth.en_ro')
  example = next(task.get_dataset({'inputs': 64, 'targets': 64},
                                  split='validation', shuffle=False)
                 .as_numpy_iterator())
  assert example['inputs_pretokenized'].decode().startswith(
      'translate English to Romanian: ')
  decoded = vocab.SYNTHETIC_VOCABULARY.decode(example['targets'].tolist())
  assert decoded == example['targets_pretokenized'].decode()


def test_vocabulary_is_chosen_by_gin(tmp_path):
  texts = (synthetic.document('sw', 'train', i).numpy().decode()
           for i in range(200))
  path = str(tmp_path / 'small.model')
  train_vocab.train(texts, path, vocab_size=60)
  before = vocab.SYNTHETIC_VOCABULARY.vocab_size
  with gin.unlock_config():
    gin.parse_config([f"ptjf.synthetic_vocabulary.path = '{path}'",
                      'ptjf.synthetic_vocabulary.extra_ids = 10'])
  try:
    fresh = vocab.ConfiguredVocabulary(vocab.synthetic_vocabulary)
    assert fresh.sentencepiece_model_file == path
    assert fresh.vocab_size == 70
    assert (fresh.pad_id, fresh.eos_id, fresh.unk_id) == (0, 1, 2)
    # The object the tasks hold, loaded before the binding, follows it too.
    assert vocab.SYNTHETIC_VOCABULARY.vocab_size == 70
    assert vocab.SYNTHETIC_VOCABULARY.encode('ama') == fresh.encode('ama')
  finally:
    gin.clear_config()
  assert vocab.ConfiguredVocabulary(vocab.synthetic_vocabulary).vocab_size == (
      before)
  assert vocab.SYNTHETIC_VOCABULARY.vocab_size == before


def test_missing_vocabulary_file_is_a_clear_error(tmp_path):
  missing = str(tmp_path / 'nope.model')
  with gin.unlock_config():
    gin.parse_config(f"ptjf.mc4_vocabulary.path = '{missing}'")
  try:
    with pytest.raises(FileNotFoundError,
                       match=f"'{missing}' does not exist: bind "
                       'ptjf.mc4_vocabulary.path'):
      _ = vocab.ConfiguredVocabulary(vocab.mc4_vocabulary).vocab_size
  finally:
    gin.clear_config()


def test_train_vocab_samples_by_mixture_rates(tmp_path):
  plan = train_vocab.examples_per_task('ptjf_synth.tau3.33', 1000)
  assert plan['ptjf_synth.en'] == 696 and plan['ptjf_synth.gd'] == 37
  path = str(tmp_path / 'v.model')
  train_vocab.train(train_vocab.sample_texts('ptjf_synth.tau3.33', 300), path,
                    vocab_size=400)
  trained = seqio.SentencePieceVocabulary(path, extra_ids=100)
  assert trained.vocab_size == 500
  text = synthetic.document('gd', 'validation', 0).numpy().decode()
  assert trained.decode(trained.encode(text)) == text


@pytest.mark.parametrize('name,examples,message', [
    ('ptjf_synth.nope', 10, "unknown mixture or task 'ptjf_synth.nope'"),
    ('ptjf_synth.tau3.33', 0, 'examples is 0'),
])
def test_train_vocab_bad_input(name, examples, message):
  with pytest.raises(ValueError, match=message):
    train_vocab.examples_per_task(name, examples)


def test_train_vocab_output_must_be_a_model_path(tmp_path):
  with pytest.raises(ValueError, match="must end in .model"):
    train_vocab.train(iter(['a b']), str(tmp_path / 'v.spm'), 10)
  assert not list(tmp_path.iterdir())


def test_shipped_vocabulary_covers_the_corpus_without_unknowns():
  v = vocab.SYNTHETIC_VOCABULARY
  for lang in ('en', 'gd', 'fr', 'ro'):
    words = ' '.join(synthetic.lexicon(lang))
    ids = v.encode(words)
    assert v.unk_id not in ids
    assert v.decode(ids) == words
  assert np.all(np.array(v.encode('ge . chu')) < v.vocab_size - 100)


def test_seqio_sizes_reads_the_sources_counts():
  assert sizes.seqio_sizes(['ptjf_synth.gd', 'ptjf_synth.en_ro']) == {
      'ptjf_synth.gd': 400.0, 'ptjf_synth.en_ro': 500.0}
  assert sizes.seqio_sizes(['ptjf_synth.gd'], split='validation') == {
      'ptjf_synth.gd': 200.0}


def test_seqio_sizes_without_a_count_is_a_clear_error(tmp_path):
  path = tmp_path / 'lines.txt'
  path.write_text('one document\n')
  from tasks import span_corruption  # pylint: disable=g-import-not-at-top
  span_corruption.register_task('my.uncounted',
                                seqio.TextLineDataSource({'train': str(path)}),
                                vocab.SYNTHETIC_VOCABULARY)
  try:
    with pytest.raises(ValueError, match="task 'my.uncounted' has no known "
                       "size for split 'train'"):
      sizes.seqio_sizes(['my.uncounted'])
  finally:
    seqio.TaskRegistry.remove('my.uncounted')


def test_configured_vocabulary_equals_the_plain_one_a_model_names():
  # T5X compares a gin-configured model vocabulary with the tasks' own.
  plain = seqio.SentencePieceVocabulary(vocab.SYNTHETIC_SENTENCEPIECE_MODEL,
                                        extra_ids=vocab.SYNTHETIC_EXTRA_IDS)
  configured = vocab.SYNTHETIC_VOCABULARY
  assert plain == configured and configured == plain
  assert not plain != configured  # pylint: disable=unneeded-not
  other = seqio.SentencePieceVocabulary(vocab.SYNTHETIC_SENTENCEPIECE_MODEL)
  assert other != configured  # different extra_ids


def test_train_vocab_command_rejects_bad_input_in_one_line(tmp_path, python_m):
  for args, message in (
      (['--mixture=ptjf_synth.nope', f'--output={tmp_path}/v.model'],
       "error: unknown mixture or task 'ptjf_synth.nope'"),
      (['--mixture=ptjf_synth.tau3.33', f'--output={tmp_path}/v.spm'],
       "error: --output is"),
  ):
    run = python_m('tasks.train_vocab', *args)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1].startswith(message)
    assert 'Traceback' not in run.stderr
  assert not list(tmp_path.iterdir())
