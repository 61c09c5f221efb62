"""Training-split twins ('<task>.train_split') and the evaluated mixture that
holds them: the twin's examples, its definition, bad input, the recipes'
binding, `ptjf check` and `ptjf eval` on it, and two tiny T5X trainings (with
and without EVALUATE_TRAINING_SPLIT) for the summaries T5X writes.

The T5X tests parse recipes in this process, run `ptjf check` once and
train a tiny NMT model for 2 steps twice: about two minutes on two CPU cores.
"""

import os
import subprocess

import gin
import numpy as np
import pytest
import seqio
import tensorflow as tf

from mixtures import registry
from ptjf import datasets
from ptjf import evaluate
from ptjf import experiment
from ptjf import recipe
from ptjf import summaries
from tasks import span_corruption
from tasks import synthetic
from tasks import training_split
from tasks import vocab
from tasks import wmt

EN_RO = 'ptjf_synth.en_ro'
GD = 'ptjf_synth.gd'
NMT = 'pretrain_synth_ro_fr_tiny'  # trains and evaluates ptjf_synth.en_fr
SHORT = {'inputs': 64, 'targets': 16}


def numpy_examples(ds):
  return list(ds.as_numpy_iterator())


def assert_same_examples(got, want):
  assert len(got) == len(want)
  for a, b in zip(got, want):
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def registrations():
  return set(seqio.TaskRegistry.names()), set(seqio.MixtureRegistry.names())


@pytest.fixture
def scratch_tasks():
  """Tasks a test registers under 'ptjf_test.', removed after it."""
  yield 'ptjf_test'
  for name in [n for n in seqio.MixtureRegistry.names()
               if n.startswith('ptjf_test.')]:
    seqio.MixtureRegistry.remove(name)
  for name in [n for n in seqio.TaskRegistry.names()
               if n.startswith('ptjf_test.')]:
    seqio.TaskRegistry.remove(name)


def register_pair_task(name, sizes):
  """A synthetic En->Ro task whose source has `sizes` (split -> examples);
  a size of None leaves that split's count unknown."""
  def dataset_fn(split, shuffle_files, seed=None):
    del shuffle_files, seed
    return tf.data.Dataset.range(10).map(
        lambda i: synthetic.sentence_pair('en_ro', split, i))
  known = {s: n for s, n in sizes.items() if n is not None}
  source = seqio.FunctionDataSource(dataset_fn, splits=tuple(sizes),
                                    num_input_examples=known or None)
  wmt.register_task(name, source, source_key='en', target_key='ro',
                    target_name='Romanian',
                    vocabulary=vocab.SYNTHETIC_VOCABULARY)
  return name


def test_twin_of_en_ro_is_its_first_training_examples_token_for_token():
  task = seqio.get_mixture_or_task(EN_RO)
  n = task.num_input_examples('validation')
  assert n == synthetic.VALIDATION_EXAMPLES == 200
  name = training_split.training_split_task(EN_RO)
  assert name == EN_RO + training_split.TRAINING_SPLIT_SUFFIX == (
      'ptjf_synth.en_ro.train_split')
  twin = seqio.get_mixture_or_task(name)
  assert twin.splits == ('validation',)
  assert twin.num_input_examples('validation') == n
  got = numpy_examples(twin.get_dataset(None, split='validation',
                                        shuffle=False))
  want = numpy_examples(task.get_dataset(None, split='train', shuffle=False)
                        .take(n))
  assert_same_examples(got, want)
  shuffled = twin.get_dataset(None, split='validation', shuffle=True, seed=7)
  assert sorted(e['inputs_pretokenized'] for e in want) == sorted(
      e['inputs_pretokenized'] for e in numpy_examples(shuffled))
  validation = numpy_examples(task.get_dataset(None, split='validation',
                                               shuffle=False))
  assert got[0]['inputs_pretokenized'] != validation[0]['inputs_pretokenized']


