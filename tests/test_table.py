"""The one rule for a best value, as the front applies it, and the one
aligned-text table, by hand."""

import math

from ptjf import front
from ptjf import summaries
from ptjf import table

NAN = math.nan


def test_best_is_the_lowest_or_the_highest_never_a_nan():
  assert summaries.best([3.0, NAN, 1.0, 2.0]) == 1.0
  assert summaries.best([3.0, NAN, 1.0, 2.0], higher=True) == 3.0
  assert summaries.best([NAN, NAN]) is None
  assert summaries.best([]) is None


def test_best_of_equal_values_is_the_first():
  # Steps in order, as a run's evaluations: the earlier of two equal losses.
  losses = {10: 2.0, 20: 1.5, 30: 1.5, 40: NAN}
  assert summaries.best(sorted(losses), value=losses.get) == 20
  assert summaries.best(sorted(losses), True, losses.get) == 10
  assert summaries.best(sorted(losses, reverse=True), value=losses.get) == 30


def test_front_takes_each_runs_best_step_by_the_rule(tmp_path, write_events):
  run = tmp_path / 'ptjf'
  write_events(run / 'training_eval/high', {'loss': {10: 1.0, 20: 2.0, 30: 3.0}})
  write_events(run / 'training_eval/low', {'loss': {10: 5.0, 20: 4.0, 30: 4.0}})
  write_events(run / 'training_eval/gone', {'loss': {10: NAN, 20: NAN}})
  point = front.measure(str(run), 'high', 'low', point='best')
  assert (point.step, point.high, point.low) == (20, 2.0, 4.0)  # the earlier tie
  point = front.measure(str(run), 'high', 'low', point='best', higher=True)
  assert point.step == 10
  # Only NaNs, a diverged run: its first step, which no front keeps.
  point = front.measure(str(run), 'high', 'gone', point='best')
  assert point.step == 10 and math.isnan(point.low)
  front.mark_fronts([point])
  assert not point.pareto and not point.pareto_all


def test_aligned_left_columns_without_trailing_spaces():
  assert table.aligned([['method', 'step', 'run'], ['ptjf', '20', ''],
                        ['static', '100', 'a/static']]).splitlines() == [
                            'method  step  run',
                            'ptjf    20',
                            'static  100   a/static']


def test_aligned_numbers_right_after_the_first_column():
  assert table.aligned([['task', 'rate', 'epochs'], ['en', '0.5', '>=10'],
                        ['gd_long', '0.25', '3']], right=True,
                       indent='  ').splitlines() == [
                           '  task     rate  epochs',
                           '  en        0.5    >=10',
                           '  gd_long  0.25       3']
