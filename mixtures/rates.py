"""Sampling-rate functions: map task data sizes to mixture rates.

Every function takes `sizes`, a mapping from task name to data size (any unit,
as long as it is the same for all tasks), and returns an ordered dict of task
name -> rate with rates summing to 1. Bad input raises ValueError naming the
bad value before anything is registered or trained.
"""

import math
from typing import Mapping

from ptjf import grid


def check_weights(weights: Mapping[str, float], kind: str = 'size') -> None:
  """Raises ValueError unless `weights` (task sizes or rates) are finite
  numbers >= 0 with a finite sum, not all zero, for at least one task."""
  if not weights:
    raise ValueError(f'{kind}s is empty: give at least one task with its '
                     f'{kind}.')
  for task, weight in weights.items():
    if (not isinstance(weight, (int, float)) or not math.isfinite(weight)
        or weight < 0):
      raise ValueError(f'{kind} of task {task!r} is {weight!r}: {kind}s must '
                       'be finite numbers >= 0.')
  if not math.isfinite(sum(weights.values())):  # an infinite total makes NaN
    raise ValueError(f'{kind}s sum to infinity ({dict(weights)}): scale them '
                     'down, e.g. to millions of examples.')
  if sum(weights.values()) <= 0:
    raise ValueError(
        f'all {kind}s are zero ({dict(weights)}): at least one task needs '
        f'{"data" if kind == "size" else "a rate above zero"}.')


def _normalise(weights: Mapping[str, float]) -> dict[str, float]:
  total = sum(weights.values())
  return {task: w / total for task, w in weights.items()}


def proportional(sizes: Mapping[str, float]) -> dict[str, float]:
  """P_i = D_i / sum_j D_j (the paper's eq. 3)."""
  check_weights(sizes)
  return _normalise(sizes)


def temperature(sizes: Mapping[str, float], tau: float) -> dict[str, float]:
  """Q_i = P_i^(1/tau) / sum_j P_j^(1/tau) (the paper's eq. 4)."""
  if (isinstance(tau, bool) or not isinstance(tau, (int, float))
      or not 0 < tau < math.inf):
    raise ValueError(
        f'tau is {tau!r}: the temperature must be a finite number > 0 '
        '(1 is proportional, larger is flatter, e.g. 3.33).')
  # p <= 1, so p^(1/tau) never overflows; a tiny tau underflows, checked below
  powers = {t: p ** (1.0 / tau) for t, p in proportional(sizes).items()}
  if dropped := [t for t, q in powers.items() if q == 0 and sizes[t] > 0]:
    raise ValueError(
        f'tau is {tau!r}: so low that P^(1/tau) underflows to 0 for task '
        f'{dropped[0]!r}, which has data; give a larger tau (1 is '
        'proportional, e.g. 3.33).')
  return _normalise(powers)


def uniform(sizes: Mapping[str, float]) -> dict[str, float]:
  """Equal rate for every task that has data."""
  check_weights(sizes)
  return _normalise({t: 1.0 if d > 0 else 0.0 for t, d in sizes.items()})


def unimax(sizes: Mapping[str, float], budget: float,
           max_epochs: float = 1.0) -> dict[str, float]:
  """UniMax (Chung et al., ICLR 2023): uniform over a budget, capped in epochs.

  Tasks are visited from smallest to largest; each gets an equal share of the
  budget left, but never more than `max_epochs` passes over its own data; what
  a small task cannot use goes to the larger ones.

  Args:
    sizes: task -> data size, in the same unit as `budget` (e.g. characters).
    budget: how much data the whole run will consume, in that unit.
    max_epochs: the most passes any task may get (>= 1).
  """
  check_weights(sizes)
  if (isinstance(budget, bool) or not isinstance(budget, (int, float))
      or not 0 < budget < math.inf):
    raise ValueError(f'budget is {budget!r}: it must be a finite number > 0, in the '
                     'same unit as the sizes.')
  check_max_epochs(max_epochs)
  capacity = sum(d * max_epochs for d in sizes.values())
  if budget > capacity:
    raise ValueError(
        f'budget {budget:,.6g} exceeds what {max_epochs:g} epochs of all tasks '
        f'hold ({capacity:,.6g}): raise max_epochs or lower the budget.')
  allocation = {}
  remaining = float(budget)
  by_size = sorted(sizes, key=lambda t: sizes[t])
  for i, task in enumerate(by_size):
    share = remaining / (len(by_size) - i)
    allocation[task] = min(share, sizes[task] * max_epochs)
    remaining -= allocation[task]
  return _normalise({t: allocation[t] for t in sizes})


def check_max_epochs(max_epochs: float) -> None:
  """Raises ValueError unless `max_epochs` is a finite number >= 1."""
  if (isinstance(max_epochs, bool) or not isinstance(max_epochs, (int, float))
      or not 1 <= max_epochs < math.inf):
    raise ValueError(f'max_epochs is {max_epochs!r}: the epoch cap must be a '
                     'finite number >= 1.')


def static_pair(high_task: str, low_task: str,
                high_rate: float) -> dict[str, float]:
  """Two-task scalarisation: high_rate for the high-resource task, the rest low."""
  if high_task == low_task:
    raise ValueError(f'high_task and low_task are both {high_task!r}: a static '
                     'pair needs two different tasks.')
  grid.check_rate(high_rate)
  return {high_task: float(high_rate), low_task: 1.0 - high_rate}

