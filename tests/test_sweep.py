"""ptjf sweep: which runs the paper's grids make, their bindings and files."""

import collections
import itertools
import os
import shlex
import sys
import types

from absl import flags
from absl.testing import flagsaver
import pytest
import seqio

from mixtures import registry
from ptjf import child
from ptjf import experiment
from ptjf import grid
from ptjf import recipe
from ptjf import sweep

LRS = ('0.00025', '0.0005', '0.0025', '0.005', '0.0075')
HIGHS = ('0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9')
WARMUPS = ('10000', '20000', '30000', '40000')


def commands(name, root='/r', extra=experiment.PassThrough({}), **given):
  """The printed `ptjf run` commands of a sweep, parsed back as bash would."""
  phases = experiment.phases(name)
  plan = grid.lay_out(name, phases, root,
                      grid.dimensions(name, phases, given, extra))
  lines = sweep.commands_text(plan, extra).splitlines()
  return [shlex.split(line) for line in lines if not line.startswith('#')]


def text(name, root='/r', extra=experiment.PassThrough({}), **given):
  """The printed lines of a sweep, comments included."""
  phases = experiment.phases(name)
  plan = grid.lay_out(name, phases, root,
                      grid.dimensions(name, phases, given, extra))
  grid.check_lengths(plan, extra)
  return sweep.commands_text(plan, extra).splitlines()


def flag_values(argv):
  """{'--gin': [...], ...} of a parsed `ptjf run` command."""
  assert argv[:2] == ['ptjf', 'run']
  values = collections.defaultdict(list)
  for arg in argv[3:]:
    name, _, value = arg.partition('=')
    values[name].append(value)
  return values


def split(cmds):
  firsts = [flag_values(c) for c in cmds if '--phase=first' in c]
  points = [flag_values(c) for c in cmds if '--phase=first' not in c]
  return firsts, points


def test_ptjf_ro_fr_shares_one_pretraining_per_learning_rate():
  cmds = commands('ptjf_wmt_ro_fr_3layer')
  assert all(c[2] == 'ptjf_wmt_ro_fr_3layer' for c in cmds)
  firsts, points = split(cmds)
  assert len(firsts) == 5 and len(points) == 5 * 9 * 4
  assert cmds[:5] == [['ptjf', 'run', 'ptjf_wmt_ro_fr_3layer', '--phase=first',
                       f'--workdir=/r/lr{lr}', f'--gin=LEARNING_RATE={lr}']
                      for lr in LRS]
  grid = set()
  for p in points:
    assert set(p) == {'--workdir', '--pretrain_dir', '--gin', '--finetune_gin'}
    (lr,) = [b.split('=')[1] for b in p['--gin']]
    assert p['--gin'] == [f'LEARNING_RATE={lr}']
    high, warmup = p['--finetune_gin']
    assert high.startswith('HIGH_RESOURCE_RATE=')
    assert warmup.startswith('WARMUP_STEPS=')
    assert p['--pretrain_dir'] == [f'/r/lr{lr}/pretrain']
    grid.add((lr, high.split('=')[1], warmup.split('=')[1]))
  assert grid == set(itertools.product(LRS, HIGHS, WARMUPS))
  workdirs = [p['--workdir'][0] for p in points]
  assert len(set(workdirs)) == len(workdirs)
  assert '/r/lr0.005/high0.3_warmup20000' in workdirs


def test_zh_fr_recipe_fixes_the_warmup():
  firsts, points = split(commands('ptjf_wmt_zh_fr_3layer'))
  assert (len(firsts), len(points)) == (5, 45)
  assert all(len(p['--finetune_gin']) == 1 and
             p['--finetune_gin'][0].startswith('HIGH_RESOURCE_RATE=')
             for p in points)
  assert {p['--workdir'][0] for p in points} >= {'/r/lr0.005/high0.7'}


def test_restart_static_base_trains_at_the_rate_and_learning_rate():
  firsts, points = split(commands('restart_wmt_ro_fr_3layer'))
  assert (len(firsts), len(points)) == (45, 180)
  assert {tuple(f['--gin']) for f in firsts} == {
      (f'LEARNING_RATE={lr}', f'HIGH_RESOURCE_RATE={h}')
      for lr, h in itertools.product(LRS, HIGHS)}
  assert all('--finetune_gin' not in f for f in firsts)
  point = next(p for p in points
               if p['--workdir'] == ['/r/lr0.005_high0.3/warmup20000'])
  assert point['--pretrain_dir'] == ['/r/lr0.005_high0.3/static']
  assert point['--gin'] == ['LEARNING_RATE=0.005', 'HIGH_RESOURCE_RATE=0.3']
  assert point['--finetune_gin'] == ['WARMUP_STEPS=20000']


def test_restart_without_fine_tune_axis_runs_both_phases_per_point():
  firsts, points = split(commands('restart_wmt_zh_fr_3layer', root='gs://b/s'))
  assert (len(firsts), len(points)) == (0, 45)
  assert all('--pretrain_dir' not in p for p in points)
  assert points[0]['--workdir'] == ['gs://b/s/lr0.00025_high0.1']


def test_static_mc4_sweeps_the_registered_temperature_mixtures():
  firsts, points = split(commands('static_mc4_xxl'))
  assert firsts == []
  names = [registry.mixture_name('ptjf_mc4', 'tau', t) for t in (1.43, 2, 3.33, 5)]
  assert [p['--gin'] for p in points] == [
      [f'MIXTURE_OR_TASK_NAME="{n}"'] for n in names]
  assert [p['--workdir'][0] for p in points] == [
      '/r/tau1.43', '/r/tau2', '/r/tau3.33', '/r/tau5']
  for name in names:
    assert name in seqio.MixtureRegistry.names()


def test_ptjf_mc4_sweeps_the_fine_tune_temperature_only():
  firsts, points = split(commands('ptjf_mc4_xxl', taus=['3.33', '5']))
  assert firsts == [{'--phase': ['first'], '--workdir': ['/r']}]
  assert [p['--finetune_gin'] for p in points] == [
      ['MIXTURE_OR_TASK_NAME="ptjf_mc4.tau3.33"'],
      ['MIXTURE_OR_TASK_NAME="ptjf_mc4.tau5"']]
  assert commands('ptjf_mc4_xxl', taus=['none']) == [
      ['ptjf', 'run', 'ptjf_mc4_xxl', '--workdir=/r']]


