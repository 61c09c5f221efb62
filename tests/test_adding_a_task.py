"""The README's recipe for adding a language: one registration, one size entry."""

import pytest
import seqio

from mixtures import rates
from mixtures import registry
from mixtures import show
from mixtures import synthetic as synthetic_mixtures
from tasks import span_corruption
from tasks import synthetic
from tasks import vocab

NEW_TASK = 'my.synth_yo'


@pytest.fixture
def text_files(tmp_path):
  """A new language's corpus as text files, one document per line."""
  paths = {}
  for split, count in (('train', 300), ('validation', 20)):
    lines = [synthetic.document('fr', split, i).numpy().decode()
             for i in range(count)]
    paths[split] = str(tmp_path / f'yo-{split}.txt')
    with open(paths[split], 'w') as f:
      f.write('\n'.join(lines) + '\n')
  return paths


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
