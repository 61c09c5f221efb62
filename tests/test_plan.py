"""`ptjf plan`: its numbers against hand computation from the paper's tables."""

import dataclasses
import os

import pytest

from mixtures import sizes
from ptjf import plan
from ptjf import preflight
from ptjf import recipe

pytestmark = pytest.mark.needs_t5x

# Table 2 characters (billions) and eq. 4 at tau = 3.33, by hand.
TABLE2 = {'en': 13396.0, 'hi': 75.0, 'gu': 3.6, 'gd': 0.8, 'sw': 4.1}
WEIGHTS = {k: (v / sum(TABLE2.values())) ** (1 / 3.33) for k, v in TABLE2.items()}
RATES = {k: w / sum(WEIGHTS.values()) for k, w in WEIGHTS.items()}
STEPS, BATCH, CHUNK = 500_000, 1024, 1137  # 1137 tokens -> 1024 inputs + 229 targets


# As ptjf plan prepares: the data need not be there yet.
@pytest.fixture(scope='module')
def xxl():
  runs = preflight.prepare('ptjf_mc4_xxl', '<workdir>', check_data=False)
  return [plan.plan_phase(r, (), {}, 0) for r in runs]


def test_phase_totals_and_rates(xxl):
  pretrain, finetune = xxl
  assert [p.run.steps for p in xxl] == [STEPS, STEPS]
  assert [p.batch for p in xxl] == [BATCH, BATCH]
  assert pretrain.lengths == finetune.lengths == {'inputs': 1024, 'targets': 229}
  assert [(t.task, t.rate) for t in pretrain.tasks] == [('ptjf_mc4.en', 1.0)]
  rates = {t.task.split('.')[1]: t.rate for t in finetune.tasks}
  assert rates == pytest.approx(RATES, rel=1e-6)


@pytest.mark.parametrize('lang', sorted(TABLE2))
def test_examples_tokens_and_epochs_per_language(xxl, lang):
  task = next(t for t in xxl[1].tasks if t.task == f'ptjf_mc4.{lang}')
  sequences = STEPS * BATCH * RATES[lang]
  training_set = sizes.MC4_MT5_TOKENS_BILLIONS[lang] * 1e9 / CHUNK
  assert task.exact  # span corruption: one example fills a row
  assert task.examples == pytest.approx(sequences, rel=1e-6)
  assert task.token_slots == pytest.approx(sequences * (1024 + 229), rel=1e-6)
  assert task.dataset_examples == pytest.approx(training_set, rel=1e-9)
  assert task.epochs == pytest.approx(sequences / training_set, rel=1e-6)


def test_warns_for_the_languages_repeated_past_max_epochs(xxl, capsys):
  warnings = plan.print_plan(xxl, max_epochs=4)
  printed = capsys.readouterr().out
  en = STEPS * BATCH * (1 + RATES['en'])
  assert f'{en:,.0f}' in printed  # English over both phases
  assert '\nboth phases\n' in printed
  epochs = {lang: STEPS * BATCH * RATES[lang] * CHUNK /
            (sizes.MC4_MT5_TOKENS_BILLIONS[lang] * 1e9) for lang in TABLE2}
  over = sorted(lang for lang, e in epochs.items() if e > 4)
  assert over == ['gd', 'gu', 'sw']  # hi is seen ~3.6 times, en well under once
  assert [w.split()[0] for w in warnings] == [f'ptjf_mc4.{l}' for l in over]


