"""Every recipe parses under T5X's gin and carries the paper's numbers."""

import math
import os
import re

import numpy as np
import pytest
import seqio

from mixtures import rates
from mixtures import sizes
from ptjf import experiment
from ptjf import recipe

pytestmark = pytest.mark.needs_t5x

ARMS = ('pretrain', 'ptjf', 'static', 'restart', 'transfer')
# Stages of longer chains: temperature cooldowns, and PTJF variants.
CHAIN_ARMS = ('hot', 'cooldown', 'warm', 'cool', 'ptjfhot', 'ptjfcool',
              'pretrainenhi', 'ptjfenhi', 'ptjfunimax')
# Stand-ins for the REQUIRED macros; nothing is read from these paths.
INITIAL_CHECKPOINT = '/nonexistent/previous/checkpoint_1000'
REQUIRED_VALUES = {
    'MODEL_DIR': "'/nonexistent/model'",
    'INITIAL_CHECKPOINT_PATH': repr(INITIAL_CHECKPOINT),
    'LEARNING_RATE': '5e-3',
    'HIGH_RESOURCE_RATE': '0.7',
    'WARMUP_STEPS': '20_000',
}
RECIPES = [os.path.basename(p)[:-len('.gin')] for p in recipe.recipes()]
# Table 4 (base, fine-tune) steps by pair and layers per side.
TABLE4 = {('zh', 3): (300_000, 300_000), ('ro', 3): (400_000, 50_000),
          ('hi', 3): (300_000, 50_000), ('zh', 6): (300_000, 300_000),
          ('ro', 6): (300_000, 50_000), ('hi', 6): (275_000, 50_000)}


def declared_required(name):
  return experiment.declared_required(os.path.join(recipe.RECIPES_DIR, name + '.gin'))


def parse(name, more_gin_files=(), **overrides):
  bindings = {k: REQUIRED_VALUES[k] for k in declared_required(name)}
  bindings.update(overrides)
  recipe.parse(os.path.join(recipe.RECIPES_DIR, name + '.gin'),
               [f'{k} = {v}' for k, v in bindings.items()],
               more_gin_files=more_gin_files)


def test_every_arm_has_recipes():
  assert {name.split('_')[0] for name in RECIPES} == set(ARMS + CHAIN_ARMS)
  assert len(RECIPES) == 87


@pytest.mark.parametrize('name', RECIPES)
def test_recipe_header_names_exactly_its_required_macros(name):
  recipe.parse(os.path.join(recipe.RECIPES_DIR, name + '.gin'), finalize=False)
  assert recipe.unbound_required() == declared_required(name)
  parse(name)
  assert recipe.unbound_required() == []


