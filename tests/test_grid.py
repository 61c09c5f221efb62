"""ptjf.grid as benchmarks/ uses it: the arms of one problem under one root,
and a run's bound values."""

import posixpath

import pytest

from ptjf import experiment
from ptjf import grid

PROBLEM = 'synth_ro_fr_paper'
# The pair's main grid as benchmarks/reproduce_pair.py gives it.
SPLIT = {'pretrain_steps': ['2400'], 'fix': 'total', 'total_steps': '2700'}
ARMS = {'static': {'high_rates': ['0.1', '0.5']},
        'ptjf': {**SPLIT, 'high_rates': ['0.1', '0.5']},
        'restart': {**SPLIT, 'high_rates': ['0.1', '0.5']},
        'transfer': SPLIT}


def lay_out(arm, given, root='/r'):
  name = f'{arm}_{PROBLEM}'
  phases = experiment.phases(name)
  return grid.lay_out(name, phases, root, grid.dimensions(name, phases, given))


def trained(laid_out):
  """Each directory a phase of the layout trains in."""
  return [posixpath.join(run.workdir, laid_out.phases[i].arm)
          for run in laid_out.runs for i in run.phase_indices(laid_out.phases)]


def test_arms_under_one_root_meet_only_at_the_shared_pretraining():
  dirs = {arm: trained(lay_out(arm, given)) for arm, given in ARMS.items()}
  assert dirs['static'] == ['/r/high0.1/static', '/r/high0.5/static']
  assert dirs['ptjf'] == ['/r/pretrain2400/pretrain', '/r/pretrain2400/high0.1/ptjf',
                          '/r/pretrain2400/high0.5/ptjf']
  assert dirs['restart'] == [
      '/r/pretrain2400_high0.1/static', '/r/pretrain2400_high0.1/restart',
      '/r/pretrain2400_high0.5/static', '/r/pretrain2400_high0.5/restart']
  # transfer fine-tunes from PTJF's pre-training: same directory, same bindings
  assert dirs['transfer'] == ['/r/pretrain2400/pretrain', '/r/pretrain2400/transfer']
  first = lay_out('ptjf', ARMS['ptjf']).firsts[0]
  (transfer,) = lay_out('transfer', ARMS['transfer']).points
  assert experiment.phase_bindings(
      experiment.phases(f'ptjf_{PROBLEM}'), 0, first.bindings) == (
          experiment.phase_bindings(experiment.phases(f'transfer_{PROBLEM}'), 0,
                                    transfer.bindings))
  everyone = [d for arm in ('static', 'ptjf', 'restart') for d in dirs[arm]]
  assert len(set(everyone)) == len(everyone)


def test_bound_reads_a_points_own_values():
  laid_out = lay_out('restart', ARMS['restart'])
  point = laid_out.points[1]
  assert grid.bound(point, 'HIGH_RESOURCE_RATE') == '0.5'
  assert grid.bound(point, 'WARMUP_STEPS') is None
  assert grid.phase_steps(laid_out, point, experiment.PassThrough({})) == [2400, 300]


@pytest.mark.parametrize('rate', [0, 1, 1.5, -0.1, float('nan'), True, '0.5'])
def test_a_rate_lies_strictly_between_0_and_1(rate):
  with pytest.raises(ValueError, match='strictly between 0 and 1'):
    grid.check_rate(rate)


@pytest.mark.parametrize('text, value', [('0.5', '0.5'), ('.30', '0.3'), ('1e-1', '0.1')])
def test_a_rate_is_written_as_bindings_and_directories_write_it(text, value):
  assert grid.high_rate(text) == value
