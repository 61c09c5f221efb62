"""mC4 from AllenAI's JSON-lines release: shards named as either release
names them, read through the ptjf_mc4 tasks, their mixture and the feature
converter; what is missing or bad, refused in one line naming it; with T5X,
`ptjf data --check`, `ptjf check` and training steps on the shards.

The shards are written here, gzipped JSON lines of synthetic documents; no
data is downloaded.
"""

import contextlib
import gzip
import json
import os
import re
import shutil

import gin
import pytest
import seqio
import tensorflow as tf

from ptjf import recipe
from tasks import mc4
from tasks import mc4_json
from tasks import synthetic
from tasks import vocab

LANGUAGES = ('en', 'hi', 'gu', 'gd', 'sw')  # ptjf_mc4.tau3.33's
DOCUMENTS = {'train': 230, 'validation': 30}
LENGTHS = {'inputs': 128, 'targets': 32}


def documents(lang, split):
  """Synthetic documents, with a non-ASCII word (JSON escapes it or not)."""
  return [synthetic.document(lang, split, i).numpy().decode() + ' café'
          for i in range(DOCUMENTS[split])]


@pytest.fixture(scope='module')
def texts():
  return {(lang, split): documents(lang, split)
          for lang in LANGUAGES for split in mc4_json.SPLITS}


@pytest.fixture(scope='module', params=['3.1.0', '3.0.1'])
def shards(request, texts, tmp_path_factory):
  """A directory of shards in the release's naming, 100 documents a file."""
  directory = tmp_path_factory.mktemp(f'mc4_{request.param}', numbered=False)
  mc4_json.write_shards(str(directory), texts, request.param, per_file=100)
  return str(directory)


@contextlib.contextmanager
def bound(bindings):
  """Only these gin bindings for a while (a recipe parsed earlier may have
  left others, and locked gin)."""
  gin.clear_config()
  with gin.unlock_config():
    for name, value in bindings.items():
      gin.bind_parameter(name, value)
  try:
    yield
  finally:
    gin.clear_config()


@pytest.fixture
def reading(shards):
  """gin reads mC4 from `shards`, with the synthetic vocabulary."""
  with bound({'ptjf.mc4_json_dir.directory': shards,
              'ptjf.mc4_vocabulary.path': vocab.SYNTHETIC_SENTENCEPIECE_MODEL,
              'ptjf.mc4_vocabulary.extra_ids': vocab.SYNTHETIC_EXTRA_IDS}):
    yield shards


def test_file_names_follow_each_release(shards):
  names = sorted(os.listdir(shards))
  if shards.endswith('3.1.0'):
    assert 'c4-gd.00000-00001-00002-00003-00004-00005-00006-00007.json.gz' in names
    assert 'c4-gd.00016-00017-00018-00019-00020-00021-00022-00023.json.gz' in names
  else:
    assert 'c4-gd.tfrecord-00002-of-00003.json.gz' in names
    assert 'c4-gd-validation.tfrecord-00000-of-00001.json.gz' in names
  assert len(names) == len(LANGUAGES) * (3 + 1)
  found = mc4_json.check_present(shards, [('gd', 'train'), ('gd', 'validation')])
  assert [(s.name, len(s.files), s.release, s.missing) for s in found] == [
      ('gd train', 3, shards[-5:], []), ('gd validation', 1, shards[-5:], [])]


def test_the_tasks_read_every_document_of_the_shards(reading, texts):
  """Each split of ptjf_mc4.gd holds exactly the documents written, and an
  unshuffled read gives them in the same order every time."""
  source = seqio.get_mixture_or_task('ptjf_mc4.gd').source
  assert isinstance(source.chosen(), seqio.FileDataSource)
  for split in mc4_json.SPLITS:
    read = [x['text'].decode() for x in
            source.get_dataset(split, shuffle=False).as_numpy_iterator()]
    assert sorted(read) == sorted(texts[('gd', split)])
    again = [x['text'].decode() for x in
             source.get_dataset(split, shuffle=False).as_numpy_iterator()]
    assert again == read