def test_synth_pair_with_two_rates_prints_one_pretraining_then_two():
  phases = experiment.phases('ptjf_synth_ro_fr_tiny')
  dims = grid.dimensions('ptjf_synth_ro_fr_tiny', phases,
                         {'high_rates': ['0.3', '0.7']})
  plan = grid.lay_out('ptjf_synth_ro_fr_tiny', phases, '/tmp/sw', dims)
  assert sweep.commands_text(plan, experiment.PassThrough({})).splitlines() == [
      '# ptjf sweep ptjf_synth_ro_fr_tiny: 2 HIGH_RESOURCE_RATE',
      '# 1 pretrain run (--phase=first), shared by the ptjf runs below',
      'ptjf run ptjf_synth_ro_fr_tiny --phase=first --workdir=/tmp/sw',
      '# 2 ptjf runs from /tmp/sw/pretrain',
      'ptjf run ptjf_synth_ro_fr_tiny --workdir=/tmp/sw/high0.3 '
      '--pretrain_dir=/tmp/sw/pretrain --finetune_gin=HIGH_RESOURCE_RATE=0.3',
      'ptjf run ptjf_synth_ro_fr_tiny --workdir=/tmp/sw/high0.7 '
      '--pretrain_dir=/tmp/sw/pretrain --finetune_gin=HIGH_RESOURCE_RATE=0.7']


def test_single_phase_experiments():
  assert commands('pretrain_mc4_xxl') == [
      ['ptjf', 'run', 'pretrain_mc4_xxl', '--workdir=/r']]
  cmds = commands('pretrain_wmt_ro_fr_3layer', learning_rates=['5e-3', '7.5e-3'])
  assert cmds == [['ptjf', 'run', 'pretrain_wmt_ro_fr_3layer',
                   f'--workdir=/r/lr{lr}', f'--gin=LEARNING_RATE={lr}']
                  for lr in ('0.005', '0.0075')]
  firsts, points = split(commands('static_wmt_hi_fr_6layer'))
  assert (len(firsts), len(points)) == (0, 45)


def test_mc4_xl_length_study_fixes_the_total_at_the_recipes_500k():
  lines = text('ptjf_mc4_xl', pretrain_steps=['100000', '250000', '400000'],
               fix='total', taus=['2', '5'])
  assert [line for line in lines if line.startswith('#')] == [
      '# ptjf sweep ptjf_mc4_xl: 3 pretrain TRAIN_STEPS x 2 tau',
      '# 3 pretrain runs (--phase=first), shared by the ptjf runs below',
      '# 2 ptjf runs from /r/pretrain100000/pretrain: '
      'pretrain 100000 + ptjf 400000 = 500000 steps',
      '# 2 ptjf runs from /r/pretrain250000/pretrain: '
      'pretrain 250000 + ptjf 250000 = 500000 steps',
      '# 2 ptjf runs from /r/pretrain400000/pretrain: '
      'pretrain 400000 + ptjf 100000 = 500000 steps']
  firsts, points = split(commands(
      'ptjf_mc4_xl', pretrain_steps=['100000', '250000', '400000'],
      fix='total', taus=['2', '5']))
  assert firsts == [{'--phase': ['first'], '--workdir': [f'/r/pretrain{n1}'],
                     '--pretrain_gin': [f'TRAIN_STEPS={n1}']}
                    for n1 in (100000, 250000, 400000)]
  assert [(p['--workdir'], p['--pretrain_dir'], p['--pretrain_gin'],
           p['--finetune_gin']) for p in points] == [
               ([f'/r/pretrain{n1}/tau{t}'], [f'/r/pretrain{n1}/pretrain'],
                [f'TRAIN_STEPS={n1}'],
                [f'TRAIN_STEPS={500000 - n1}',
                 f'MIXTURE_OR_TASK_NAME="ptjf_mc4.tau{t}"'])
               for n1 in (100000, 250000, 400000) for t in (2, 5)]


def test_explicit_total_steps():
  lines = text('ptjf_mc4_xl', pretrain_steps=['50000'], fix='total',
               total_steps='300000', taus=['none'])
  assert lines == [
      '# ptjf sweep ptjf_mc4_xl: 1 pretrain TRAIN_STEPS',
      '# 1 ptjf run, running both phases: '
      'pretrain 50000 + ptjf 250000 = 300000 steps',
      'ptjf run ptjf_mc4_xl --workdir=/r/pretrain50000 '
      '--pretrain_gin=TRAIN_STEPS=50000 --finetune_gin=TRAIN_STEPS=250000']


def test_nmt_length_study_fixes_the_fine_tune_across_rates():
  assert text('ptjf_synth_ro_fr_tiny', '/tmp/sw', pretrain_steps=['200', '800'],
              fix='finetune', high_rates=['0.3', '0.7']) == [
      '# ptjf sweep ptjf_synth_ro_fr_tiny: 2 pretrain TRAIN_STEPS x 2 '
      'HIGH_RESOURCE_RATE',
      '# 2 pretrain runs (--phase=first), shared by the ptjf runs below',
      'ptjf run ptjf_synth_ro_fr_tiny --phase=first '
      '--workdir=/tmp/sw/pretrain200 --pretrain_gin=TRAIN_STEPS=200',
      'ptjf run ptjf_synth_ro_fr_tiny --phase=first '
      '--workdir=/tmp/sw/pretrain800 --pretrain_gin=TRAIN_STEPS=800',
      '# 2 ptjf runs from /tmp/sw/pretrain200/pretrain: '
      'pretrain 200 + ptjf 100 = 300 steps',
      'ptjf run ptjf_synth_ro_fr_tiny --workdir=/tmp/sw/pretrain200/high0.3 '
      '--pretrain_dir=/tmp/sw/pretrain200/pretrain '
      '--pretrain_gin=TRAIN_STEPS=200 --finetune_gin=HIGH_RESOURCE_RATE=0.3',
      'ptjf run ptjf_synth_ro_fr_tiny --workdir=/tmp/sw/pretrain200/high0.7 '
      '--pretrain_dir=/tmp/sw/pretrain200/pretrain '
      '--pretrain_gin=TRAIN_STEPS=200 --finetune_gin=HIGH_RESOURCE_RATE=0.7',
      '# 2 ptjf runs from /tmp/sw/pretrain800/pretrain: '
      'pretrain 800 + ptjf 100 = 900 steps',
      'ptjf run ptjf_synth_ro_fr_tiny --workdir=/tmp/sw/pretrain800/high0.3 '
      '--pretrain_dir=/tmp/sw/pretrain800/pretrain '
      '--pretrain_gin=TRAIN_STEPS=800 --finetune_gin=HIGH_RESOURCE_RATE=0.3',
      'ptjf run ptjf_synth_ro_fr_tiny --workdir=/tmp/sw/pretrain800/high0.7 '
      '--pretrain_dir=/tmp/sw/pretrain800/pretrain '
      '--pretrain_gin=TRAIN_STEPS=800 --finetune_gin=HIGH_RESOURCE_RATE=0.7']