def test_twin_keeps_the_tasks_definition():
  task = seqio.get_mixture_or_task(EN_RO)
  twin = seqio.get_mixture_or_task(training_split.training_split_task(EN_RO))
  assert twin.output_features == task.output_features
  assert twin.preprocessors == task.preprocessors
  assert twin.postprocessor is task.postprocessor
  assert twin.metric_fns == task.metric_fns and twin.metric_fns
  assert twin.predict_metric_fns == task.predict_metric_fns
  assert twin.score_metric_fns == task.score_metric_fns
  assert twin.shuffle_buffer_size == task.shuffle_buffer_size
  assert twin.source.source is task.source


def test_twin_is_registered_once_and_again_for_a_new_task(scratch_tasks):
  name = training_split.training_split_task(EN_RO)
  twin = seqio.get_mixture_or_task(name)
  assert training_split.training_split_task(EN_RO) == name
  assert seqio.get_mixture_or_task(name) is twin
  # A task registered anew gets a twin of its new source.
  task = register_pair_task(f'{scratch_tasks}.pair',
                            {'train': 10, 'validation': 3})
  first = seqio.get_mixture_or_task(training_split.training_split_task(task))
  seqio.TaskRegistry.remove(task)
  register_pair_task(task, {'train': 10, 'validation': 4})
  second = seqio.get_mixture_or_task(training_split.training_split_task(task))
  assert (first.num_input_examples('validation'),
          second.num_input_examples('validation')) == (3, 4)


def test_twin_of_a_span_corruption_task():
  task = seqio.get_mixture_or_task(GD)
  twin = seqio.get_mixture_or_task(training_split.training_split_task(GD))
  n = task.num_input_examples('validation')
  assert span_corruption.is_span_corruption(twin)
  assert twin.postprocessor is task.postprocessor
  assert twin.score_metric_fns == task.score_metric_fns
  documents = numpy_examples(twin.source.get_dataset('validation'))
  assert documents == numpy_examples(
      task.source.get_dataset('train', shuffle=False).take(n))
  assert len(documents) == n == 200
  # The twin's examples are gd's own preprocessing of those documents.
  got = numpy_examples(twin.get_dataset(SHORT, split='validation',
                                        shuffle=False, seed=3))
  documents = task.source.get_dataset('train', shuffle=False).take(n)
  want = task.preprocess_postcache(task.preprocess_precache(documents, seed=3),
                                   sequence_length=SHORT, seed=3)
  want = numpy_examples(task._trim_output_features(want, SHORT))  # pylint: disable=protected-access
  assert len(got) > n  # 200 documents give more chunks at 64 input tokens
  assert_same_examples(got, want)


def test_twin_shards_its_examples_not_the_training_split():
  twin = seqio.get_mixture_or_task(training_split.training_split_task(EN_RO))
  assert not twin.source.supports_arbitrary_sharding
  assert twin.source.list_shards('validation') == ['validation']
  whole = [e['inputs_pretokenized'] for e in numpy_examples(
      twin.get_dataset(None, split='validation', shuffle=False))]
  shards = [[e['inputs_pretokenized'] for e in numpy_examples(twin.get_dataset(
      None, split='validation', shuffle=False,
      shard_info=seqio.ShardInfo(index=i, num_shards=3)))] for i in range(3)]
  assert [len(s) for s in shards] == [67, 67, 66]
  assert sorted(sum(shards, [])) == sorted(whole)
  direct = numpy_examples(twin.source.get_dataset(
      'validation', shard_info=seqio.ShardInfo(index=1, num_shards=3)))
  assert [d['en'] for d in direct] == [d['en'] for d in numpy_examples(
      twin.source.get_dataset('validation'))][1::3]
  with pytest.raises(ValueError, match="a training-split twin has no 'train' "
                     "split: its one split is 'validation'"):
    twin.source.get_dataset('train')