def test_hosts_read_their_own_files(reading, texts):
  """Three hosts over three training files: each reads one file whole, and
  together they read every document once."""
  source = seqio.get_mixture_or_task('ptjf_mc4.gd').source
  per_host = [[x['text'].decode() for x in source.get_dataset(
      'train', shuffle=True, seed=7,
      shard_info=seqio.ShardInfo(index=i, num_shards=3)).as_numpy_iterator()]
              for i in range(3)]
  assert sorted(len(h) for h in per_host) == [30, 100, 100]
  assert sorted(sum(per_host, [])) == sorted(texts[('gd', 'train')])


def test_span_corrupted_examples_trace_back_to_the_documents(reading):
  """The first uncorrupted run of each example's inputs is a run of tokens
  of the documents, in the order an unshuffled read gives them."""
  task = seqio.get_mixture_or_task('ptjf_mc4.gd')
  vocabulary = task.output_features['targets'].vocabulary
  words = [int(t) for x in task.source.get_dataset('validation', shuffle=False)
           for t in vocabulary.encode_tf(x['text'])]
  stream = f" {' '.join(map(str, words))} "
  sentinels = vocabulary.vocab_size - vocabulary.extra_ids
  examples = list(task.get_dataset(LENGTHS, split='validation', shuffle=False)
                  .as_numpy_iterator())
  assert len(examples) > 5
  runs = []
  for example in examples:
    runs.append([])
    for token in example['inputs']:
      if token >= sentinels or token == 1:  # a sentinel, or EOS
        break
      runs[-1].append(int(token))
    assert f" {' '.join(map(str, runs[-1]))} " in stream
  assert sum(map(len, runs)) > 5 * len(runs)  # runs long enough to mean it


def test_the_five_language_mixture_through_the_feature_converter(reading):
  """ptjf_mc4.tau3.33 on the shards, packed by seqio's encoder-decoder
  converter (T5X's): rows of the model's shapes, every language sampled."""
  mixture = seqio.get_mixture_or_task('ptjf_mc4.tau3.33')
  rows = seqio.get_dataset(
      'ptjf_mc4.tau3.33', LENGTHS, dataset_split='validation', shuffle=True,
      seed=3, num_epochs=None,
      feature_converter=seqio.EncDecFeatureConverter(pack=True))
  row = next(rows.batch(4).as_numpy_iterator())
  assert row['encoder_input_tokens'].shape == (4, 128)
  assert row['decoder_target_tokens'].shape == (4, 32)
  assert {t.name for t in mixture.tasks} == {f'ptjf_mc4.{l}' for l in LANGUAGES}
  for task in mixture.tasks:  # each one's examples come from its own files
    assert next(task.get_dataset(LENGTHS, split='validation', shuffle=False)
                .as_numpy_iterator())['targets'].size


@pytest.fixture
def damaged(texts, tmp_path):
  """A 3.0.1 directory of gd's shards, for damaging one way per test."""
  directory = tmp_path / 'mc4'
  directory.mkdir()
  mc4_json.write_shards(str(directory), {k: v for k, v in texts.items()
                                         if k[0] == 'gd'}, '3.0.1')
  return directory


def rewrite(path, content: bytes):
  with open(path, 'wb') as f:
    f.write(content)


