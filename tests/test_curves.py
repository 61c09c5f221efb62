"""`ptjf plot --kind=curves|best`, BLEU fronts and splits: lineages, best
values per method, figures, files and errors, on hand-made event files."""

import csv
import math
import os

from matplotlib import colors as mcolors
import numpy as np
import pytest

from ptjf import curves
from ptjf import front
from ptjf import summaries
from ptjf import tokens
from tasks import training_split

HIGH, LOW = 'syn.high', 'syn.low'
TWIN = LOW + training_split.TRAINING_SPLIT_SUFFIX
HIGH_TWIN = HIGH + training_split.TRAINING_SPLIT_SUFFIX
MIXTURE = 'ptjf_synth.tau3.33'  # registered: T5X evaluates it as a whole too

# run -> collection -> tag -> {step: value}. The ptjf runs restore
# pre/pretrain's checkpoint_20, so its step 30 is not theirs.
RUNS = {
    'pre/pretrain': {f'training_eval/{HIGH}': {'loss': {10: 3.0, 20: 2.0, 30: 1.5}}},
    'a/ptjf': {f'training_eval/{HIGH}': {'loss': {10: 2.5, 20: 1.75},
                                         'timing/seconds': {10: 9.0}},
               f'training_eval/{LOW}': {'loss': {10: 4.0, 20: 3.5}},
               f'training_eval/{TWIN}': {'loss': {10: 3.0, 20: 2.0}},
               f'training_eval/{HIGH_TWIN}': {'loss': {10: 2.0, 20: 1.5}},
               f'training_eval/{MIXTURE}': {'loss': {10: 3.0, 20: 2.5}},
               f'inference_eval/{HIGH}': {'eval/bleu': {20: 30.0}},
               f'inference_eval/{LOW}': {'eval/bleu': {20: 10.0}},
               f'test/inference_eval/{LOW}': {'eval/bleu': {20: 9.0}}},
    'b/ptjf': {f'training_eval/{HIGH}': {'loss': {10: 2.25, 20: 2.0}},
               f'training_eval/{LOW}': {'loss': {10: 3.75, 20: 3.25}},
               f'inference_eval/{HIGH}': {'eval/bleu': {20: 28.0}},
               f'inference_eval/{LOW}': {'eval/bleu': {20: 12.0}}},
    'c/static': {f'training_eval/{HIGH}': {'loss': {10: 3.5, 20: 3.0}},
                 f'training_eval/{LOW}': {'loss': {10: 3.875, 20: 3.625, 30: math.nan}},
                 f'training_eval/{TWIN}': {'loss': {10: 3.5, 20: 3.0}},
                 f'training_eval/{HIGH_TWIN}': {'loss': {10: 3.0, 20: 2.5}},
                 f'inference_eval/{HIGH}': {'eval/bleu': {30: 25.0}},
                 f'inference_eval/{LOW}': {'eval/bleu': {30: 8.0}}},
}


@pytest.fixture(scope='module')
def root(tmp_path_factory, write_events):
  base = tmp_path_factory.mktemp('runs')
  for run, collections in RUNS.items():
    for collection, tags in collections.items():
      write_events(base / run / collection, tags)
    config = (f"INITIAL_CHECKPOINT_PATH = '{base}/pre/pretrain/checkpoint_20'\n"
              if run.endswith('ptjf') else 'BATCH_SIZE = 8\n')
    (base / run / 'config.gin').write_text(
        config + f"HIGH_RESOURCE_TASK = '{HIGH}'\nLOW_RESOURCE_TASK = '{LOW}'\n")
  return str(base)


def run(root, name):
  return os.path.join(root, name)


def test_series_reads_each_split_where_t5x_wrote_it(root):
  a = run(root, 'a/ptjf')
  assert summaries.series(a, LOW, 'loss') == {10: 4.0, 20: 3.5}
  assert summaries.series(a, LOW, 'loss', 'train') == {10: 3.0, 20: 2.0}
  assert summaries.series(a, LOW, 'bleu') == {20: 10.0}  # ptjf eval's
  assert summaries.series(a, LOW, 'bleu', 'test') == {20: 9.0}
  assert summaries.series(run(root, 'b/ptjf'), HIGH, 'loss', 'train') == {}
  assert summaries.metrics(a, LOW) == ['bleu', 'loss']
  assert summaries.evaluated(a) == sorted([HIGH, LOW, TWIN, HIGH_TWIN, MIXTURE])
  with pytest.raises(ValueError, match="split 'dev' is not one of validation, "
                     'train, test'):
    summaries.series(a, LOW, 'loss', 'dev')