def test_nmt_length_study_shares_each_pretraining_across_the_paper_grid():
  firsts, points = split(commands('ptjf_wmt_ro_fr_3layer', fix='finetune',
                                  pretrain_steps=['100000', '200000']))
  assert (len(firsts), len(points)) == (2 * 5, 2 * 5 * 9 * 4)
  assert firsts[0] == {'--phase': ['first'],
                       '--workdir': ['/r/pretrain100000_lr0.00025'],
                       '--gin': ['LEARNING_RATE=0.00025'],
                       '--pretrain_gin': ['TRAIN_STEPS=100000']}
  for p in points:
    n1 = p['--pretrain_gin'][0].split('=')[1]
    assert p['--pretrain_dir'][0].startswith(f'/r/pretrain{n1}_lr')
    assert not any(b.startswith('TRAIN_STEPS') for b in p['--finetune_gin'])


def test_fix_finetune_keeps_a_fine_tune_length_given_with_finetune_gin():
  extra = experiment.PassThrough({'finetune_gin': ['TRAIN_STEPS = 300']})
  lines = text('ptjf_synth_ro_fr_tiny', extra=extra, pretrain_steps=['200'],
               fix='finetune', high_rates=['0.5'])
  assert lines[3] == ('# 1 ptjf run from /r/pretrain200/pretrain: '
                      'pretrain 200 + ptjf 300 = 500 steps')


def test_restart_length_study_runs_its_static_base_for_n1():
  lines = text('restart_mc4_xl', pretrain_steps=['100000', '400000'],
               fix='total', taus=['none'])
  assert lines == [
      '# ptjf sweep restart_mc4_xl: 2 static TRAIN_STEPS',
      '# 1 restart run, running both phases: '
      'static 100000 + restart 400000 = 500000 steps',
      'ptjf run restart_mc4_xl --workdir=/r/pretrain100000 '
      '--pretrain_gin=TRAIN_STEPS=100000 --finetune_gin=TRAIN_STEPS=400000',
      '# 1 restart run, running both phases: '
      'static 400000 + restart 100000 = 500000 steps',
      'ptjf run restart_mc4_xl --workdir=/r/pretrain400000 '
      '--pretrain_gin=TRAIN_STEPS=400000 --finetune_gin=TRAIN_STEPS=100000']


def test_pass_through_flags_reach_every_command():
  extra = experiment.PassThrough(
      {'gin': ['NUM_PARTITIONS = 1'], 'pretrain_gin': ['TRAIN_STEPS=10'],
       'finetune_gin': ["EVAL_NAME='a b'"]},
      ['gin/meshes/gpu_host.gin'], 'gs://b/tfds')
  cmds = commands('ptjf_synth_ro_fr_tiny', extra=extra, high_rates=['0.5'])
  assert len(cmds) == 2
  for c in cmds:
    values = flag_values(c)
    assert values['--gin'] == ['NUM_PARTITIONS = 1']
    assert values['--pretrain_gin'] == ['TRAIN_STEPS=10']
    assert values['--gin_file'] == ['gin/meshes/gpu_host.gin']
    assert values['--tfds_data_dir'] == ['gs://b/tfds']
  # ptjf run refuses --finetune_gin with --phase=first: the fine-tune gets it.
  assert '--finetune_gin' not in flag_values(cmds[0])
  assert flag_values(cmds[1])['--finetune_gin'] == [
      'HIGH_RESOURCE_RATE=0.5', "EVAL_NAME='a b'"]


def test_a_stage_axis_binds_its_stage_alone_and_shares_the_first_stage():
  lines = text('ptjfcool_synth_mc4_tiny', '/s', stage_axis=[
      'ptjfcool:tau=2,3.33', 'ptjfhot:WARMUP_STEPS=5,10'])
  assert lines[:4] == [
      '# ptjf sweep ptjfcool_synth_mc4_tiny: 2 ptjfcool tau x 2 ptjfhot '
      'WARMUP_STEPS',
      '# 1 pretrain run (--phase=first), shared by the ptjfcool runs below',
      'ptjf run ptjfcool_synth_mc4_tiny --phase=first --workdir=/s',
      '# 4 ptjfcool runs from /s/pretrain']
  firsts, points = split(commands('ptjfcool_synth_mc4_tiny', '/s', stage_axis=[
      'ptjfcool:tau=2,3.33', 'ptjfhot:WARMUP_STEPS=5,10']))
  assert [(p['--workdir'], p['--pretrain_dir'], p['--stage_gin'])
          for p in points] == [
              ([f'/s/ptjfcool-tau{t}_ptjfhot-warmup{w}'], ['/s/pretrain'],
               [f'ptjfcool:MIXTURE_OR_TASK_NAME="ptjf_synth.tau{t}"',
                f'ptjfhot:WARMUP_STEPS={w}'])
              for t in ('2', '3.33') for w in (5, 10)]
  assert all(set(p) == {'--workdir', '--pretrain_dir', '--stage_gin'}
             for p in points)


def test_a_stage_axis_of_the_first_stage_gives_each_value_its_first_run():
  firsts, points = split(commands('cool_synth_mc4_paper', stage_axis=[
      'hot:tau=5,10', 'cool:MIXTURE_OR_TASK_NAME=ptjf_synth.paper_epochs.tau2']))
  assert firsts == [{'--phase': ['first'], '--workdir': [f'/r/hot-tau{t}'],
                     '--stage_gin': [
                         f'hot:MIXTURE_OR_TASK_NAME="ptjf_synth.paper_epochs.tau{t}"']}
                    for t in (5, 10)]
  assert [(p['--workdir'], p['--pretrain_dir']) for p in points] == [
      ([f'/r/hot-tau{t}/cool-mixture_or_task_name-ptjf_synth.paper_epochs.tau2'],
       [f'/r/hot-tau{t}/hot']) for t in (5, 10)]
  assert points[0]['--stage_gin'][-1] == (
      'cool:MIXTURE_OR_TASK_NAME="ptjf_synth.paper_epochs.tau2"')


