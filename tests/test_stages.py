"""Chains of stages declared in gin (PREVIOUS_STAGE and the phase file a
recipe includes), followed and refused without T5X."""

import os
import re

import gin
import pytest

from ptjf import experiment


def write(directory, name, phase_file, previous=None, steps=100):
  """A recipe NAME.gin in `directory` on the tiny model, carrying what
  `phase_file` carries from `previous`."""
  lines = [f"include 'gin/phases/{phase_file}.gin'",
           "include 'gin/models/mt5_tiny.gin'",
           "include 'gin/data/synth_mc4.gin'",
           "include 'gin/schedules/rsqrt.gin'",
           "include 'gin/runs/tiny.gin'"]
  lines += [f"PREVIOUS_STAGE = '{previous}'"] if previous else []
  lines += ["MIXTURE_OR_TASK_NAME = 'ptjf_synth.tau3.33'",
            f'TRAIN_STEPS = {steps}', 'WARMUP_STEPS = 10']
  path = directory / f'{name}.gin'
  path.write_text('\n'.join(lines) + '\n')
  return str(path)


@pytest.fixture
def chain_of_three(tmp_path):
  """hot (from scratch, 100 steps) -> warm (its parameters, 100 steps) ->
  cool (warm's whole state, to step 200): the last recipe's path."""
  write(tmp_path, 'hot_x_tiny', 'pretrain')
  write(tmp_path, 'warm_x_tiny', 'joint_finetune', 'hot_x_tiny')
  return write(tmp_path, 'cool_x_tiny', 'continue', 'warm_x_tiny', steps=200)


def test_a_chain_of_three_stages_is_followed_to_its_first(tmp_path,
                                                        chain_of_three):
  last = chain_of_three
  assert experiment.phases(last) == [
      experiment.Phase('hot', str(tmp_path / 'hot_x_tiny.gin')),
      experiment.Phase('warm', str(tmp_path / 'warm_x_tiny.gin'),
                       carry='parameters'),
      experiment.Phase('cool', last, carry='state')]
  assert experiment.continuing(str(tmp_path / 'hot_x_tiny.gin')) == [
      'cool_x_tiny', 'warm_x_tiny']
  assert experiment.continuing(last) == []


def test_the_two_stage_recipes_declare_their_first_stage():
  """Every fine-tune of the paper names the recipe its name implied."""
  first = {'ptjf': 'pretrain', 'transfer': 'pretrain', 'restart': 'static'}
  for name in sorted(os.listdir(os.path.join(experiment.recipe.REPO, 'recipes'))):
    arm, rest = experiment.split(name[:-len('.gin')])
    if arm in first:
      assert [(p.arm, p.carry) for p in experiment.phases(name[:-4])] == [
          (first[arm], 'nothing'), (arm, 'parameters')], name


@pytest.mark.parametrize('stages, message', [
    ([('a_x_tiny', 'joint_finetune', 'b_x_tiny'),
      ('b_x_tiny', 'joint_finetune', 'a_x_tiny')],
     r'^the stages of b_x_tiny form a cycle \(b_x_tiny -> a_x_tiny -> '
     r'b_x_tiny, each continuing the next\): the first stage of a chain sets '
     r'no PREVIOUS_STAGE\.$'),
    ([('a_x_tiny', 'continue', 'a_x_tiny')],
     r"^a_x_tiny.gin continues from itself \(PREVIOUS_STAGE = 'a_x_tiny'\): "
     r'name the stage it follows, or drop PREVIOUS_STAGE for a first stage\.$'),
    ([('b_x_tiny', 'pretrain', None), ('a_x_tiny', 'pretrain', 'b_x_tiny')],
     r'^a_x_tiny.gin continues b_x_tiny but carries nothing from it: include '
     r'gin/phases/joint_finetune.gin \(its parameters\) or '
     r'gin/phases/continue.gin \(its whole state\), or drop PREVIOUS_STAGE\.$'),
    ([('a_x_tiny', 'continue', None)],
     r'^a_x_tiny.gin restores a checkpoint \(gin/phases/continue.gin\) but '
     r"names no stage to continue: add PREVIOUS_STAGE = '<recipe>' \(e.g. "
     r"PREVIOUS_STAGE = 'pretrain_x_tiny'\)\.$"),
    ([('a_x_tiny', 'pretrain', None), ('b_x_tiny', 'continue', 'a_x_tiny'),
      ('a_y_tiny', 'continue', 'b_x_tiny')],
     r"^a_x_tiny and a_y_tiny are stages of one chain with the same arm, 'a', "
     r'so they would train in one directory: give each stage an arm of its '
     r'own\.$'),
    ([('a_x_tiny', 'continue', 'nowhere_x_tiny')],
     r'^a_x_tiny.gin continues nowhere_x_tiny \(PREVIOUS_STAGE\), but '
     r'/.*/nowhere_x_tiny.gin does not exist: name a recipe beside it\.$'),
])
def test_a_chain_that_cannot_run_is_refused(tmp_path, stages, message):
  for name, phase_file, previous in stages:
    write(tmp_path, name, phase_file, previous)
  with pytest.raises(ValueError, match=message):
    experiment.phases(str(tmp_path / f'{stages[-1][0]}.gin'))


def test_a_previous_stage_that_is_no_name_is_refused(tmp_path):
  path = write(tmp_path, 'a_x_tiny', 'continue')
  with open(path, 'a') as f:
    f.write('PREVIOUS_STAGE = %OTHER\n')
  with pytest.raises(ValueError, match=(
      r"^a_x_tiny.gin: PREVIOUS_STAGE = %OTHER is not a recipe name: write "
      r"it quoted, e.g. PREVIOUS_STAGE = 'pretrain_mc4_xxl'\.$")):
    experiment.phases(path)