def test_a_missing_metric_names_the_metrics_there(root):
  with pytest.raises(front.MissingSummaries, match=r"its syn.high evaluations "
                     r"have no 'accuracy' scalar \(they have bleu, loss\)"):
    front.read(run(root, 'a/ptjf'), HIGH, 'accuracy', 'validation')
  with pytest.raises(front.MissingSummaries, match='syn.high was not evaluated '
                     'on the test split'):
    front.read(run(root, 'a/ptjf'), HIGH, 'bleu', 'test')


@pytest.mark.parametrize('metric, better, higher', [
    ('bleu', '', True), ('accuracy', '', True), ('loss', '', False),
    ('cross_entropy', '', False), ('cross_ent_loss', '', False),
    ('bleu', 'lower', False), ('z', 'higher', True)])
def test_direction_from_the_name_or_the_flag(metric, better, higher):
  assert summaries.higher_is_better(metric, better) is higher


def test_unknown_direction_needs_the_flag():
  with pytest.raises(ValueError, match="metric 'z' does not say whether higher "
                     'or lower is better: pass --better=higher or --better=lower'):
    summaries.higher_is_better('z')


def test_lineage_offsets_a_fine_tune_by_its_restored_checkpoint(root):
  a, pre = run(root, 'a/ptjf'), run(root, 'pre/pretrain')
  assert curves.lineage(a) == [curves.Phase(pre, 0, 20), curves.Phase(a, 20, None)]
  assert curves.lineage(pre) == [curves.Phase(pre, 0, None)]
  c = curves.curve(a, 'ptjf', HIGH, 'loss', 'validation')
  # The pre-training's step 30 came after the checkpoint a/ptjf restored.
  assert [(p.run_dir, p.step, p.total_step, p.value) for p in c.points] == [
      (pre, 10, 10, 3.0), (pre, 20, 20, 2.0), (a, 10, 30, 2.5), (a, 20, 40, 1.75)]
  assert [p.step for p in c.own()] == [10, 20]


def test_a_moved_parent_still_offsets_steps(tmp_path, write_events):
  child = tmp_path / 'ptjf'
  write_events(child / 'training_eval' / LOW, {'loss': {5: 1.0}})
  (child / 'config.gin').write_text(
      f"INITIAL_CHECKPOINT_PATH = '{tmp_path}/gone/checkpoint_7'\n")
  c = curves.curve(str(child), 'ptjf', LOW, 'loss', 'validation')
  assert [(p.step, p.total_step) for p in c.points] == [(5, 12)]


# What T5X's config.gin binds for each way a stage restores its checkpoint.
JOINT_FINETUNE_RESTORE = """utils.RestoreCheckpointConfig.assignment_map = (('state/.*', None),)
utils.RestoreCheckpointConfig.fallback_to_scratch = True
utils.RestoreCheckpointConfig.path = %INITIAL_CHECKPOINT_PATH
"""
CONTINUE_RESTORE = """utils.RestoreCheckpointConfig.fallback_to_scratch = False
utils.RestoreCheckpointConfig.path = %INITIAL_CHECKPOINT_PATH
"""


@pytest.fixture
def chain(tmp_path, write_events):
  """pre/pretrain -> pre/hot (parameters, from its step 20, steps from 0) ->
  pre/cool (the whole state, from hot's step 10, steps from 10)."""
  stages = {'pretrain': ({10: 3.0, 20: 2.0, 30: 1.5}, ''),
            'hot': ({5: 1.8, 10: 1.6, 15: 1.4},
                    'pretrain/checkpoint_20', JOINT_FINETUNE_RESTORE),
            'cool': ({15: 1.5, 20: 1.25}, 'hot/checkpoint_10', CONTINUE_RESTORE)}
  for arm, (losses, *restore) in stages.items():
    write_events(tmp_path / 'pre' / arm / 'training_eval' / LOW, {'loss': losses})
    config = 'BATCH_SIZE = 8\n'
    if restore[0]:
      config += (f"INITIAL_CHECKPOINT_PATH = '{tmp_path}/pre/{restore[0]}'\n"
                 + restore[1])
    (tmp_path / 'pre' / arm / 'config.gin').write_text(config)
  return {arm: str(tmp_path / 'pre' / arm) for arm in stages}