def test_a_stage_axis_takes_its_stage_over_from_the_papers_grid():
  firsts, points = split(commands(
      'ptjf_wmt_ro_fr_3layer', learning_rates=['5e-3'], high_rates=['0.3'],
      stage_axis=['ptjf:WARMUP_STEPS=5000,6000']))
  assert [(p['--workdir'], p['--finetune_gin'], p['--stage_gin'])
          for p in points] == [
              ([f'/r/lr0.005/high0.3_ptjf-warmup{w}'], ['HIGH_RESOURCE_RATE=0.3'],
               [f'ptjf:WARMUP_STEPS={w}']) for w in (5000, 6000)]


def test_the_users_stage_gin_reaches_a_first_run_only_for_its_stage():
  extra = experiment.PassThrough({'stage_gin': ['pretrain:EVAL_PERIOD = 5',
                                                'ptjfcool:EVAL_PERIOD = 7']})
  cmds = commands('ptjfcool_synth_mc4_tiny', extra=extra,
                  stage_axis=['ptjfhot:tau=2'])
  assert flag_values(cmds[0])['--stage_gin'] == ['pretrain:EVAL_PERIOD = 5']
  assert flag_values(cmds[1])['--stage_gin'] == [
      'ptjfhot:MIXTURE_OR_TASK_NAME="ptjf_synth.tau2"',
      'pretrain:EVAL_PERIOD = 5', 'ptjfcool:EVAL_PERIOD = 7']


def test_taus_leave_a_cooldowns_temperatures_as_its_stages_give_them():
  assert commands('cooldown_synth_mc4_tiny') == [
      ['ptjf', 'run', 'cooldown_synth_mc4_tiny', '--workdir=/r']]
  assert commands('cool_mc4_xl', taus=['none']) == [
      ['ptjf', 'run', 'cool_mc4_xl', '--workdir=/r']]


def write_recipe(path, phase, mixture, previous=None):
  path.write_text(f"include 'gin/phases/{phase}.gin'\n"
                  f"include 'gin/data/synth_mc4.gin'\n" +
                  (f"PREVIOUS_STAGE = '{previous}'\n" if previous else '') +
                  f"MIXTURE_OR_TASK_NAME = '{mixture}'\nTRAIN_STEPS = 100\n")


def test_an_axis_of_some_stages_binds_each_of_them_with_stage_gin(tmp_path):
  write_recipe(tmp_path / 'a_x_tiny.gin', 'pretrain', 'ptjf_synth.tau5')
  write_recipe(tmp_path / 'b_x_tiny.gin', 'joint_finetune', 'ptjf_synth.en_only',
               'a_x_tiny')
  write_recipe(tmp_path / 'c_x_tiny.gin', 'joint_finetune', 'ptjf_synth.tau5',
               'b_x_tiny')
  name = str(tmp_path / 'c_x_tiny.gin')
  assert [flag_values(c)['--stage_gin'] for c in commands(name, taus=['2', '3'])
          ] == [[f'a:MIXTURE_OR_TASK_NAME="ptjf_synth.tau{t}"',
                 f'c:MIXTURE_OR_TASK_NAME="ptjf_synth.tau{t}"'] for t in (2, 3)]


def test_a_length_study_moves_the_steps_where_a_kept_state_ends():
  assert text('cooldown_synth_mc4_tiny', pretrain_steps=['100'], fix='total')[1:] == [
      '# 1 cooldown run, running both phases: hot 100 + cooldown 220 = 320 steps',
      'ptjf run cooldown_synth_mc4_tiny --workdir=/r/pretrain100 '
      '--pretrain_gin=TRAIN_STEPS=100 --finetune_gin=TRAIN_STEPS=320']
  assert text('cool_synth_mc4_paper', pretrain_steps=['1000'], fix='total')[1:] == [
      '# 1 cool run, running its 3 stages: hot 1000 + warm 750 + cool 1250 = '
      '3000 steps',
      'ptjf run cool_synth_mc4_paper --workdir=/r/pretrain1000 '
      '--pretrain_gin=TRAIN_STEPS=1000 --stage_gin=warm:TRAIN_STEPS=1750 '
      '--stage_gin=cool:TRAIN_STEPS=3000']
  assert text('cool_synth_mc4_paper', pretrain_steps=['2000'], fix='finetune')[1:] == [
      '# 1 cool run, running its 3 stages: hot 2000 + warm 750 + cool 750 = '
      '3500 steps',
      'ptjf run cool_synth_mc4_paper --workdir=/r/pretrain2000 '
      '--pretrain_gin=TRAIN_STEPS=2000 --stage_gin=warm:TRAIN_STEPS=2750 '
      '--stage_gin=cool:TRAIN_STEPS=3500']
  # the fine-tune restarts its step: only the kept state after it moves
  firsts, points = split(commands('ptjfcool_synth_mc4_tiny',
                                  pretrain_steps=['100'], fix='total',
                                  stage_axis=['ptjfhot:tau=2']))
  assert points[0]['--stage_gin'] == [
      'ptjfcool:TRAIN_STEPS=220', 'ptjfhot:MIXTURE_OR_TASK_NAME="ptjf_synth.tau2"']


def test_two_runs_never_train_one_directory():
  phases = experiment.phases('static_synth_ro_fr_tiny')
  axis = grid.AXES[1]
  twice = grid.Dimension(axis, 'gin',
                         (('high0.3', ('HIGH_RESOURCE_RATE=0.3',)),
                          ('high0.3', ('HIGH_RESOURCE_RATE=0.30',))),
                         frozenset({'static'}))
  with pytest.raises(AssertionError, match='train one directory'):
    grid.lay_out('static_synth_ro_fr_tiny', phases, '/r', [twice])


def read(path):
  with open(path) as f:
    return f.read()