@pytest.mark.parametrize('mixture,experiment', [
    ('ptjf_mc4.unimax', 'static_mc4_xxl'),
    ('ptjf_mc4.unimax', 'static_mc4_xl'),
    ('ptjf_mc4.unimax', 'ptjf_mc4_xxl'),  # the fine-tune phase reads it
    ('ptjf_synth.unimax', 'static_synth_mc4_tiny'),
    ('ptjf_synth.unimax', 'ptjf_synth_mc4_tiny'),
])
def test_unimax_plans_keep_every_language_within_its_cap(mixture, experiment):
  binding = [f"MIXTURE_OR_TASK_NAME = '{mixture}'"]
  scope = 'finetune_gin' if experiment.startswith('ptjf_') else 'gin'
  run = preflight.prepare(experiment, '<workdir>', check_data=False,
                          **{scope: binding})[-1]
  phase = plan.plan_phase(run, (), {}, 0)
  assert {t.task for t in phase.tasks} == {
      f"{mixture.split('.')[0]}.{lang}" for lang in TABLE2}
  epochs = {t.task.split('.')[1]: t.epochs for t in phase.tasks}
  assert max(epochs.values()) <= 1 + 1e-9, epochs
  # UniMax: the languages below the cap share what is left equally, and each
  # gets at least as much as any language held at its cap.
  below = [t.sequences for t in phase.tasks if t.epochs < 1 - 1e-9]
  capped = [t.sequences for t in phase.tasks if t.epochs >= 1 - 1e-9]
  assert below and max(below) == pytest.approx(min(below), rel=1e-9)
  assert all(c <= min(below) * (1 + 1e-9) for c in capped)
  if experiment.endswith('_xxl') or experiment.endswith('_xl'):
    assert capped and len(below) == 1  # only English is left unfinished


def test_unimax_plan_of_the_static_xxl_run_by_hand():
  run = preflight.prepare('static_mc4_xxl', '<workdir>', check_data=False, gin=[
      "MIXTURE_OR_TASK_NAME = 'ptjf_mc4.unimax'"])[0]
  tasks = {t.task: t for t in plan.plan_phase(run, (), {}, 0).tasks}
  budget = 1_000_000 * BATCH * CHUNK  # tokens the run reads
  for lang in ('gd', 'gu', 'sw', 'hi'):  # each small language exactly once
    tokens = sizes.MC4_MT5_TOKENS_BILLIONS[lang] * 1e9
    assert tasks[f'ptjf_mc4.{lang}'].rate == pytest.approx(tokens / budget)
  small = sum(sizes.MC4_MT5_TOKENS_BILLIONS[l] for l in ('gd', 'gu', 'sw', 'hi'))
  assert tasks['ptjf_mc4.en'].epochs == pytest.approx(
      (budget - small * 1e9) / (sizes.MC4_MT5_TOKENS_BILLIONS['en'] * 1e9))


def test_learning_rate_milestones(xxl):
  # T5X logs at step s the rate of the update from step s - 1 to s.
  pretrain, finetune = xxl
  assert pretrain.milestones == pytest.approx(
      {1: 0.01, 10_000: 0.01, STEPS: (STEPS - 1) ** -0.5}, rel=1e-5)
  assert finetune.milestones[1] == pytest.approx(0, abs=1e-7)  # warm-up restarts
  assert finetune.milestones[10_000] == pytest.approx(0.01 * 9_999 / 10_000,
                                                      rel=1e-5)


def test_learning_rate_is_the_one_t5x_logs_at_the_step():
  # A tiny run of this config logged learning_rate/current 0.07510 at step
  # 20 and 0.15416 at step 40: 19 / 40 and 39 / 40 of 1 / sqrt(40).
  run, = preflight.prepare('static_synth_mc4_tiny', '<workdir>', gin=[
      'TRAIN_STEPS = 40', "utils.create_learning_rate_scheduler.factors = "
      "'constant * linear_warmup * rsqrt_decay'"], check_data=False)
  phase = plan.plan_phase(run, (), {}, 0)
  assert phase.milestones == pytest.approx({1: 1e-8, 40: 39 / 40 / 40 ** 0.5})
  assert plan.logged_learning_rates([20, 40]) == pytest.approx(
      [0.07510, 0.15416], abs=1e-5)
  schedule = recipe.value('trainer.Trainer.learning_rate_fn')
  assert plan.logged_learning_rates([40]) == [float(schedule(39))]