@pytest.mark.parametrize('damage, message', [
    ('truncated', r'c4-gd\.tfrecord-00001-of-00003\.json\.gz: not a whole gzip '
                  r'file, unreadable after line \d+ \(Compressed file ended'),
    ('not gzip', r'c4-gd\.tfrecord-00001-of-00003\.json\.gz: not a whole gzip '
                 r'file, unreadable after line 0 \(Not a gzipped file'),
    ('empty', r'c4-gd\.tfrecord-00001-of-00003\.json\.gz: holds no documents'),
    ('no text', r'c4-gd\.tfrecord-00001-of-00003\.json\.gz line 42: no "text" string'),
    ('not json', r'c4-gd\.tfrecord-00001-of-00003\.json\.gz line 42: not JSON'),
])
def test_a_bad_shard_stops_the_read_naming_the_file_and_line(damage, message, damaged):
  path = damaged / 'c4-gd.tfrecord-00001-of-00003.json.gz'
  whole = path.read_bytes()
  lines = gzip.decompress(whole).splitlines()
  lines[41] = {'no text': b'{"url": "https://example.com"}',
               'not json': b'{"text": "cut'}.get(damage, lines[41])
  rewrite(path, {'truncated': whole[:len(whole) // 2], 'empty': b'',
                 'not gzip': b'\n'.join(lines)}.get(
                     damage, gzip.compress(b'\n'.join(lines))))
  with pytest.raises(mc4_json.BadShardError, match=message):
    mc4_json.read_whole(str(path))
  # Read by the task, it stops the stream there: no partial read.
  with bound({'ptjf.mc4_json_dir.directory': str(damaged)}):
    source = seqio.get_mixture_or_task('ptjf_mc4.gd').source
    with pytest.raises(tf.errors.OpError, match=message):
      for _ in source.get_dataset('train', shuffle=False):
        pass


def test_what_is_missing_is_named_in_one_line(damaged, tmp_path):
  (damaged / 'c4-gd.tfrecord-00001-of-00003.json.gz').unlink()
  (damaged / 'c4-gd-validation.tfrecord-00000-of-00001.json.gz').unlink()
  reads = [('gd', 'train'), ('gd', 'validation'), ('sw', 'train')]
  with pytest.raises(ValueError) as refused:
    mc4_json.check_present(str(damaged), reads)
  assert str(refused.value) == (
      f"MC4_JSON_DIR '{damaged}' lacks shards: gd validation: no "
      'c4-gd-validation.*.json.gz; sw train: no c4-sw.*.json.gz; gd train: '
      'shards 00001 missing. ptjf data EXPERIMENT prints the commands that '
      'download them.')
  with pytest.raises(ValueError, match=r"MC4_JSON_DIR '.*/nowhere' is not a "
                     'directory: give the one holding'):
    mc4_json.check_present(str(tmp_path / 'nowhere'), reads)
  with bound({'ptjf.mc4_json_dir.directory': ''}):
    with pytest.raises(ValueError, match="MC4_JSON_DIR is '': give the directory"):
      seqio.get_mixture_or_task('ptjf_mc4.gd').source.list_shards('train')


def test_tfds_is_read_when_no_directory_is_bound():
  source = seqio.get_mixture_or_task('ptjf_mc4.gd').source
  with bound({}):
    assert mc4.mc4_json_dir() is None
    assert source.chosen() is source.tfds
    assert source.tfds_dataset.name == 'c4/multilingual:3.1.0'


@pytest.mark.needs_t5x
def test_data_check_names_every_missing_language_split_and_bad_shard(
    shards, tmp_path, ptjf, snapshot):
  complete = ptjf('data', 'ptjf_mc4_xxl', f'--check={shards}', cwd=tmp_path)
  assert complete.returncode == 0, complete.stderr
  assert '  gd       validation      1 file   30 documents' in complete.stdout
  assert complete.stdout.endswith(
      f'ok: {shards} holds every mC4 shard ptjf_mc4_xxl reads, read whole.\n')
  broken = tmp_path / 'broken'
  shutil.copytree(shards, broken)
  for name in os.listdir(broken):
    if name.startswith(('c4-sw.', 'c4-hi-validation.')):
      (broken / name).unlink()
  truncated = sorted(broken.glob('c4-gu.*'))[1]
  rewrite(truncated, truncated.read_bytes()[:500])
  before = snapshot(str(tmp_path), recipe.REPO)
  result = ptjf('data', 'ptjf_mc4_xxl', f'--check={broken}', cwd=tmp_path)
  assert snapshot(str(tmp_path), recipe.REPO) == before
  assert result.returncode == 1
  problems = [l for l in result.stderr.splitlines() if l.startswith('missing or bad: ')]
  assert problems[:2] == [
      'missing or bad: hi validation: no c4-hi-validation.*.json.gz',
      'missing or bad: sw train: no c4-sw.*.json.gz']
  assert re.fullmatch(
      f'missing or bad: {re.escape(str(truncated))}: not a whole gzip file, '
      r'unreadable after line \d+ \(Compressed file ended before the '
      r'end-of-stream marker was reached\); download it again\.', problems[2])
  assert len(problems) == 3
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: {broken} does not hold every mC4 shard ptjf_mc4_xxl reads whole: '
      '3 problems above.')