def test_gin_files_restore_the_final_pretraining_checkpoint(tmp_path, ptjf):
  root = str(tmp_path / 'sw')
  result = ptjf('sweep', 'ptjf_wmt_ro_fr_3layer', f'--root={root}',
                '--format=gin', '--learning_rates=5e-3', '--high_rates=0.3,0.7',
                '--warmups=20000')
  assert result.returncode == 0, result.stderr
  pretrain = f'{root}/lr0.005/pretrain.gin'
  finetunes = [f'{root}/lr0.005/high{h}_warmup20000/ptjf.gin' for h in (0.3, 0.7)]
  assert sorted(os.path.join(d, f) for d, _, fs in os.walk(root)
                for f in fs) == sorted([pretrain, *finetunes])
  command = (f'python -m t5x.train --gin_search_paths={recipe.REPO} '
             f'--gin_file={recipe.RECIPES_DIR}/ptjf_wmt_ro_fr_3layer.gin '
             f'--gin_file={finetunes[0]}')
  assert read(finetunes[0]).splitlines() == [
      '# The ptjf phase of `ptjf sweep ptjf_wmt_ro_fr_3layer`; train it with:',
      f'# {command}',
      f'MODEL_DIR = "{root}/lr0.005/high0.3_warmup20000/ptjf"',
      f'INITIAL_CHECKPOINT_PATH = "{root}/lr0.005/pretrain/checkpoint_400000"',
      'LEARNING_RATE = 0.005',
      'HIGH_RESOURCE_RATE = 0.3',
      'WARMUP_STEPS = 20000']
  assert read(pretrain).splitlines()[2:] == [
      f'MODEL_DIR = "{root}/lr0.005/pretrain"', 'LEARNING_RATE = 0.005']
  assert command in result.stdout.splitlines()
  assert all(f in result.stdout for f in finetunes)


def test_restart_static_gin_file_runs_the_pretraining_steps(tmp_path, ptjf):
  root = str(tmp_path)
  result = ptjf('sweep', 'restart_wmt_ro_fr_3layer', f'--root={root}',
                '--format=gin', '--learning_rates=5e-3', '--high_rates=0.3',
                '--warmups=10000')
  assert result.returncode == 0, result.stderr
  static = read(f'{root}/lr0.005_high0.3/static.gin').splitlines()
  assert static[2:] == [f'MODEL_DIR = "{root}/lr0.005_high0.3/static"',
                        'TRAIN_STEPS = 400000', 'LEARNING_RATE = 0.005',
                        'HIGH_RESOURCE_RATE = 0.3']
  assert 'recipes/static_wmt_ro_fr_3layer.gin' in static[1]
  restart = read(f'{root}/lr0.005_high0.3/warmup10000/restart.gin')
  assert (f'INITIAL_CHECKPOINT_PATH = "{root}/lr0.005_high0.3/static/'
          'checkpoint_400000"') in restart.splitlines()
  assert 'TRAIN_STEPS' not in restart


def test_a_train_steps_binding_moves_the_checkpoint(tmp_path, ptjf):
  result = ptjf('sweep', 'ptjf_synth_ro_fr_tiny', f'--root={tmp_path}',
                '--format=gin', '--high_rates=0.5',
                '--pretrain_gin=TRAIN_STEPS = 60')
  assert result.returncode == 0, result.stderr
  assert 'TRAIN_STEPS = 60' in read(f'{tmp_path}/pretrain.gin').splitlines()
  assert (f'INITIAL_CHECKPOINT_PATH = "{tmp_path}/pretrain/checkpoint_60"'
          in read(f'{tmp_path}/high0.5/ptjf.gin').splitlines())


def test_restart_length_gin_files_bind_each_length_once(tmp_path, ptjf):
  root = str(tmp_path)
  result = ptjf('sweep', 'restart_mc4_xl', f'--root={root}', '--format=gin',
                '--taus=2', '--pretrain_steps=100000,400000', '--fix=total')
  assert result.returncode == 0, result.stderr
  for n1 in (100000, 400000):
    run = f'{root}/pretrain{n1}_tau2'
    assert read(f'{run}/static.gin').splitlines()[2:] == [
        f'MODEL_DIR = "{run}/static"',
        'MIXTURE_OR_TASK_NAME = "ptjf_mc4.tau2"', f'TRAIN_STEPS = {n1}']
    assert read(f'{run}/restart.gin').splitlines()[2:] == [
        f'MODEL_DIR = "{run}/restart"',
        f'INITIAL_CHECKPOINT_PATH = "{run}/static/checkpoint_{n1}"',
        'MIXTURE_OR_TASK_NAME = "ptjf_mc4.tau2"',
        f'TRAIN_STEPS = {500000 - n1}']
    assert f'# {run}/static.gin ({n1} steps)' in result.stdout.splitlines()
    assert (f'# {run}/restart.gin ({500000 - n1} steps)'
            in result.stdout.splitlines())


def test_gin_files_restore_the_stage_before_each(tmp_path, ptjf):
  result = ptjf('sweep', 'ptjfcool_synth_mc4_tiny', f'--root={tmp_path}',
                '--format=gin', '--stage_axis=ptjfcool:tau=2')
  assert result.returncode == 0, result.stderr
  point = f'{tmp_path}/ptjfcool-tau2'
  assert read(f'{point}/ptjfhot.gin').splitlines()[2:] == [
      f'MODEL_DIR = "{point}/ptjfhot"',
      f'INITIAL_CHECKPOINT_PATH = "{tmp_path}/pretrain/checkpoint_160"']
  assert read(f'{point}/ptjfcool.gin').splitlines()[2:] == [
      f'MODEL_DIR = "{point}/ptjfcool"',
      f'INITIAL_CHECKPOINT_PATH = "{point}/ptjfhot/checkpoint_80"',
      'MIXTURE_OR_TASK_NAME = "ptjf_synth.tau2"']
  assert result.stdout.splitlines()[1:] == [
      line for stage in ('pretrain', 'ptjfcool-tau2/ptjfhot',
                         'ptjfcool-tau2/ptjfcool')
      for line in (f'# {tmp_path}/{stage}.gin',
                   read(f'{tmp_path}/{stage}.gin').splitlines()[1][2:])]


def test_gin_files_are_never_overwritten(tmp_path, ptjf):
  args = ('ptjf_synth_ro_fr_tiny', f'--root={tmp_path}', '--format=gin')
  assert ptjf('sweep', *args).returncode == 0
  (tmp_path / 'high0.5' / 'ptjf.gin').write_text('mine\n')
  again = ptjf('sweep', *args)
  assert again.returncode != 0
  assert again.stderr.strip().startswith('error: ')
  assert 'already exists' in again.stderr and 'Traceback' not in again.stderr
  assert (tmp_path / 'high0.5' / 'ptjf.gin').read_text() == 'mine\n'


@pytest.mark.needs_t5x
@pytest.mark.parametrize('args', [
    ['restart_wmt_ro_fr_3layer', '--learning_rates=5e-3', '--high_rates=0.3',
     '--warmups=10000'],
    ['ptjf_mc4_xxl', '--taus=2'],
    ['restart_wmt_ro_fr_3layer', '--learning_rates=5e-3', '--high_rates=0.3',
     '--warmups=10000', '--pretrain_steps=100000', '--fix=total'],
    ['ptjfcool_synth_mc4_tiny', '--stage_axis=ptjfcool:tau=2',
     '--pretrain_steps=100', '--fix=total']])
