"""The chains beyond PTJF's two stages: temperature cooldowns that keep the
whole state, PTJF with a cooldown, from English and Hindi, or with UniMax; and
the mixtures they train on."""

import os

import pytest
import seqio

from mixtures import mc4
from mixtures import registry
from mixtures import sizes
from ptjf import experiment
from ptjf import recipe

# The last stage of each chain -> (arm, what it carries, TRAIN_STEPS, mixture)
# of every stage, counted by hand from the static arm's total T: 1M (mc4_xxl),
# 500k (mc4_xl), 3,000 (synth_mc4_paper), 320 (synth_mc4_tiny). A kept state
# ends at an absolute step; a fine-tune's step restarts at 0.
CHAINS = {
    'cooldown_mc4_xxl': [('hot', 'nothing', 500_000, 'ptjf_mc4.tau5'),
                         ('cooldown', 'state', 1_000_000, 'ptjf_mc4.tau3.33')],
    'cooldown_mc4_xl': [('hot', 'nothing', 250_000, 'ptjf_mc4.tau5'),
                        ('cooldown', 'state', 500_000, 'ptjf_mc4.tau3.33')],
    'cooldown_synth_mc4_paper': [
        ('hot', 'nothing', 1500, 'ptjf_synth.paper_epochs.tau5'),
        ('cooldown', 'state', 3000, 'ptjf_synth.paper_epochs.tau3.33')],
    'cooldown_synth_mc4_tiny': [('hot', 'nothing', 160, 'ptjf_synth.tau5'),
                                ('cooldown', 'state', 320, 'ptjf_synth.tau3.33')],
    'cool_mc4_xxl': [('hot', 'nothing', 500_000, 'ptjf_mc4.tau5'),
                     ('warm', 'state', 750_000, 'ptjf_mc4.tau3.33'),
                     ('cool', 'state', 1_000_000, 'ptjf_mc4.tau1')],
    'cool_mc4_xl': [('hot', 'nothing', 250_000, 'ptjf_mc4.tau5'),
                    ('warm', 'state', 375_000, 'ptjf_mc4.tau3.33'),
                    ('cool', 'state', 500_000, 'ptjf_mc4.tau1')],
    'cool_synth_mc4_paper': [
        ('hot', 'nothing', 1500, 'ptjf_synth.paper_epochs.tau5'),
        ('warm', 'state', 2250, 'ptjf_synth.paper_epochs.tau3.33'),
        ('cool', 'state', 3000, 'ptjf_synth.paper_epochs.tau1')],
    'ptjfcool_mc4_xxl': [
        ('pretrain', 'nothing', 500_000, 'ptjf_mc4.en_only'),
        ('ptjfhot', 'parameters', 250_000, 'ptjf_mc4.tau5'),
        ('ptjfcool', 'state', 500_000, 'ptjf_mc4.tau3.33')],
    'ptjfcool_mc4_xl': [
        ('pretrain', 'nothing', 250_000, 'ptjf_mc4.en_only'),
        ('ptjfhot', 'parameters', 125_000, 'ptjf_mc4.tau5'),
        ('ptjfcool', 'state', 250_000, 'ptjf_mc4.tau3.33')],
    'ptjfcool_synth_mc4_paper': [
        ('pretrain', 'nothing', 1500, 'ptjf_synth.paper_epochs.en_only'),
        ('ptjfhot', 'parameters', 750, 'ptjf_synth.paper_epochs.tau5'),
        ('ptjfcool', 'state', 1500, 'ptjf_synth.paper_epochs.tau3.33')],
    'ptjfcool_synth_mc4_tiny': [
        ('pretrain', 'nothing', 160, 'ptjf_synth.en_only'),
        ('ptjfhot', 'parameters', 80, 'ptjf_synth.tau5'),
        ('ptjfcool', 'state', 160, 'ptjf_synth.tau3.33')],
    'ptjfenhi_mc4_xxl': [
        ('pretrainenhi', 'nothing', 500_000, 'ptjf_mc4.en_hi'),
        ('ptjfenhi', 'parameters', 500_000, 'ptjf_mc4.tau3.33')],
    'ptjfenhi_mc4_xl': [
        ('pretrainenhi', 'nothing', 250_000, 'ptjf_mc4.en_hi'),
        ('ptjfenhi', 'parameters', 250_000, 'ptjf_mc4.tau3.33')],
    'ptjfenhi_synth_mc4_paper': [
        ('pretrainenhi', 'nothing', 1500, 'ptjf_synth.paper_epochs.en_hi'),
        ('ptjfenhi', 'parameters', 1500, 'ptjf_synth.paper_epochs.tau3.33')],
    'ptjfunimax_mc4_xxl': [
        ('pretrain', 'nothing', 500_000, 'ptjf_mc4.en_only'),
        ('ptjfunimax', 'parameters', 500_000, 'ptjf_mc4.unimax')],
    'ptjfunimax_mc4_xl': [
        ('pretrain', 'nothing', 250_000, 'ptjf_mc4.en_only'),
        ('ptjfunimax', 'parameters', 250_000, 'ptjf_mc4.unimax')],
    'ptjfunimax_synth_mc4_paper': [
        ('pretrain', 'nothing', 1500, 'ptjf_synth.paper_epochs.en_only'),
        ('ptjfunimax', 'parameters', 1500, 'ptjf_synth.paper_epochs.unimax')],
}
SYNTH_LENGTHS = {'inputs': 128, 'targets': 32}  # gin/data/synth_mc4.gin