def test_twin_of_a_text_line_source(tmp_path, scratch_tasks):
  files = {}
  for split, count in (('train', 30), ('validation', 5)):
    files[split] = str(tmp_path / f'{split}.txt')
    with open(files[split], 'w') as f:
      f.writelines(f'{split} document {i} .\n' for i in range(count))
  name = f'{scratch_tasks}.lines'
  span_corruption.register_task(name, seqio.TextLineDataSource(
      files, num_input_examples={'train': 30, 'validation': 5}),
                                vocab.SYNTHETIC_VOCABULARY)
  twin = seqio.get_mixture_or_task(training_split.training_split_task(name))
  lines = [x.decode() for x in numpy_examples(
      twin.source.get_dataset('validation'))]
  assert lines == [f'train document {i} .' for i in range(5)]
  assert numpy_examples(twin.get_dataset(SHORT, split='validation',
                                         shuffle=False))


def bad_input_cases(scratch, tfds_dir):
  no_train = register_pair_task(f'{scratch}.no_train', {'validation': 3})
  unknown_size = register_pair_task(f'{scratch}.unknown_size',
                                    {'train': None, 'validation': None})
  no_validation = register_pair_task(f'{scratch}.no_validation', {'train': 10})
  unprepared = f'{scratch}.unprepared_tfds'
  wmt.register_task(
      unprepared, seqio.TfdsDataSource(
          'wmt16_translate/ro-en:1.0.0', splits=('train', 'validation'),
          tfds_data_dir=tfds_dir),
      source_key='en', target_key='ro', target_name='Romanian',
      vocabulary=vocab.SYNTHETIC_VOCABULARY)
  twin = training_split.training_split_task
  return [
      (lambda: twin('ptjf_synth.xx'), "unknown task 'ptjf_synth.xx': give the "
       'name of a registered seqio task'),
      (lambda: twin('ptjf_synth.tau3.33'), "'ptjf_synth.tau3.33' is a mixture: "
       "give one of its tasks, e.g. 'ptjf_synth.en'"),
      (lambda: twin('ptjf_synth.en.train_split'), "'ptjf_synth.en.train_split' "
       "already ends with '.train_split': give the name of the task it is the "
       'twin of'),
      (lambda: twin(no_train), f"task '{no_train}' has no 'train' split (its "
       'splits: validation)'),
      (lambda: twin(unknown_size), f"task '{unknown_size}': the size of its "
       "'validation' split is unknown (its source gives None); its "
       "training-split twin reads that many training examples: give its "
       "source num_input_examples={'validation': N, ...}"),
      (lambda: twin(no_validation), f"task '{no_validation}' has no "
       "'validation' split (its splits: train)"),
      (lambda: twin(unprepared), f"task '{unprepared}': the size of its "
       "'validation' split is unknown (\"Trying to access `splits['validation']"
       "` but `splits` is empty"),
      (lambda: registry.evaluated_mixture('ptjf_synth.tau9', True),
       "unknown task or mixture 'ptjf_synth.tau9'"),
      (lambda: registry.evaluated_mixture(EN_RO, 'yes'),
       "training_split (EVALUATE_TRAINING_SPLIT) is 'yes': give True or False"),
      (lambda: registry.evaluated_mixture(unknown_size, True),
       f"task '{unknown_size}': the size of its 'validation' split is unknown"),
  ]


def test_bad_input_is_refused_in_one_line(scratch_tasks, tmp_path, no_network):
  del no_network
  for call, message in bad_input_cases(scratch_tasks, str(tmp_path)):
    before = registrations()
    with pytest.raises(ValueError) as error:
      call()
    # gin adds the configurable's name on a line of its own when it calls one
    assert message in str(error.value).splitlines()[0]
    assert registrations() == before


def test_evaluated_mixture_returns_the_name_unless_asked():
  before = registrations()
  assert registry.evaluated_mixture('ptjf_synth.tau3.33', False) == (
      'ptjf_synth.tau3.33')
  assert registry.evaluated_mixture(EN_RO, False) == EN_RO
  assert registrations() == before


