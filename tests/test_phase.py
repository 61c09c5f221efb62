"""A binding's way from the flags to t5x.train's command line: the Bindings
carrier, a phase's share of it, and the command of each attempt."""

import os
import sys

import pytest

from ptjf import experiment
from ptjf import phase
from ptjf import recipe

PTJF = experiment.phases('ptjf_synth_mc4_tiny')


def test_bindings_merge_per_flag_later_ones_last():
  sweep_point = experiment.Bindings(finetune_gin=['HIGH_RESOURCE_RATE = 0.5'])
  user = experiment.PassThrough({'gin': ['LEARNING_RATE = 5e-3'],
                                 'finetune_gin': ['HIGH_RESOURCE_RATE = 0.7']})
  both = sweep_point + user.bindings
  assert isinstance(user.bindings, experiment.Bindings)
  assert both == experiment.Bindings(
      gin=('LEARNING_RATE = 5e-3',), finetune_gin=(
          'HIGH_RESOURCE_RATE = 0.5', 'HIGH_RESOURCE_RATE = 0.7'))
  assert dict(both) == {'gin': ('LEARNING_RATE = 5e-3',), 'pretrain_gin': (),
                        'finetune_gin': both.finetune_gin, 'stage_gin': ()}
  assert both.names() == {'LEARNING_RATE', 'HIGH_RESOURCE_RATE'}
  with pytest.raises(TypeError):
    experiment.Invocation('/w', {'gin_bindings': ['X = 1']})


def test_a_call_passes_its_bindings_then_the_users_as_flags():
  call = experiment.Invocation('/w', experiment.Bindings(gin=['A = 1']),
                               first_only=True)
  user = experiment.PassThrough(experiment.Bindings(
      gin=['B = 2'], finetune_gin=['C = 3']))
  assert call.phase == 'first'
  assert call.args('ptjf_x', user) == [
      'run', 'ptjf_x', '--phase=first', '--workdir=/w', '--gin=A = 1',
      '--gin=B = 2']


def test_each_phase_gets_its_share_in_flag_order():
  given = experiment.Bindings(gin=['A = 1'], pretrain_gin=['B = 2'],
                              finetune_gin=['C = 3'])
  assert experiment.phase_bindings(PTJF, 0, given) == ['A = 1', 'B = 2']
  assert experiment.phase_bindings(PTJF, 1, given) == ['A = 1', 'C = 3']


def test_flags_that_ptjf_run_refuses_before_reading_a_recipe():
  with pytest.raises(ValueError, match='MODEL_DIR is set by ptjf run'):
    experiment.check_flags('ptjf_x', PTJF, experiment.Bindings(
        pretrain_gin=['MODEL_DIR = "/x"']))
  with pytest.raises(ValueError, match='--finetune_gin with --phase=first'):
    experiment.check_flags('ptjf_x', PTJF, experiment.Bindings(
        finetune_gin=['C = 3']), phase='first')


def test_an_attempts_command_carries_the_phases_bindings_after_its_files():
  run = phase.PhaseRun(PTJF[1], '/w/ptjf', ['LEARNING_RATE = 5e-3'], 160, {},
                       data_seed=7)
  assert run.command(['extra.gin'], ['--multiprocess_gpu'], start_step=40) == [
      sys.executable, '-m', 't5x.train', f'--gin_search_paths={recipe.REPO}',
      f'--gin_file={PTJF[1].recipe}', '--gin_file=extra.gin',
      '--gin_bindings=MODEL_DIR = "/w/ptjf"',
      '--gin_bindings=LEARNING_RATE = 5e-3', '--gin_bindings=DATA_SEED = 47',
      '--multiprocess_gpu']
  assert run.final_checkpoint == os.path.join('/w/ptjf', 'checkpoint_160')
