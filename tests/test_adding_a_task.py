"""The README's recipe for adding a language: one registration, one size entry."""

import os
import textwrap

import pytest
import seqio

from mixtures import rates
from mixtures import registry
from mixtures import show
from mixtures import synthetic as synthetic_mixtures
from mixtures import wmt as wmt_mixtures
from ptjf import recipe
from tasks import span_corruption
from tasks import synthetic
from tasks import vocab
from tasks import wmt

NEW_TASK = 'my.synth_yo'
NEW_PAIR = 'my.wmt_en_de'


def write_text_files(directory):
  """A new language's corpus as text files, one document per line."""
  paths = {}
  for split, count in (('train', 300), ('validation', 20)):
    lines = [synthetic.document('fr', split, i).numpy().decode()
             for i in range(count)]
    paths[split] = str(directory / f'yo-{split}.txt')
    with open(paths[split], 'w') as f:
      f.write('\n'.join(lines) + '\n')
  return paths


@pytest.fixture
def text_files(tmp_path):
  return write_text_files(tmp_path)


@pytest.fixture
def restore_family():
  family = synthetic_mixtures.LANGUAGES
  saved = dict(family.sizes)
  yield family
  family.sizes = saved
  family.register()
  if family.unimax_name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(family.unimax_name)  # it may name NEW_TASK
  if NEW_TASK in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(NEW_TASK)


def test_new_language_joins_the_temperature_mixtures(text_files,
                                                     restore_family):
  # --- as in the README ---
  span_corruption.register_task(
      NEW_TASK,
      seqio.TextLineDataSource(text_files,
                               num_input_examples={'train': 300,
                                                   'validation': 20}),
      vocab.SYNTHETIC_VOCABULARY)
  synthetic_mixtures.LANGUAGES.add(NEW_TASK, size=300)
  # -------------------------
  mixture = seqio.get_mixture_or_task('ptjf_synth.tau3.33')
  got = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  sizes = {**{f'ptjf_synth.{l}': float(n)
              for l, n in synthetic.SPAN_LANGUAGES.items()}, NEW_TASK: 300.0}
  assert got == pytest.approx(rates.temperature(sizes, 3.33))
  assert len(got) == 6
  # The new task's share appears in the printed table ...
  rows = {r.task: r for r in show.rate_table('ptjf_synth.tau2')}
  assert rows[NEW_TASK].size == 300
  # ... and its examples flow through the mixture's batches.
  ds = seqio.get_mixture_or_task(NEW_TASK).get_dataset(
      {'inputs': 128, 'targets': 32}, split='train', shuffle=False)
  example = next(ds.as_numpy_iterator())
  assert example['targets'][-1] == vocab.SYNTHETIC_VOCABULARY.eos_id
  batch = next(seqio.get_dataset(
      'ptjf_synth.tau3.33', {'inputs': 128, 'targets': 32},
      seqio.EncDecFeatureConverter(pack=True), num_epochs=None, shuffle=True,
      seed=3, batch_size=2).as_numpy_iterator())
  assert batch['encoder_input_tokens'].shape == (2, 128)


def test_new_language_joins_unimax_by_its_tokens(text_files, restore_family):
  span_corruption.register_task(
      NEW_TASK, seqio.TextLineDataSource(
          text_files, num_input_examples={'train': 300, 'validation': 20}),
      vocab.SYNTHETIC_VOCABULARY)
  synthetic_mixtures.LANGUAGES.add(NEW_TASK, size=300)
  lengths = {'inputs': 128, 'targets': 32}
  name = registry.run_mixture('ptjf_synth.unimax', 320, 16, lengths)
  table, unit = registry.MIXTURE_SIZES[name]
  encoded = [len(vocab.SYNTHETIC_VOCABULARY.encode(line.rstrip('\n')))
             for line in list(open(text_files['train']))[:200]]
  assert unit == 'tokens'
  assert table[NEW_TASK] == pytest.approx(300 * sum(encoded) / len(encoded))
  mixture = seqio.get_mixture_or_task(name)
  budget = registry.unimax_budget(320, 16, lengths)
  for task in mixture.tasks:
    epochs = mixture.get_rate(task) / mixture.total_rate * budget / table[task.name]
    assert epochs <= 1 + 1e-9, task.name


def test_unimax_needs_a_task_that_knows_its_size(text_files, restore_family):
  span_corruption.register_task(NEW_TASK, seqio.TextLineDataSource(text_files),
                                vocab.SYNTHETIC_VOCABULARY)
  synthetic_mixtures.LANGUAGES.add(NEW_TASK, size=300)
  with pytest.raises(ValueError, match=f"task '{NEW_TASK}': its source does "
                     'not know how many training documents it has'):
    registry.run_mixture('ptjf_synth.unimax', 320, 16,
                         {'inputs': 128, 'targets': 32})


def test_unregistered_task_cannot_join(restore_family):
  with pytest.raises(ValueError, match="unknown task 'my.not_registered'"):
    restore_family.add('my.not_registered', size=10)


def test_a_task_cannot_join_twice(restore_family):
  with pytest.raises(ValueError, match="'ptjf_synth.gd' is already in family"):
    restore_family.add('ptjf_synth.gd', size=10)


# --- The README's my_tasks.py, found by every ptjf command and by T5X -------