def test_gin_files_leave_nothing_required_under_t5x(tmp_path, args, ptjf):
  result = ptjf('sweep', *args, f'--root={tmp_path}', '--format=gin')
  assert result.returncode == 0, result.stderr
  for path in (os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs):
    command = shlex.split(read(path).splitlines()[1][2:])
    gin_files = [a.split('=', 1)[1] for a in command if a.startswith('--gin_file=')]
    recipe.parse(gin_files[0], more_gin_files=gin_files[1:], finalize=False)
    assert recipe.unbound_required() == []
    assert recipe.value('MODEL_DIR') == path[:-len('.gin')]
    steps = [line.split('=')[1] for line in read(path).splitlines()
             if line.startswith('TRAIN_STEPS = ')]
    if steps:  # a phase's length is the one in its file, not its recipe's
      assert recipe.value('TRAIN_STEPS') == int(steps[0])


@pytest.mark.parametrize('args, message', [
    (['ptjf_nope'], "unknown experiment 'ptjf_nope'"),
    ([], 'give one EXPERIMENT'),
    (['ptjf_mc4_xxl', 'static_mc4_xxl'], 'got 2: ptjf_mc4_xxl static_mc4_xxl'),
    (['ptjf_mc4_xxl', '--root='], '--root is required'),
    (['ptjf_wmt_ro_fr_3layer', '--high_rates=0.3,1'], '--high_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--high_rates=0'], '--high_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--learning_rates=0'], '--learning_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--learning_rates=fast'], '--learning_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--learning_rates=inf'], '--learning_rates'),
    (['ptjf_wmt_ro_fr_3layer', '--warmups=2.5e3'], '--warmups'),
    (['ptjf_wmt_ro_fr_3layer', '--warmups=-10'], '--warmups'),
    (['ptjf_wmt_ro_fr_3layer', '--warmups='], 'at least one value'),
    (['ptjf_wmt_ro_fr_3layer', '--high_rates=0.5,0.50'], 'distinct'),
    (['static_mc4_xxl', '--taus=0'], '--taus'),
    (['ptjf_wmt_zh_fr_3layer', '--warmups=10000'],
     '--warmups: ptjf_wmt_zh_fr_3layer does not take WARMUP_STEPS'),
    (['pretrain_mc4_xxl', '--learning_rates=5e-3'],
     '--learning_rates: pretrain_mc4_xxl does not take LEARNING_RATE'),
    (['ptjf_wmt_ro_fr_3layer', '--taus=2'],
     "--taus: ptjf_wmt_ro_fr_3layer does not take a '<prefix>.tau<t>' mixture"),
    (['ptjf_wmt_ro_fr_3layer', '--gin=LEARNING_RATE = 1e-3'],
     'use --learning_rates'),
    (['static_mc4_xxl', '--pretrain_gin=TRAIN_STEPS=5'], 'has one phase'),
    (['ptjf_mc4_xxl', "--gin=MODEL_DIR='/x'"], 'MODEL_DIR is set by ptjf run'),
    # The length study.
    (['ptjf_mc4_xl', '--pretrain_steps=100000,500000', '--fix=total'],
     "--pretrain_steps=500000 leaves the ptjf no steps of the 500000 in all "
     "(pretrain_mc4_xl's 250000 + ptjf_mc4_xl's 250000): give values below "
     '500000.'),
    (['ptjf_mc4_xl', '--pretrain_steps=300000', '--fix=total',
      '--total_steps=300000'],
     '--pretrain_steps=300000 leaves the ptjf no steps of the 300000 in all '
     '(--total_steps): give values below 300000.'),
    (['ptjf_mc4_xl', '--pretrain_steps=0', '--fix=total'],
     "--pretrain_steps: '0' is not a positive whole number of steps."),
    (['ptjf_mc4_xl', '--pretrain_steps=-5', '--fix=total'],
     "--pretrain_steps: '-5' is not a positive whole number of steps."),
    (['ptjf_mc4_xl', '--pretrain_steps=2.5e5', '--fix=total'],
     "--pretrain_steps: '2.5e5' is not a positive whole number of steps."),
    (['ptjf_mc4_xl', '--pretrain_steps=100000,100_000', '--fix=total'],
     "--pretrain_steps: give distinct values, got '100000,100_000'."),
    (['ptjf_mc4_xl', '--pretrain_steps=', '--fix=total'],
     '--pretrain_steps: give at least one value.'),
    (['static_mc4_xl', '--pretrain_steps=100000', '--fix=total'],
     '--pretrain_steps: static_mc4_xl has one phase, no pre-training to '
     'lengthen; give restart_mc4_xl instead.'),
    (['pretrain_wmt_ro_fr_3layer', '--pretrain_steps=100000', '--fix=finetune'],
     'give ptjf_wmt_ro_fr_3layer, restart_wmt_ro_fr_3layer or '
     'transfer_wmt_ro_fr_3layer instead.'),
    (['ptjf_mc4_xl', '--pretrain_steps=100000', '--fix=finetune',
      '--total_steps=500000'],
     '--total_steps=500000 with --fix=finetune, where the total is N1 + the '
     "ptjf's steps: drop --total_steps, or use --fix=total."),
    (['ptjf_mc4_xl', '--pretrain_steps=100000'],
     '--pretrain_steps needs --fix=total (the ptjf gets the rest of 500000 '
     'steps) or --fix=finetune (the ptjf keeps its 250000).'),
    (['ptjf_mc4_xl', '--pretrain_steps=100000', '--fix=all'],
     '--fix=all: give --fix=total (N1 + N2 fixed) or --fix=finetune'),
    (['ptjf_mc4_xl', '--fix=total'],
     '--fix=total splits the steps of a --pretrain_steps sweep: give '
     '--pretrain_steps=N1,... too.'),
    (['ptjf_mc4_xl', '--total_steps=500000'], '--total_steps=500000 splits'),
    (['ptjf_mc4_xl', '--pretrain_steps=100000', '--fix=total',
      '--total_steps=5e5'],
     "--total_steps: '5e5' is not a positive whole number of steps."),
    (['ptjf_mc4_xl', '--pretrain_steps=100000,495000', '--fix=total'],
     "--pretrain_steps=495000 leaves the ptjf 5000 steps, no more than "
     "ptjf_mc4_xl's warm-up, WARMUP_STEPS = 10000: give values below 490000."),
    (['ptjf_mc4_xl', '--pretrain_steps=10000', '--fix=total'],
     "--pretrain_steps=10000 is no longer than pretrain_mc4_xl's warm-up, "
     'WARMUP_STEPS = 10000: give values above 10000.'),
    (['ptjf_wmt_ro_fr_3layer', '--pretrain_steps=420000', '--fix=total',
      '--warmups=10000,40000'],
     '--pretrain_steps=420000 leaves the ptjf 30000 steps, no more than '
     "ptjf_wmt_ro_fr_3layer's warm-up, WARMUP_STEPS = 40000: give values below "
     '410000.'),
    (['ptjf_wmt_ro_fr_3layer', '--pretrain_steps=100000', '--fix=finetune',
      '--warmups=50000'],
     '--fix=finetune keeps the ptjf at 50000 steps, no more than '
     "ptjf_wmt_ro_fr_3layer's warm-up, WARMUP_STEPS = 50000: shorten its "
     'warm-up, or use --fix=total.'),
    (['restart_wmt_ro_fr_3layer', '--pretrain_steps=30000', '--fix=finetune'],
     "--pretrain_steps=30000 is no longer than static_wmt_ro_fr_3layer's "
     'warm-up, WARMUP_STEPS = 40000: give values above 40000.'),
    (['ptjf_mc4_xl', '--pretrain_steps=100000', '--fix=total',
      '--pretrain_gin=TRAIN_STEPS=3'],
     '--pretrain_gin=TRAIN_STEPS=3 sets TRAIN_STEPS, which the length sweep '
     'sets: use --pretrain_steps=... instead.'),
    (['ptjf_mc4_xl', '--pretrain_steps=100000', '--fix=total',
      '--finetune_gin=TRAIN_STEPS=3'],
     'use --total_steps=... (or --fix=finetune) instead.'),
    # A stage's own axis.
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown'],
     "error: --stage_axis='cooldown' is not ARM:NAME=V1,V2,...: e.g. "
     '--stage_axis=cooldown:tau=2,3.33'),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cool down:tau=2'],
     "error: --stage_axis='cool down:tau=2' is not ARM:NAME=V1,V2,..."),
    (['cooldown_synth_mc4_tiny', '--stage_axis=ptjf:tau=2'],
     "error: --stage_axis=ptjf:tau: cooldown_synth_mc4_tiny has no stage "
     "'ptjf'; its stages: hot, cooldown."),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:HIGH_RESOURCE_RATE=0.3'],
     'error: --stage_axis=cooldown:HIGH_RESOURCE_RATE: cooldown_synth_mc4_tiny '
     'does not set HIGH_RESOURCE_RATE; sweep a macro its recipe binds or leaves '
     'REQUIRED, or tau (its temperature).'),
    (['ptjfcool_synth_mc4_tiny', '--stage_axis=pretrain:tau=2'],
     "error: --stage_axis=pretrain:tau: pretrain_synth_mc4_tiny's mixture is "
     "not a '<prefix>.tau<t>' mixture; sweep MIXTURE_OR_TASK_NAME instead."),
    (['cooldown_synth_mc4_tiny', "--stage_axis=cooldown:MODEL_DIR='/x'"],
     'error: --stage_axis=cooldown:MODEL_DIR: MODEL_DIR is set by ptjf run'),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:tau='],
     'error: --stage_axis=cooldown:tau: give at least one value.'),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:tau=2,,3'],
     "error: --stage_axis=cooldown:tau: '' is not a positive temperature."),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:tau=2,2.0'],
     "error: --stage_axis=cooldown:tau: give distinct values, got '2,2.0'."),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:WARMUP_STEPS=5,1e3'],
     "error: --stage_axis=cooldown:WARMUP_STEPS: '1e3' is not a positive whole "
     'number of steps.'),
    (['cooldown_synth_mc4_tiny',
      '--stage_axis=cooldown:MIXTURE_OR_TASK_NAME=a/b'],
     "error: --stage_axis=cooldown:MIXTURE_OR_TASK_NAME: 'a/b' is not a name "
     '(letters, digits, _ . + -).'),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:tau=2',
      '--stage_axis=cooldown:tau=3'],
     'error: --stage_axis=cooldown:tau is given twice: give all its values in '
     'one.'),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:tau=2',
      "--stage_gin=cooldown:MIXTURE_OR_TASK_NAME='ptjf_synth.tau1'"],
     "error: --stage_gin=cooldown:MIXTURE_OR_TASK_NAME='ptjf_synth.tau1' sets "
     'MIXTURE_OR_TASK_NAME, which the sweep sets: use '
     '--stage_axis=cooldown:tau=... instead.'),
    (['ptjf_wmt_ro_fr_3layer', '--warmups=10000',
      '--stage_axis=ptjf:WARMUP_STEPS=5000'],
     'error: --warmups and --stage_axis=ptjf:WARMUP_STEPS both sweep '
     'WARMUP_STEPS of ptjf: give one of them.'),
    (['cooldown_synth_mc4_tiny', '--taus=2,3.33'],
     "error: --taus: cooldown_synth_mc4_tiny's stages train at different "
     "temperatures (hot 'ptjf_synth.tau5', cooldown 'ptjf_synth.tau3.33'), "
     'which one --taus would make equal: sweep a stage\'s with '
     '--stage_axis=cooldown:tau=..., and leave --taus out.'),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:TRAIN_STEPS=400,160'],
     'error: point cooldown-steps160: --stage_axis=cooldown:TRAIN_STEPS=160: '
     'the cooldown keeps the state of the hot, which ends at step 160, so its '
     'TRAIN_STEPS = 160, the step it ends at, must exceed 160.'),
    (['cooldown_synth_mc4_tiny', '--stage_axis=cooldown:TRAIN_STEPS=400',
      '--pretrain_steps=100', '--fix=total'],
     'error: --stage_axis=cooldown:TRAIN_STEPS with --pretrain_steps'),
    (['cool_synth_mc4_paper', '--pretrain_steps=1000', '--fix=total',
      '--stage_gin=cool:TRAIN_STEPS=3100'],
     'error: --stage_gin=cool:TRAIN_STEPS=3100 sets TRAIN_STEPS, which the '
     'length sweep sets: use --total_steps=... (or --fix=finetune) instead.'),
    (['cool_synth_mc4_paper', '--pretrain_steps=2300', '--fix=total'],
     'error: --pretrain_steps=2300 leaves the cool no steps of the 3000 in all '
     "(hot_synth_mc4_paper's 1500 + warm_synth_mc4_paper's 750 + "
     "cool_synth_mc4_paper's 750): give values below 2250."),
    (['cooldown_synth_mc4_tiny', '--pretrain_steps=100,400', '--fix=finetune',
      '--finetune_gin=TRAIN_STEPS=300'],
     "error: point pretrain400: cooldown_synth_mc4_tiny's TRAIN_STEPS: the "
     'cooldown keeps the state of the hot, which ends at step 400, so its '
     'TRAIN_STEPS = 300, the step it ends at, must exceed 400.'),
    # every point is checked as its own `ptjf run` would check it
    (['ptjf_wmt_ro_fr_3layer', '--warmups=10000,60000', '--high_rates=0.3'],
     'error: point lr0.00025/high0.3_warmup60000: --warmups=60000: '
     'WARMUP_STEPS is 60000, not below TRAIN_STEPS 50000'),
    (['ptjf_mc4_xl', '--taus=none', '--pretrain_steps=100000,3000000000',
      '--fix=finetune'],
     'error: point pretrain3000000000: --pretrain_steps=3000000000: '
     'TRAIN_STEPS is 3000000000; it must be a positive integer at most '
     '2,147,483,647'),
    (['ptjf_synth_ro_fr_tiny', '--high_rates=0.3', '--root=/tmp/' + 'r' * 300],
     'error: point pretrain: --root: the name rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr... '
     'is 300 bytes long, over the 255 bytes'),
    (['ptjf_synth_ro_fr_tiny', '--high_rates=0.3', "--gin=LEARNING_RATE = 'x"],
     '''error: --gin="LEARNING_RATE = 'x" is not a gin binding: Unable to '''
     'parse value; write NAME = VALUE with a Python literal or %MACRO.'),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message,
                                                  ptjf):
  root = tmp_path / 'out'
  root_flag = [] if any(a.startswith('--root') for a in args) else [f'--root={root}']
  result = ptjf('sweep', *args, *root_flag, '--format=gin')
  assert result.returncode != 0
  assert result.stdout == ''
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
  assert message in lines[0]
  assert not root.exists()