@pytest.mark.parametrize('name', RECIPES)
def test_recipe_resolves_under_t5x(name):
  parse(name)
  data = seqio.get_mixture_or_task(  # a UniMax mixture is registered here
      recipe.value('train/utils.DatasetConfig.mixture_or_task_name'))
  tasks = data.tasks if isinstance(data, seqio.Mixture) else [data]
  model = recipe.value('MODEL')
  for task in tasks:  # the model decodes with the tasks' own vocabulary
    assert task.output_features['targets'].vocabulary == model.output_vocabulary
  schedule = recipe.value('trainer.Trainer.learning_rate_fn')
  steps = recipe.value('TRAIN_STEPS')
  assert steps > 0
  assert all(math.isfinite(float(schedule(s))) for s in (0, steps // 2, steps))
  restore = recipe.value('utils.RestoreCheckpointConfig.path')
  carry = experiment.carried(os.path.join(recipe.RECIPES_DIR, name + '.gin'))
  if carry == 'parameters':
    assert restore == INITIAL_CHECKPOINT
    assert recipe.value('utils.RestoreCheckpointConfig.assignment_map') == (
        (r'state/.*', None),)
    assert recipe.value('utils.RestoreCheckpointConfig.fallback_to_scratch')
  elif carry == 'state':  # the whole state, optimizer slots and step too
    assert restore == INITIAL_CHECKPOINT
    with pytest.raises(ValueError, match='no value bound'):  # nothing dropped
      recipe.value('utils.RestoreCheckpointConfig.assignment_map')
    assert not recipe.value('utils.RestoreCheckpointConfig.fallback_to_scratch')
  else:
    assert restore == []  # from scratch: static sampling never resets


@pytest.mark.parametrize('name', [n for n in RECIPES if n.startswith('transfer_')])
def test_transfer_trains_on_the_low_task_and_evaluates_both(name):
  parse(name)
  high, low = recipe.value('HIGH_RESOURCE_TASK'), recipe.value('LOW_RESOURCE_TASK')
  assert recipe.value('MIXTURE_OR_TASK_NAME') == low
  evaluated = seqio.get_mixture_or_task(
      recipe.value('train_eval/utils.DatasetConfig.mixture_or_task_name'))
  assert sorted(t.name for t in evaluated.tasks) == sorted([high, low])


@pytest.mark.parametrize('name', [n for n in RECIPES if not n.startswith('transfer_')])
def test_other_arms_evaluate_what_they_train_on(name):
  parse(name)
  assert recipe.value('train_eval/utils.DatasetConfig.mixture_or_task_name') == (
      recipe.value('MIXTURE_OR_TASK_NAME'))


def network(name):
  parse(name)
  return recipe.value('MODEL').module.config


@pytest.mark.parametrize('name', [n for n in RECIPES if n.startswith('ptjf_')])
def test_each_finetune_builds_the_model_its_pretraining_saved(name):
  pretrain = name.replace('ptjf_', 'pretrain_', 1)
  assert network(name) == network(pretrain)


def test_headline_recipe_is_the_papers_method():
  parse('ptjf_mc4_xxl')
  assert recipe.value('MIXTURE_OR_TASK_NAME') == 'ptjf_mc4.tau3.33'
  mixture = seqio.get_mixture_or_task('ptjf_mc4.tau3.33')
  expected = rates.temperature(sizes.MC4_PAPER_CHARS_BILLIONS, 3.33)
  for lang, rate in expected.items():
    assert mixture.get_rate(seqio.get_mixture_or_task(f'ptjf_mc4.{lang}')) == (
        pytest.approx(rate))
  model = recipe.value('MODEL')
  adafactor = model.optimizer_def.hyper_params
  assert (adafactor.factored, adafactor.beta1) == (False, 0.9)
  assert (adafactor.decay_rate, adafactor.step_offset) == (0.8, 0)  # T5X's mT5
  assert model._loss_normalizing_factor == 'NUM_REAL_TARGET_TOKENS'  # pylint: disable=protected-access
  config = model.module.config
  assert (config.emb_dim, config.num_heads, config.head_dim, config.mlp_dim,
          config.num_encoder_layers, config.num_decoder_layers) == (
              4096, 64, 64, 10240, 24, 24)  # mT5-XXL
  schedule = recipe.value('trainer.Trainer.learning_rate_fn')
  # 10k linear warm-up from 0, then 1 / sqrt(step): 0.01 at 10k, 0.005 at 40k.
  for step, lr in ((0, 0.0), (2_500, 0.0025), (10_000, 0.01), (40_000, 0.005)):
    assert float(schedule(step)) == pytest.approx(lr, abs=1e-7)
  assert recipe.value('utils.RestoreCheckpointConfig.mode') == 'specific'
  assert recipe.value('partitioning.PjitPartitioner.model_parallel_submesh') == (
      1, 1, 8, 1)
  assert recipe.value('partitioning.PjitPartitioner.num_partitions') is None
  assert recipe.value(
      'partitioning.standard_logical_axis_rules.parameter_partitioning_dims') == 2
  assert recipe.value('TASK_FEATURE_LENGTHS') == {'inputs': 1024, 'targets': 229}
  assert recipe.value('BATCH_SIZE') == 1024


def test_gpu_mesh_file_after_a_recipe_replaces_its_tpu_mesh():
  parse('ptjf_mc4_xxl', more_gin_files=['gin/meshes/gpu_host.gin'])
  assert recipe.value('partitioning.PjitPartitioner.num_partitions') == 8
  assert recipe.value(
      'partitioning.PjitPartitioner.model_parallel_submesh') is None
  assert recipe.value(
      'partitioning.standard_logical_axis_rules.parameter_partitioning_dims') == 2


@pytest.mark.parametrize('name', ['pretrain_mc4_xxl', 'static_mc4_xxl',
                                  'pretrain_mc4_xl', 'static_mc4_xl'])
def test_mc4_from_scratch_holds_001_for_10k_steps_then_rsqrt(name):
  parse(name)
  schedule = recipe.value('trainer.Trainer.learning_rate_fn')
  for step, lr in ((0, 0.01), (9_999, 0.01), (10_000, 0.01), (40_000, 0.005)):
    assert float(schedule(step)) == pytest.approx(lr, rel=1e-6)


def test_mc4_step_counts():
  steps = {}
  for name in [n for n in RECIPES if '_mc4_x' in n]:
    parse(name)
    steps[name] = recipe.value('TRAIN_STEPS')
  for size, total in (('xxl', 1_000_000), ('xl', 500_000)):
    assert steps[f'pretrain_mc4_{size}'] + steps[f'ptjf_mc4_{size}'] == total
    assert steps[f'static_mc4_{size}'] == total
    assert steps[f'restart_mc4_{size}'] == steps[f'ptjf_mc4_{size}']


@pytest.mark.parametrize('pair,layers', sorted(TABLE4))
def test_wmt_recipes_carry_table_4_and_table_3(pair, layers):
  base, finetune = TABLE4[pair, layers]
  expected = {'pretrain': base, 'static': base + finetune, 'ptjf': finetune,
              'restart': finetune, 'transfer': finetune}
  for arm, steps in expected.items():
    name = f'{arm}_wmt_{pair}_fr_{layers}layer'
    parse(name)
    assert recipe.value('TRAIN_STEPS') == steps, name
    model = recipe.value('MODEL')
    config = model.module.config
    assert (config.emb_dim, config.mlp_dim, config.num_heads * config.head_dim,
            config.num_heads, config.dropout_rate, model._label_smoothing) == (  # pylint: disable=protected-access
                512, 2048, 512, 8, 0.1, 0.1)
    assert config.num_encoder_layers == config.num_decoder_layers == layers
    assert recipe.value('BATCH_SIZE') == 1024
    warmup = 40_000 if arm in ('pretrain', 'static') or pair == 'zh' else 20_000
    assert recipe.value('WARMUP_STEPS') == warmup
    task = recipe.value('MIXTURE_OR_TASK_NAME')
    if arm == 'pretrain':
      assert task == 'ptjf_wmt.en_fr'
    elif arm == 'transfer':
      assert task == f'ptjf_wmt.en_{pair}'
    else:
      assert task == f'ptjf_wmt.{pair}_fr.high0.7'


def test_nmt_schedule_warms_up_then_decays_to_zero_at_the_last_step():
  parse('ptjf_wmt_ro_fr_3layer', LEARNING_RATE='2.5e-3', WARMUP_STEPS='10_000')
  schedule = recipe.value('trainer.Trainer.learning_rate_fn')
  assert float(schedule(0)) == 0.0
  assert float(schedule(5_000)) == pytest.approx(1.25e-3)
  assert float(schedule(10_000)) == pytest.approx(2.5e-3)
  # Halfway through the cosine part: half the peak.
  assert float(schedule(30_000)) == pytest.approx(1.25e-3, rel=1e-5)
  assert float(schedule(50_000)) == pytest.approx(0.0, abs=1e-9)


def test_a_swept_rate_off_the_grid_registers_its_mixture():
  parse('static_wmt_hi_fr_6layer', HIGH_RESOURCE_RATE='0.35')
  name = recipe.value('MIXTURE_OR_TASK_NAME')
  assert name == 'ptjf_wmt.hi_fr.high0.35'
  mixture = seqio.get_mixture_or_task(name)
  assert mixture.get_rate(seqio.get_mixture_or_task('ptjf_wmt.en_hi')) == pytest.approx(0.65)


@pytest.mark.parametrize('rate', ['0', '1.0', '-0.2'])
def test_a_rate_outside_0_1_is_rejected_naming_it(rate):
  parse('static_wmt_ro_fr_3layer', HIGH_RESOURCE_RATE=rate)
  with pytest.raises(ValueError, match=rf'high_rate \(HIGH_RESOURCE_RATE\) is {re.escape(rate)}:'):
    recipe.value('MIXTURE_OR_TASK_NAME')


def test_tiny_model_vocabulary_fits_the_network():
  for name in ('ptjf_synth_mc4_tiny', 'ptjf_synth_ro_fr_tiny'):
    parse(name)
    model = recipe.value('MODEL')
    size = model.output_vocabulary.vocab_size
    assert size == 1636
    assert model.module.config.vocab_size == int(np.ceil(size / 128) * 128)