@pytest.mark.needs_t5x
def test_data_says_which_files_to_download_and_how(tmp_path, ptjf):
  result = ptjf('data', 'ptjf_mc4_xxl', cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  out = result.stdout
  assert '    train: ptjf_mc4.en_only reads mC4 en (train)\n' in out
  assert '    train: ptjf_mc4.tau3.33 reads mC4 en, gd, gu, hi, sw (train)\n' in out
  for branch in ('mC4_3.1.0', 'main'):
    assert (f'hf download allenai/c4 --repo-type=dataset --revision={branch} '
            '--local-dir=mc4 \\\n') in out
  assert "--include='multilingual/c4-gd-validation.*.json.gz'" in out
  assert ('tfds build c4/multilingual:3.1.0 --data_dir=gs://BUCKET/tfds '
          '--beam_pipeline_options=') in out
  hindi = ptjf('data', 'ptjf_wmt_hi_fr_3layer', '--gin.LEARNING_RATE=5e-3',
               '--gin.HIGH_RESOURCE_RATE=0.5', '--finetune_gin.WARMUP_STEPS=10000',
               cwd=tmp_path)
  assert hindi.returncode == 0, hindi.stderr
  assert ('tfds build wmt14_translate/hi-en:1.0.0 --data_dir=gs://BUCKET/tfds '
          '--manual_dir=MANUAL_DIR') in hindi.stdout
  assert 'tfds build wmt15_translate/fr-en:1.0.0' in hindi.stdout
  assert 'hf download' not in hindi.stdout


@pytest.mark.needs_t5x
def test_check_refuses_a_missing_language_before_any_compute(
    shards, tmp_path, ptjf, snapshot):
  partial = tmp_path / 'partial'
  shutil.copytree(shards, partial)
  for name in os.listdir(partial):
    if name.startswith('c4-gd'):
      (partial / name).unlink()
  before = snapshot(str(tmp_path), recipe.REPO)
  result = ptjf('check', 'ptjf_mc4_xxl', f'--workdir={tmp_path / "w"}',
                f"--gin.MC4_JSON_DIR='{partial}'", cwd=tmp_path)
  assert snapshot(str(tmp_path), recipe.REPO) == before
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f"error: recipes/ptjf_mc4_xxl.gin: MC4_JSON_DIR '{partial}' lacks shards: "
      'gd train: no c4-gd.*.json.gz; gd validation: no c4-gd-validation.*.json.gz. '
      'ptjf data EXPERIMENT prints the commands that download them.')


def tiny_recipe(directory, path):
  """The tiny mT5 on the five mC4 languages at tau = 3.33, read from
  `directory` through the MC4_JSON_DIR macro, for two steps."""
  path.write_text(f"""
include '{recipe.RECIPES_DIR}/pretrain_synth_mc4_tiny.gin'
include 'gin/data/mc4_source.gin'
MIXTURE_OR_TASK_NAME = 'ptjf_mc4.tau3.33'
MC4_JSON_DIR = '{directory}'
TRAIN_STEPS = 2
ptjf.mc4_vocabulary.path = '{vocab.SYNTHETIC_SENTENCEPIECE_MODEL}'
ptjf.mc4_vocabulary.extra_ids = {vocab.SYNTHETIC_EXTRA_IDS}
""")
  return str(path)


@pytest.mark.needs_t5x
def test_the_tiny_model_trains_on_the_shards_and_stops_at_a_bad_one(
    texts, tmp_path, ptjf):
  shards = str(tmp_path / 'mc4')
  os.makedirs(shards)
  mc4_json.write_shards(shards, texts, '3.1.0')
  good = ptjf('run', tiny_recipe(shards, tmp_path / 'pretrain_json_tiny.gin'),
              f'--workdir={tmp_path / "good"}', cwd=tmp_path)
  assert good.returncode == 0, good.stderr
  assert 'validation loss at step 2: ptjf_mc4.en ' in good.stdout
  bad = tmp_path / 'bad'
  shutil.copytree(shards, bad)
  shard = sorted(bad.glob('c4-en.*'))[0]
  lines = gzip.decompress(shard.read_bytes()).splitlines()
  lines[9] = json.dumps({'url': 'https://example.com'}).encode()
  rewrite(shard, gzip.compress(b'\n'.join(lines)))
  failed = ptjf('run', tiny_recipe(str(bad), tmp_path / 'pretrain_bad_tiny.gin'),
                f'--workdir={tmp_path / "bad_run"}', cwd=tmp_path)
  assert failed.returncode == 1
  last = failed.stderr.strip().splitlines()[-1]
  assert last.startswith(
      f'error: t5x.train failed in pretrain (exit 1) with tasks.mc4_json.'
      f'BadShardError: {shard} line 10: no "text" string;'), last