def test_unknown_training_sets_say_how_to_give_them(xxl, capsys):
  unknown = [dataclasses.replace(p, tasks=[
      dataclasses.replace(t, dataset_examples=None) if t.task ==
      'ptjf_mc4.gd' else t for t in p.tasks]) for p in xxl]
  plan.print_plan(unknown, max_epochs=4)
  assert ('? = training set unknown (ptjf_mc4.gd): give it in examples for '
          'its epochs, --task_size=ptjf_mc4.gd=EXAMPLES') in capsys.readouterr().out


def test_translation_examples_are_lower_bounds_unless_measured():
  runs = preflight.prepare('ptjf_synth_ro_fr_tiny', '<workdir>',
                           finetune_gin=['HIGH_RESOURCE_RATE = 0.3'],
                           check_data=False)
  assumed = plan.plan_phase(runs[1], (), {}, 0)
  ro = next(t for t in assumed.tasks if t.task == 'ptjf_synth.en_ro')
  assert not ro.exact and ro.examples == pytest.approx(100 * 16 * 0.7)
  assert ro.dataset_examples == 500 and ro.epochs == pytest.approx(2.24)
  measured = plan.plan_phase(runs[1], (), {'ptjf_synth.en_ro': 250.0}, 32)
  ro = next(t for t in measured.tasks if t.task == 'ptjf_synth.en_ro')
  assert ro.exact and ro.dataset_examples == 250
  assert ro.examples >= 100 * 16 * 0.7 * (1 - 1e-9)