# A language, as the README registers it; its paths are absolute since
# t5x.train runs from the repository.
MY_TASKS = """
import seqio
from mixtures import synthetic as synthetic_mixtures
from tasks import span_corruption, vocab

span_corruption.register_task(
    'my.synth_yo',
    seqio.TextLineDataSource({{'train': '{train}', 'validation': '{validation}'}},
                             num_input_examples={{'train': 300, 'validation': 20}}),
    vocab.SYNTHETIC_VOCABULARY)
synthetic_mixtures.LANGUAGES.add('my.synth_yo', size=300)
"""
BY_MODULE = '--gin.MIXTURE_OR_TASK_MODULE=\'my_tasks\''
BY_GIN_FILE = '--gin_file=user.gin'  # holds `import my_tasks`


@pytest.fixture(scope='module')
def user_dir(tmp_path_factory):
  """The directory a user runs ptjf from: my_tasks.py and a gin file."""
  directory = tmp_path_factory.mktemp('user')
  text_files = write_text_files(directory)
  (directory / 'my_tasks.py').write_text(MY_TASKS.format(**text_files))
  (directory / 'user.gin').write_text('import my_tasks\n')
  return directory


def stdout(result):
  """What a command that succeeded printed. The commands run in a process of
  their own, from the user's directory: my_tasks is theirs to import."""
  assert result.returncode == 0, result.stderr[-2000:]
  return result.stdout


def plan_rows(stdout):
  """Task -> its row of plan's first table."""
  return {line.split()[0]: line.split() for line in stdout.splitlines()
          if line.startswith('  my.') or line.startswith('  ptjf_')}


SIX_LANGUAGES = sorted([NEW_TASK, *(f'ptjf_synth.{l}'
                                    for l in synthetic.SPAN_LANGUAGES)])


@pytest.mark.needs_t5x
def test_plan_and_check_import_the_module_t5x_imports(user_dir, ptjf):
  rows = plan_rows(stdout(ptjf('plan', 'static_synth_mc4_tiny', BY_MODULE,
                               cwd=user_dir, subprocess=True)))
  assert sorted(rows) == SIX_LANGUAGES
  rate = rates.temperature({**{f'ptjf_synth.{l}': float(n) for l, n in
                               synthetic.SPAN_LANGUAGES.items()},
                            NEW_TASK: 300.0}, 3.33)[NEW_TASK]
  assert float(rows[NEW_TASK][1]) == pytest.approx(rate, abs=1e-6)
  checked = stdout(ptjf('check', 'static_synth_mc4_tiny',
                        f'--workdir={user_dir}/check', BY_MODULE, cwd=user_dir,
                        subprocess=True))
  assert "ptjf_synth.tau3.33 (6 tasks, split 'train')" in checked


@pytest.fixture
def restore_wmt():
  saved = dict(wmt_mixtures.ALL.sizes)
  yield wmt_mixtures.ALL
  wmt_mixtures.ALL.sizes = saved
  wmt_mixtures.ALL.register()
  if NEW_PAIR in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(NEW_PAIR)


@pytest.mark.needs_t5x
def test_plan_counts_a_new_pair(restore_wmt):
  # --- as in docs/tasks.md ---
  wmt.register_task(
      NEW_PAIR,
      seqio.TfdsDataSource(tfds_name='wmt14_translate/de-en:1.0.0',
                           splits=('train', 'validation', 'test')),
      source_key='en', target_key='de', target_name='German',
      vocabulary=vocab.WMT_VOCABULARY)
  wmt_mixtures.ALL.add(NEW_PAIR, size=4_508_785)
  # -------------------------
  from ptjf import plan  # pylint: disable=g-import-not-at-top
  from ptjf import preflight  # pylint: disable=g-import-not-at-top
  run, = preflight.prepare('static_wmt_ro_fr_3layer', '<workdir>', gin=[
      "MIXTURE_OR_TASK_NAME = 'ptjf_wmt.tau3.33'", 'HIGH_RESOURCE_RATE = 0.5',
      'LEARNING_RATE = 5e-3'], check_data=False)  # as ptjf plan
  tasks = {t.task: t for t in plan.plan_phase(run, (), {}, 0).tasks}
  assert sorted(tasks) == [NEW_PAIR, *(f'ptjf_wmt.en_{l}' for l in (
      'fr', 'hi', 'ro', 'zh'))]
  assert tasks[NEW_PAIR].dataset_examples == 4_508_785  # sentence pairs
  assert tasks[NEW_PAIR].rate == pytest.approx(rates.temperature(
      wmt_mixtures.ALL.sizes, 3.33)[NEW_PAIR])


@pytest.mark.needs_t5x
def test_run_checks_and_trains_with_a_gin_files_module(user_dir, ptjf):
  # ptjf run makes every check of ptjf check first, then t5x.train (run
  # from the repository) imports my_tasks itself.
  stdout(ptjf('run', 'static_synth_mc4_tiny', f'--workdir={user_dir}/run',
              BY_GIN_FILE, '--gin=TRAIN_STEPS = 2', cwd=user_dir,
              subprocess=True))
  model_dir = user_dir / 'run' / 'static'
  assert 'import my_tasks' in (model_dir / 'config.gin').read_text()
  # It evaluated every task of the mixture it trained on at its last step.
  assert sorted(t for t in os.listdir(model_dir / 'training_eval')
                if t != 'ptjf_synth.tau3.33') == SIX_LANGUAGES


@pytest.mark.needs_t5x
def test_a_missing_task_module_is_named_with_the_path_searched(monkeypatch,
                                                               tmp_path):
  monkeypatch.syspath_prepend(str(tmp_path))
  with pytest.raises(ValueError, match=(
      "^MIXTURE_OR_TASK_MODULE 'no_such_tasks': no module named "
      f"'no_such_tasks' in {tmp_path}, .*; put no_such_tasks.py in the "
      'directory you run ptjf from')):
    recipe.import_module('no_such_tasks', 'MIXTURE_OR_TASK_MODULE')