def test_a_kept_state_stage_goes_on_from_its_parents_step(chain):
  pre, hot, cool = chain['pretrain'], chain['hot'], chain['cool']
  assert tokens.parent(hot) == tokens.Restored(pre, 20, keeps_state=False)
  assert tokens.parent(cool) == tokens.Restored(hot, 10, keeps_state=True)
  # hot's step 0 is the chain's 20; cool's step 10 is hot's 10, the chain's 30.
  assert curves.lineage(cool) == [curves.Phase(pre, 0, 20),
                                  curves.Phase(hot, 20, 10),
                                  curves.Phase(cool, 20, None)]
  c = curves.curve(cool, 'cool', LOW, 'loss', 'validation')
  assert [(p.run_dir, p.step, p.total_step) for p in c.points] == [
      (pre, 10, 10), (pre, 20, 20), (hot, 5, 25), (hot, 10, 30),
      (cool, 15, 35), (cool, 20, 40)]


def test_tokens_of_a_chain_count_every_stage_once(monkeypatch, chain):
  pre, hot, cool = chain['pretrain'], chain['hot'], chain['cool']
  mixtures = {pre: 'en', hot: 'tau5', cool: 'tau3'}
  per_step = {'en': 1.0, 'tau5': 100.0, 'tau3': 10_000.0}
  monkeypatch.setattr(tokens, 'run_settings', lambda r: (mixtures[r], (), 4))
  monkeypatch.setattr(tokens, 'tokens_per_step',
                      lambda m, t, lengths, batch: per_step[m])
  # cool trained steps 10 to 20 itself, after hot's 10 and pretrain's 20.
  assert tokens.tokens_seen(cool, LOW, 20) == 10 * 10_000 + 10 * 100 + 20 * 1
  c = curves.curve(cool, 'cool', LOW, 'loss', 'validation')
  curves.add_tokens(c)
  assert [p.tokens for p in c.points] == [
      10, 20, 20 + 500, 20 + 1000, 1020 + 50_000, 1020 + 100_000]


def test_curves_command_puts_each_stage_after_the_one_it_continues(
    chain, tmp_path, ptjf):
  result = ptjf('plot', chain['cool'], chain['hot'], '--kind=curves',
                f'--output={tmp_path}/c')
  assert result.returncode == 0, result.stderr
  with open(tmp_path / 'c.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  assert [(r['method'], os.path.basename(r['run_dir']), r['total_step'])
          for r in rows] == [
      ('cool', 'pretrain', '10'), ('cool', 'pretrain', '20'),
      ('cool', 'hot', '25'), ('cool', 'hot', '30'), ('cool', 'cool', '35'),
      ('cool', 'cool', '40'), ('hot', 'pretrain', '10'),
      ('hot', 'pretrain', '20'), ('hot', 'hot', '25'), ('hot', 'hot', '30'),
      ('hot', 'hot', '35')]


def test_best_per_method_and_its_table(root):
  found, tasks = curves.collect([root], [], 'loss', ['validation'], False)
  assert tasks == [HIGH, LOW]  # neither the mixture nor the twins
  # best own syn.low loss: a 3.5@20, b 3.25@20 -> b; static 3.625@20 (NaN never)
  best = curves.best_table(found, higher=False)
  assert [(b.task, b.method, b.point.value, b.point.run_dir, b.point.step,
           b.point.total_step) for b in best] == [
      (HIGH, 'pretrain', 1.5, run(root, 'pre/pretrain'), 30, 30),
      (HIGH, 'ptjf', 1.75, run(root, 'a/ptjf'), 20, 40),
      (HIGH, 'static', 3.0, run(root, 'c/static'), 20, 20),
      (LOW, 'ptjf', 3.25, run(root, 'b/ptjf'), 20, 40),
      (LOW, 'static', 3.625, run(root, 'c/static'), 20, 20)]
  text = curves.best_text(best, 'loss', higher=False)
  assert text.splitlines()[1:] == [
      'task      pretrain  ptjf     static',
      'syn.high  1.5000*   1.7500   3.0000',
      'syn.low             3.2500*  3.6250']