def test_help_is_the_module_docstring(ptjf):
  result = ptjf('sweep', '--help')  # absl exits 1 after printing help
  assert 'ptjf sweep EXPERIMENT --root=DIR' in result.stdout
  assert '--learning_rates' in result.stdout
  assert '--pretrain_steps=N1,... --fix=total|finetune' in result.stdout


def test_run_runs_each_command_and_stops_at_the_first_failure(
    tmp_path, monkeypatch, capsys):
  calls = []

  def fake_run(command, log_path=None, cwd=recipe.REPO, env=None):
    """A `ptjf run` that exits at once; the third fails."""
    calls.append((command, cwd))
    return types.SimpleNamespace(returncode=0 if len(calls) < 3 else 3,
                                 signals=[])

  monkeypatch.setattr(child, 'run', fake_run)
  with flagsaver.flagsaver():
    argv = flags.FLAGS(['ptjf sweep', 'ptjf_synth_ro_fr_tiny', '--run',
                        f'--root={tmp_path}', '--high_rates=0.2,0.4,0.6'])
    with pytest.raises(SystemExit) as exit_info:
      sweep.main(argv)
  assert exit_info.value.code == 3
  assert [c[1] for c in calls] == [recipe.REPO] * 3
  assert [c[0][:4] for c in calls] == [[sys.executable, '-m', 'ptjf.cli', 'run']] * 3
  assert calls[0][0][4:] == ['ptjf_synth_ro_fr_tiny', '--phase=first',
                             f'--workdir={tmp_path}']
  assert calls[2][0][5:7] == [f'--workdir={tmp_path}/high0.4',
                              f'--pretrain_dir={tmp_path}/pretrain']
  out, err = capsys.readouterr()
  assert '[1/4] ptjf run ptjf_synth_ro_fr_tiny --phase=first' in out
  assert '[4/4]' not in out
  assert 'exit status 3' in err and f'--workdir={tmp_path}/high0.4' in err