def test_command_prints_tables_and_writes_the_schedule(tmp_path, ptjf):
  png = tmp_path / 'lr.png'
  result = ptjf('plan', 'ptjf_mc4_xxl', f'--schedule_png={png}')
  assert result.returncode == 0, result.stderr[-2000:]
  gd = STEPS * BATCH * RATES['gd']
  assert f'{gd:,.0f}' in result.stdout
  assert 'warning: ptjf_mc4.gd is seen 54.6 epochs' in result.stdout
  with open(png, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n' and os.path.getsize(png) > 10_000


def test_schedule_is_drawn_only_where_asked(tmp_path, ptjf):
  plan = lambda *flags: ptjf('plan', 'pretrain_synth_mc4_tiny', *flags,
                             cwd=tmp_path)
  unasked = plan()
  assert unasked.returncode == 0, unasked.stderr[-2000:]
  assert '--schedule_png=FILE.png or DIR draws' in unasked.stdout
  assert not os.listdir(tmp_path)
  into_dir = plan(f'--schedule_png={tmp_path}')
  assert into_dir.returncode == 0, into_dir.stderr[-2000:]
  assert os.listdir(tmp_path) == ['pretrain_synth_mc4_tiny_learning_rate.png']
  refused = plan(f'--schedule_png={tmp_path}/no_dir/lr.txt')
  assert refused.returncode == 1 and 'neither an existing directory nor a .png' in refused.stderr


@pytest.mark.parametrize('args, message', [
    (['ptjf_mc4_xxxl'], "unknown experiment 'ptjf_mc4_xxxl'"),
    (['ptjf_wmt_ro_fr_3layer'], 'leaves LEARNING_RATE unbound'),
    (['ptjf_mc4_xxl', '--task_size=ptjf_mc4.gd'], "--task_size='ptjf_mc4.gd': expected TASK=EXAMPLES"),
    (['ptjf_mc4_xxl', '--max_epochs=0'], '--max_epochs must be > 0'),
])
def test_bad_arguments(tmp_path, args, message, ptjf):
  result = ptjf('plan', *args, f'--schedule_png={tmp_path}/lr.png')
  assert result.returncode != 0 and message in result.stderr
  assert 'Traceback' not in result.stderr and not os.listdir(tmp_path)


def tau_rates(tau):
  """Eq. 4 on Table 2 at temperature tau, by hand (the synthetic languages
  keep mC4's proportions)."""
  weights = {k: (v / sum(TABLE2.values())) ** (1 / tau) for k, v in TABLE2.items()}
  return {k: w / sum(weights.values()) for k, w in weights.items()}


@pytest.fixture(scope='module')
def three_stages():
  """pretrain (160 steps, English) -> ptjfhot (parameters; 80 steps at tau 5)
  -> ptjfcool (the whole state; steps 81 to 160 at tau 3.33)."""
  runs = preflight.prepare('ptjfcool_synth_mc4_tiny', '<workdir>', check_data=False)
  return [plan.plan_phase(r, (), {}, 0) for r in runs]


def test_a_kept_state_counts_the_steps_it_trains(three_stages):
  assert [p.run.phase.arm for p in three_stages] == ['pretrain', 'ptjfhot', 'ptjfcool']
  assert [p.run.steps for p in three_stages] == [160, 80, 160]  # TRAIN_STEPS
  assert [plan.trained_steps(p.run) for p in three_stages] == [160, 80, 80]
  sequences = [160 * 16, 80 * 16, 80 * 16]
  expected = [{'en': 1.0}, tau_rates(5), tau_rates(3.33)]
  for p, n, rates in zip(three_stages, sequences, expected):
    got = {t.task.split('.')[1]: t for t in p.tasks}
    assert {k: t.sequences for k, t in got.items()} == pytest.approx(
        {k: n * r for k, r in rates.items()}, rel=1e-5)
    assert all(t.token_slots == pytest.approx(t.sequences * 160) for t in got.values())
  # The schedule goes on: T5X logs at step s the rate of the update from s - 1
  # (constant * linear_warmup * rsqrt_decay, warm-up 40, reached long before).
  assert three_stages[2].milestones == pytest.approx({81: 80 ** -0.5, 160: 159 ** -0.5})
  assert three_stages[1].milestones[1] == pytest.approx(0, abs=1e-7)  # its warm-up anew
  assert plan.boundaries(three_stages) == [(160, 'parameters'), (240, 'state')]


def test_the_last_table_sums_all_three_stages(three_stages, capsys):
  plan.print_plan(three_stages, max_epochs=4)
  printed = capsys.readouterr().out
  assert '[3/3] ptjfcool: recipes/ptjfcool_synth_mc4_tiny.gin\n' in printed
  assert '  steps 80 (its state kept: steps 81 to 160)  batch 16  ' in printed
  assert 'token slots 204,800\n  learning rate 0.1118 at step 81, 0.07931 at step 160' in printed
  assert '\nall 3 stages\n' in printed and 'both phases' not in printed
  hot, cool = tau_rates(5), tau_rates(3.33)
  total = plan.sum_tasks(three_stages)  # pylint: disable=protected-access
  by_lang = {t.task.split('.')[1]: t for t in total}
  assert {k: t.sequences for k, t in by_lang.items()} == pytest.approx(
      {k: 1280 * (hot[k] + cool[k]) + (2560 if k == 'en' else 0) for k in TABLE2},
      rel=1e-5)
  sizes_seen = {t.task: t.dataset_examples for p in three_stages for t in p.tasks}
  for lang, t in by_lang.items():
    assert t.epochs == pytest.approx(t.sequences / sizes_seen[t.task], rel=1e-9)
  en = 2560 + 1280 * (hot['en'] + cool['en'])
  assert f'ptjf_synth.en      {en:,.0f}     {en:,.0f}' in printed


def test_the_schedule_title_names_each_kind_of_boundary(three_stages):
  assert plan.schedule_title(three_stages) == (
      'Learning rate across 3 stages\n(optimizer and warm-up reset at the '
      'dotted line; only the data changes at the dashed line)')
  assert plan.schedule_title(three_stages[:2]) == (
      'Learning rate across phases (optimizer and warm-up reset at the dotted line)')
  assert plan.schedule_title(three_stages[:1]) == 'Learning rate'