def test_runs_best_keeps_each_methods_best_run_for_every_split(root):
  found, _ = curves.collect([root], [LOW], 'loss', ['validation', 'train'],
                                 False, keep='best')
  assert [(c.method, os.path.relpath(c.run_dir, root), c.split) for c in found] == [
      ('ptjf', 'b/ptjf', 'validation'), ('static', 'c/static', 'validation'),
      ('static', 'c/static', 'train')]  # b/ptjf has no training-split twin


def test_bleu_is_maximised(root):
  points, high, low = front.collect([root], metric='bleu', point='best',
                                   higher=True)
  assert (high, low) == (HIGH, LOW)
  assert [(p.method, p.high, p.low, p.pareto, p.pareto_all) for p in points] == [
      ('ptjf', 28.0, 12.0, True, True), ('ptjf', 30.0, 10.0, True, True),
      ('static', 25.0, 8.0, True, False)]
  assert front.pareto_mask([(1, 1), (2, 2), (2, 1)], higher=True) == [
      False, True, False]


def test_training_split_front(root, capsys):
  points, _, _ = front.collect([root], HIGH, LOW, split='train')
  assert [(p.method, p.step, p.high, p.low, p.pareto_all) for p in points] == [
      ('ptjf', 20, 1.5, 2.0, True), ('static', 20, 2.5, 3.0, False)]
  assert (f"{run(root, 'b/ptjf')}: {HIGH} was not evaluated on the train split"
          in capsys.readouterr().out)
  fig = front.draw(points, HIGH, LOW, split='train')
  assert fig.axes[0].get_xlabel() == f'{HIGH} loss (train split) (high-resource)'


def test_curves_figure_has_a_line_per_run_and_split(root):
  found, tasks = curves.collect([root], [LOW], 'loss',
                                     ['validation', 'train'], False)
  label = curves.labels(list(dict.fromkeys(c.run_dir for c in found)))
  assert label == {run(root, 'a/ptjf'): 'ptjf (a)', run(root, 'b/ptjf'): 'ptjf (b)',
                   run(root, 'c/static'): 'static'}
  colours = curves.run_colours(list(label))
  # Two ptjf runs: one darker, one lighter than ptjf's red; static keeps blue.
  red = np.array(mcolors.to_rgb('tab:red'))
  assert np.allclose(colours[run(root, 'a/ptjf')], 0.65 * red)
  assert np.allclose(colours[run(root, 'b/ptjf')], red + 0.5 * (1 - red))
  assert np.allclose(colours[run(root, 'c/static')], mcolors.to_rgb('tab:blue'))
  fig = curves.draw_curves(found, tasks, 'loss', 'steps', colours, label, 't')
  lines = {l.get_gid(): (l.get_linestyle(), l.get_xydata().tolist())
           for l in fig.axes[0].lines}
  a, c = run(root, 'a/ptjf'), run(root, 'c/static')
  assert lines[f'{LOW}|validation|{a}'] == ('-', [[30, 4.0], [40, 3.5]])
  assert lines[f'{LOW}|train|{a}'] == ('--', [[30, 3.0], [40, 2.0]])
  assert lines[f'{LOW}|validation|{c}'][1][:2] == [[10, 3.875], [20, 3.625]]
  assert len(lines) == 5
  assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == [
      'ptjf (a)', 'ptjf (a), train', 'ptjf (b)', 'static', 'static, train']


def test_restored_points_are_drawn_apart(root):
  found, tasks = curves.collect([run(root, 'a/ptjf')], [HIGH], 'loss',
                                     ['validation'], False)
  fig = curves.draw_curves(found, tasks, 'loss', 'steps',
                           {run(root, 'a/ptjf'): 'tab:red'},
                           {run(root, 'a/ptjf'): 'ptjf'}, 't')
  lines = {l.get_gid(): l for l in fig.axes[0].lines}
  restored = lines[f"{HIGH}|validation|{run(root, 'a/ptjf')}|restored"]
  assert restored.get_xydata().tolist() == [[10, 3.0], [20, 2.0], [30, 2.5]]
  assert restored.get_alpha() == 0.3