def test_stage_bindings_reach_their_stage_only(chain_of_three):
  phases = experiment.phases(chain_of_three)
  given = experiment.Bindings(gin=['A = 1'], pretrain_gin=['B = 2'],
                              finetune_gin=['C = 3'],
                              stage_gin=['cool:D = 4', 'warm: E = 5'])
  assert [experiment.phase_bindings(phases, i, given) for i in range(3)] == [
      ['A = 1', 'B = 2'], ['A = 1', 'C = 3', 'E = 5'],
      ['A = 1', 'C = 3', 'D = 4']]
  assert experiment.scope_of({'cool'}, phases) == 'stage_gin'
  assert experiment.scope_of({'warm', 'cool'}, phases) == 'finetune_gin'
  with pytest.raises(ValueError, match=(
      r"^--stage_gin='ptjf:D = 4': cool_x_tiny has no stage 'ptjf'; its "
      r'stages: hot, warm, cool\.$')):
    experiment.check_flags('cool_x_tiny', phases,
                           experiment.Bindings(stage_gin=['ptjf:D = 4']))
  with pytest.raises(ValueError, match=(
      r"^--stage_gin='D = 4' names no stage: write ARM:NAME = VALUE")):
    experiment.check_flags('cool_x_tiny', phases,
                           experiment.Bindings(stage_gin=['D = 4']))
  with pytest.raises(ValueError, match=(
      r"^--stage_gin='cool:D = 4' with --phase=first: only hot runs\.$")):
    experiment.check_flags('cool_x_tiny', phases,
                           experiment.Bindings(stage_gin=['cool:D = 4']),
                           phase='first')


@pytest.mark.needs_t5x
@pytest.mark.parametrize('binding, message', [
    ('cool:ptjf.synthetic_vocabulary.extra_ids = 50',
     r'the stages of .*cool_x_tiny.gin disagree on the vocabulary: '
     r'hot_x_tiny.gin uses .*tasks/data/synthetic.spm.model \(\+100 extra '
     r'ids\), cool_x_tiny.gin .*tasks/data/synthetic.spm.model \(\+50 extra '
     r'ids\); give every stage the same vocabulary\.'),
    ('cool:network.T5Config.emb_dim = 32',
     r'warm_x_tiny.gin and cool_x_tiny.gin build different models \(27 '
     r'parameters differ, e.g. .*\), so cool cannot take its whole state '
     r'\(gin/phases/continue.gin\); bind model settings with --gin so that '
     r'every stage gets them\.'),
    ('cool:TRAIN_STEPS = 100',
     r'cool_x_tiny.gin keeps the state of warm_x_tiny.gin, which ends at step '
     r"100, and its TRAIN_STEPS = 100 is where it ends, counted from the "
     r"chain's start: it must exceed 100, e.g. TRAIN_STEPS = 200\."),
    ('warm:WARMUP_STEPS = 100',
     r"--stage_gin='warm:WARMUP_STEPS = 100': WARMUP_STEPS is 100, not below "
     r'TRAIN_STEPS 100 \(a fine-tune must reach its learning rate\); it must '
     r'be from 1 to 99\.'),
])
def test_a_stage_that_cannot_take_what_it_carries_is_refused(
    chain_of_three, tmp_path, ptjf, binding, message):
  result = ptjf('check', chain_of_three, f'--workdir={tmp_path}/w',
                f'--stage_gin={binding}')
  assert result.returncode == 1
  assert re.fullmatch('error: ' + message, result.stderr.strip()), result.stderr
  assert not os.path.exists(tmp_path / 'w')


@pytest.mark.needs_t5x
def test_declaring_the_previous_stage_changes_no_other_binding(tmp_path):
  """Each recipe that continues another parses to the config it gives
  without its PREVIOUS_STAGE line, but for that line: no configurable reads
  the macro, so t5x.train runs the recipe as it ran before it declared it."""
  declared = 0
  for path in experiment.recipe.recipes():
    text = experiment.read(path)
    kept = [line for line in text.splitlines()
            if not line.startswith(experiment.PREVIOUS)]
    if len(kept) == len(text.splitlines()):
      continue
    bindings = ["MODEL_DIR = '/m'", "INITIAL_CHECKPOINT_PATH = '/i/checkpoint_1'"]
    experiment.recipe.parse(path, bindings, finalize=False)
    with_it = gin.config_str().splitlines()
    bare = tmp_path / os.path.basename(path)
    bare.write_text('\n'.join(kept) + '\n')
    experiment.recipe.parse(str(bare), bindings, finalize=False)
    name = experiment.macro_text([path], experiment.PREVIOUS)
    assert [line for line in with_it if line != f'PREVIOUS_STAGE = {name}'
            ] == gin.config_str().splitlines(), path
    declared += 1
  assert declared >= 32


@pytest.mark.needs_t5x
def test_unimax_in_a_stage_that_keeps_the_state_is_refused(
    chain_of_three, tmp_path, ptjf):
  """UniMax's budget would count the kept state's steps again."""
  result = ptjf('check', chain_of_three, f'--workdir={tmp_path}/w',
                "--stage_gin=cool:MIXTURE_OR_TASK_NAME = 'ptjf_synth.unimax'")
  assert result.returncode == 1
  assert result.stderr.strip().endswith(
      "cool_x_tiny.gin keeps the previous stage's state and trains on "
      'ptjf_synth.unimax, whose budget counts TRAIN_STEPS from step 0, but '
      "this stage's TRAIN_STEPS counts from the chain's start: give it a "
      "'.tau<t>' mixture, or UniMax in a stage that restores the "
      'parameters.'), result.stderr