def test_a_grid_over_the_limit_is_printed_or_written_only_with_yes(
    tmp_path, monkeypatch, ptjf):
  monkeypatch.setattr(sweep, 'MAX_RUNS', 2)
  args = ('sweep', 'ptjf_synth_ro_fr_tiny', '--high_rates=0.3,0.7')
  refused = ptjf(*args, f'--root={tmp_path}/out', '--format=gin')
  assert refused.returncode == 1 and refused.stdout == ''
  assert refused.stderr.strip() == (
      'error: this sweep makes 3 gin files, more than 2: give --yes to have '
      'them all, or fewer values to an axis flag (e.g. --learning_rates=5e-3).')
  assert not (tmp_path / 'out').exists()
  printed = ptjf(*args, '--root=/r')
  assert 'makes 3 ptjf run commands, more than 2' in printed.stderr
  allowed = ptjf(*args, '--root=/r', '--yes')
  assert allowed.returncode == 0, allowed.stderr
  assert len([l for l in allowed.stdout.splitlines() if l.startswith('ptjf run')]) == 3


def test_prepared_points_cover_every_value_of_every_axis():
  name = 'ptjf_wmt_ro_fr_3layer'
  phases = experiment.phases(name)
  laid_out = grid.lay_out(name, phases, '/r',
                          grid.dimensions(name, phases, {}))
  chosen = sweep.prepared_points(laid_out)
  assert len(laid_out.points) == 180
  assert chosen[0] == laid_out.points[0]
  assert len(chosen) == 1 + (5 - 1) + (9 - 1) + (4 - 1)
  for d in laid_out.dims:
    for _, (binding,) in d.values:
      assert any(binding in p.bindings[d.scope] for p in chosen), binding


def test_a_point_is_named_by_its_directory_under_the_root():
  name = 'ptjf_wmt_ro_fr_3layer'
  phases = experiment.phases(name)
  laid_out = grid.lay_out(name, phases, 'gs://b/r', grid.dimensions(
      name, phases, {'learning_rates': ['5e-3'], 'warmups': ['20000']}))
  assert [sweep.point_name(laid_out, r) for r in laid_out.runs[:2]] == [
      'lr0.005/pretrain', 'lr0.005/high0.1_warmup20000']