def test_evaluated_mixture_holds_each_task_and_its_twin_at_its_rate():
  name = registry.evaluated_mixture('ptjf_synth.tau3.33', True)
  assert name == 'ptjf_synth.tau3.33' + registry.WITH_TRAINING_SPLIT_SUFFIX
  mixture = seqio.get_mixture_or_task(name)
  original = seqio.get_mixture_or_task('ptjf_synth.tau3.33')
  rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  assert rates == {
      **{t.name: original.get_rate(t) for t in original.tasks},
      **{t.name + '.train_split': original.get_rate(t) for t in original.tasks}}
  assert registry.evaluated_mixture('ptjf_synth.tau3.33', True) == name
  assert registry.evaluated_mixture(name, True) == name
  single = seqio.get_mixture_or_task(registry.evaluated_mixture(EN_RO, True))
  assert single.name == 'ptjf_synth.en_ro.with_train_split'
  assert sorted(t.name for t in single.tasks) == [
      EN_RO, 'ptjf_synth.en_ro.train_split']


def test_a_test_split_evaluation_leaves_the_twins_unscored(scratch_tasks):
  task = register_pair_task(f'{scratch_tasks}.with_test',
                            {'train': 10, 'validation': 3, 'test': 3})
  mixture = registry.evaluated_mixture(task, True)
  twin = task + '.train_split'
  assert evaluate._tasks(mixture, 'test') == ([task], [twin])  # pylint: disable=protected-access
  assert evaluate._tasks(mixture, 'validation') == ([task, twin], [])  # pylint: disable=protected-access


# Stand-ins for the tiny recipes' REQUIRED macros; nothing is read from them.
REQUIRED_VALUES = {'MODEL_DIR': '"/unused"',
                   'INITIAL_CHECKPOINT_PATH': '"/unused/checkpoint_1"',
                   'HIGH_RESOURCE_RATE': '0.5', 'LEARNING_RATE': '5e-3',
                   'WARMUP_STEPS': '20'}


def parse(name, *bindings):
  """Parses a recipe as t5x.train would; returns the config.gin it writes."""
  path = os.path.join(recipe.RECIPES_DIR, name + '.gin')
  recipe.parse(path, [f'{k} = {REQUIRED_VALUES[k]}'
                      for k in experiment.declared_required(path)] +
               list(bindings))
  return gin.config_str()


TINY_RECIPES = [os.path.basename(p)[:-len('.gin')] for p in recipe.recipes()
                if p.endswith('_tiny.gin')]


@pytest.mark.needs_t5x
@pytest.mark.parametrize('name', TINY_RECIPES)
def test_tiny_recipes_evaluate_the_twins_when_asked(name):
  parse(name)
  evaluated = recipe.value('train_eval/utils.DatasetConfig.mixture_or_task_name')
  assert not evaluated.endswith('.with_train_split')
  parse(name, 'EVALUATE_TRAINING_SPLIT = True')
  with_twins = recipe.value(
      'train_eval/utils.DatasetConfig.mixture_or_task_name')
  assert with_twins == evaluated + '.with_train_split'
  tasks = [t.name for t in seqio.get_mixture_or_task(with_twins).tasks]
  originals = [t.name for t in seqio.get_subtasks(
      seqio.get_mixture_or_task(evaluated))]
  assert sorted(tasks) == sorted(originals + [t + '.train_split'
                                              for t in originals])
  assert recipe.value('train/utils.DatasetConfig.mixture_or_task_name') == (
      recipe.value('MIXTURE_OR_TASK_NAME'))  # training reads what it did
  report, _ = datasets.check(data_present=False)
  assert report[1].startswith(f"train_eval: {with_twins} ({len(tasks)} tasks, "
                              "split 'validation')")


@pytest.mark.needs_t5x
def test_transfer_evaluates_both_tasks_and_their_twins():
  parse('transfer_synth_ro_fr_tiny', 'EVALUATE_TRAINING_SPLIT = True')
  mixture = recipe.value('train_eval/utils.DatasetConfig.mixture_or_task_name')
  assert mixture == 'ptjf_synth.ro_fr.high0.5.with_train_split'
  assert sorted(t.name for t in seqio.get_mixture_or_task(mixture).tasks) == [
      'ptjf_synth.en_fr', 'ptjf_synth.en_fr.train_split',
      'ptjf_synth.en_ro', 'ptjf_synth.en_ro.train_split']