def path(name):
  return os.path.join(recipe.RECIPES_DIR, name + '.gin')


def macro(name, macro_name):
  return experiment.macro_text([path(name)], macro_name)


def includes(name, kind):
  """The gin files of `kind` ('phases', 'schedules', ...) the recipe includes."""
  with open(path(name)) as f:
    return [line for line in f if line.startswith(f"include 'gin/{kind}/")]


@pytest.mark.parametrize('name', sorted(CHAINS))
def test_each_stage_carries_and_trains_what_its_chain_says(name):
  stages = [(p.arm, p.carry, experiment.train_steps(p.recipe),
             macro(os.path.basename(p.recipe)[:-len('.gin')],
                   'MIXTURE_OR_TASK_NAME').strip("'"))
            for p in experiment.phases(name)]
  assert stages == CHAINS[name]


@pytest.mark.parametrize('name', sorted(CHAINS))
def test_a_later_stage_builds_what_the_one_before_saved(name):
  phases = experiment.phases(name)
  for before, stage in zip(phases, phases[1:]):
    before, stage = (os.path.basename(p.recipe)[:-len('.gin')]
                     for p in (before, stage))
    for kind in ('models', 'data', 'meshes', 'runs'):
      assert includes(stage, kind) == includes(before, kind), (stage, kind)


@pytest.mark.parametrize('name', sorted(CHAINS))
def test_a_kept_state_goes_on_with_the_schedule_it_had(name):
  phases = experiment.phases(name)
  for before, stage in zip(phases, phases[1:]):
    if not stage.keeps_state:
      continue
    before, stage = (os.path.basename(p.recipe)[:-len('.gin')]
                     for p in (before, stage))
    assert includes(stage, 'schedules') == includes(before, 'schedules')
    assert macro(stage, 'WARMUP_STEPS') == macro(before, 'WARMUP_STEPS')
    assert experiment.train_steps(path(stage)) > experiment.train_steps(
        path(before))


@pytest.mark.parametrize('scale', ['mc4_xxl', 'mc4_xl', 'synth_mc4_paper',
                                   'synth_mc4_tiny'])
def test_cooldowns_train_as_long_as_the_static_arm(scale):
  static = experiment.train_steps(path(f'static_{scale}'))
  ptjf = experiment.train_steps(path(f'ptjf_{scale}'))
  assert CHAINS[f'cooldown_{scale}'][-1][2] == static
  assert CHAINS[f'ptjfcool_{scale}'][-1][2] == ptjf
  if f'cool_{scale}' in CHAINS:
    assert CHAINS[f'cool_{scale}'][-1][2] == static


@pytest.mark.parametrize('name', ['ptjf_mc4.en_hi',
                                  'ptjf_synth.paper_epochs.en_hi'])
def test_english_and_hindi_mix_at_tau_3_33(name):
  mixture = seqio.get_mixture_or_task(name)
  rates = {t.name.rsplit('.', 1)[1]: mixture.get_rate(t) for t in mixture.tasks}
  # Table 2: en 13,396 and hi 75 billion characters; (75 / 13,396)^(1 / 3.33)
  # = 0.210748, so en 1 / 1.210748 and hi 0.210748 / 1.210748.
  assert rates == {'en': pytest.approx(0.825940, abs=1e-6),
                   'hi': pytest.approx(0.174060, abs=1e-6)}
  assert registry.MIXTURE_SIZES[name][0] == {
      name.replace('en_hi', 'en'): 13396.0, name.replace('en_hi', 'hi'): 75.0}


def test_a_subset_outside_its_family_is_refused():
  with pytest.raises(ValueError, match=(
      "task 'ptjf_wmt.en_fr' is not in family 'ptjf_mc4': its tasks are "
      'ptjf_mc4.en, ptjf_mc4.hi, ptjf_mc4.gu, ptjf_mc4.gd, ptjf_mc4.sw.')):
    mc4.PAPER.register_subset('en_fr', ['ptjf_mc4.en', 'ptjf_wmt.en_fr'], 3.33)
  assert 'ptjf_mc4.en_fr' not in seqio.MixtureRegistry.names()


def test_paper_epochs_unimax_reads_each_small_language_once():
  # ptjfunimax_synth_mc4_paper: 1,500 steps of batch 16, 141 tokens a chunk
  # of 128 inputs.
  budget = registry.unimax_budget(1500, 16, SYNTH_LENGTHS)
  assert budget == 1500 * 16 * 141
  name = registry.run_mixture('ptjf_synth.paper_epochs.unimax', 1500, 16,
                              SYNTH_LENGTHS)
  mixture = seqio.get_mixture_or_task(name)
  rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  small = [f'ptjf_synth.paper_epochs.{lang}' for lang in ('hi', 'sw', 'gu', 'gd')]
  for task in small:  # each holds less than a fifth of the budget: one epoch
    assert sizes.source_tokens(task) < budget / 5
    assert rates[task] * budget == pytest.approx(sizes.source_tokens(task))
  assert rates['ptjf_synth.paper_epochs.en'] == pytest.approx(
      1 - sum(rates[t] for t in small))


def test_paper_epochs_unimax_is_uniform_below_every_languages_size():
  name = registry.run_mixture('ptjf_synth.paper_epochs.unimax', 1, 1,
                              SYNTH_LENGTHS)  # 141 tokens in all
  mixture = seqio.get_mixture_or_task(name)
  assert [mixture.get_rate(t) for t in mixture.tasks] == [
      pytest.approx(0.2)] * 5