def test_tokens_seen_adds_the_restored_runs(monkeypatch, root):
  a, pre = run(root, 'a/ptjf'), run(root, 'pre/pretrain')
  settings = {a: ('mix', (('inputs', 8),), 4), pre: ('high', (('inputs', 8),), 4)}
  per_step = {('mix', LOW): 10.0, ('mix', HIGH): 30.0, ('high', LOW): 0.0,
              ('high', HIGH): 40.0}
  monkeypatch.setattr(tokens, 'run_settings', settings.__getitem__)
  monkeypatch.setattr(tokens, 'tokens_per_step',
                      lambda m, t, lengths, batch: per_step[m, t])
  assert tokens.tokens_seen(a, LOW, 20) == 200.0
  assert tokens.tokens_seen(a, HIGH, 10) == 10 * 30.0 + 20 * 40.0
  c = curves.curve(a, 'ptjf', HIGH, 'loss', 'validation')
  curves.add_tokens(c)
  assert [p.tokens for p in c.points] == [400.0, 800.0, 1100.0, 1400.0]


def test_best_command_writes_the_table(root, tmp_path, ptjf):
  result = ptjf('plot', root, '--kind=best', f'--output={tmp_path}/')
  assert result.returncode == 0, result.stderr
  assert 'syn.low             3.2500*  3.6250' in result.stdout
  assert (tmp_path / 'best.png').read_bytes().startswith(b'\x89PNG')
  with open(tmp_path / 'best.csv', newline='') as f:
    rows = list(csv.reader(f))
  assert rows[0] == list(curves.BEST_COLUMNS)
  assert rows[4] == [LOW, 'validation', 'ptjf', '3.25', run(root, 'b/ptjf'),
                     '20', '40']


def test_curves_command_writes_every_point(root, tmp_path, ptjf):
  result = ptjf('plot', root, '--kind=curves', '--tasks=syn.low',
                '--split=validation,train', f'--output={tmp_path}/c.png')
  assert result.returncode == 0, result.stderr
  with open(tmp_path / 'c.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  a = [r for r in rows if r['run'] == 'ptjf (a)' and r['split'] == 'train']
  assert [(r['step'], r['total_step'], float(r['value'])) for r in a] == [
      ('10', '30', 3.0), ('20', '40', 2.0)]
  assert len(rows) == 2 + 2 + 2 + 3 + 2  # a, a train, b, c, c train


@pytest.mark.parametrize('args, message', [
    (['--kind=front', '--split=validation,train'],
     '--kind=front compares one split; --split=validation,train names 2.'),
    (['--metric=z'], "metric 'z' does not say whether higher or lower is better"),
    (['--split=dev'], "split 'dev' is not one of validation, train, test."),
    (['--kind=curves', '--tasks=syn.lwo'], "no run has 'loss' evaluations of "
     'syn.lwo on the validation split; the tasks evaluated are: '
     'ptjf_synth.tau3.33, syn.high, syn.high.train_split, syn.low, '
     'syn.low.train_split.'),
    (['--kind=best', '--metric=bleu', '--split=train'], "no run has 'bleu' "
     'evaluations of syn.high on the train split'),
    (['--kind=front', '--x=tokens'], '--x does not apply to --kind=front; '
     'it is for --kind=curves.'),
    (['--kind=best', '--high_task=syn.high'], '--high_task does not apply to '
     '--kind=best; it is for --kind=front.'),
], ids=['front_two_splits', 'no_direction', 'bad_split', 'unknown_task',
        'metric_not_on_split', 'x_for_front', 'high_task_for_best'])
def test_bad_arguments_fail_before_writing(root, tmp_path, args, message, ptjf):
  result = ptjf('plot', root, *args, f'--output={tmp_path}/out', cwd=tmp_path)
  assert result.returncode != 0
  assert message in result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith('error: ')
  assert not os.listdir(tmp_path)