@pytest.mark.needs_t5x
@pytest.mark.parametrize('twins', [False, True])
def test_ptjf_eval_reads_the_runs_evaluated_mixture(tmp_path, twins):
  bindings = ['EVALUATE_TRAINING_SPLIT = True'] if twins else []
  config = parse('transfer_synth_ro_fr_tiny', *bindings)
  path = tmp_path / 'eval.gin'
  path.write_text(evaluate.eval_config('config.gin', config))
  evaluate.parse_eval(str(path), evaluate.eval_bindings(
      'test', '/unused/checkpoint_1', '/unused'))
  mixture = recipe.value('utils.DatasetConfig.mixture_or_task_name')
  assert mixture == 'ptjf_synth.ro_fr.high0.5' + (
      '.with_train_split' if twins else '')
  assert recipe.value('utils.DatasetConfig.split') == 'test'


def write_tfds_metadata(tfds_name, data_dir, examples):
  """A TFDS dataset's split metadata, as `tfds build` leaves it, no data."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder(tfds_name, data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(
          name=str(split), shard_lengths=[examples], num_bytes=0,
          filename_template=tfds.core.ShardedFileTemplate(
              data_dir=builder.data_path, dataset_name=builder.name,
              split=str(split), filetype_suffix='tfrecord'))
      for split in builder.subsets]))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)


@pytest.mark.needs_t5x
def test_ptjf_check_reads_the_twins_sizes_from_tfds_data_dir(tmp_path, ptjf):
  data_dir = str(tmp_path / 'tfds')
  write_tfds_metadata(wmt.PAIRS['en_fr'][0], data_dir, examples=7)
  result = ptjf('check', 'pretrain_wmt_ro_fr_3layer',
                f'--workdir={tmp_path / "run"}', '--gin=LEARNING_RATE = 5e-3',
                '--gin=EVALUATE_TRAINING_SPLIT = True',
                f'--tfds_data_dir={data_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert ("    train_eval: ptjf_wmt.en_fr.with_train_split (2 tasks, split "
          "'validation')") in result.stdout


def train(model_dir, *bindings):
  result = subprocess.run(recipe.t5x_command(
      'train', [os.path.join(recipe.RECIPES_DIR, NMT + '.gin')],
      [recipe.string_binding('MODEL_DIR', str(model_dir)), 'TRAIN_STEPS = 2',
       'WARMUP_STEPS = 1', 'train.eval_steps = 1', *bindings]),
                          cwd=recipe.REPO, env=recipe.cpu_env(),
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return str(model_dir)


@pytest.mark.needs_t5x
def test_t5x_writes_training_split_summaries_only_when_asked(tmp_path):
  with_twins = train(tmp_path / 'twins', 'EVALUATE_TRAINING_SPLIT = True')
  without = train(tmp_path / 'plain')
  task = 'ptjf_synth.en_fr'
  collections = lambda d: sorted(os.listdir(os.path.join(d, 'training_eval')))
  assert collections(without) == [task]
  assert collections(with_twins) == sorted([
      task, task + '.train_split', task + '.with_train_split'])
  for run_dir, collection in ((with_twins, task + '.train_split'),
                              (with_twins, task), (without, task)):
    assert tf.io.gfile.glob(os.path.join(run_dir, 'training_eval', collection,
                                         'events.out.tfevents.*'))
    losses = summaries.scalars(run_dir, f'training_eval/{collection}')['loss']
    assert list(losses) == [2] and np.isfinite(losses[2])
  twin = summaries.scalars(with_twins, f'training_eval/{task}.train_split')
  validation = summaries.scalars(with_twins, f'training_eval/{task}')
  assert twin['loss'][2] != validation['loss'][2]  # other examples
