"""Registers seqio Mixtures whose rates come from a data-size table.

A `Family` is a set of tasks with sizes in one unit and the mixtures computed
from them (temperature, UniMax). Adding a task to a family re-registers its
mixtures, so a new language joins every temperature mixture with one call.

A UniMax mixture's budget is what the run reading it consumes, so it is
registered by that run: T5X's DatasetConfigs read MIXTURE_OR_TASK_NAME through
`run_mixture` (gin/phases/pretrain.gin), which registers '<prefix>.unimax'
from the run's steps, batch and lengths before seqio looks it up. The
train_eval DatasetConfig reads it through `evaluated_mixture`, which adds each
task's training-split twin (tasks/training_split.py) when the run asks.
"""

import dataclasses
from typing import Mapping, Optional, Sequence

import gin
import seqio

from mixtures import rates as rates_lib
from mixtures import sizes as sizes_lib
from ptjf import grid as grid_lib
from tasks import span_corruption
from tasks import training_split as training_split_lib

TAUS = (1.0, *grid_lib.PAPER_TAUS)  # proportional, then the paper's grid

# mixture name -> (task sizes, unit) the rates were computed from; read by `show`.
MIXTURE_SIZES: dict[str, tuple[dict[str, float], str]] = {}
# '<prefix>.unimax' -> its Family, for every family that offers UniMax.
UNIMAX: dict[str, 'Family'] = {}
UNIMAX_UNIT = 'tokens'
# '<name>.with_train_split': name's tasks and their training-split twins.
WITH_TRAINING_SPLIT_SUFFIX = '.with_train_split'


def _check_task(name: str) -> None:
  if name not in seqio.TaskRegistry.names():
    raise ValueError(f'unknown task {name!r}: register it with '
                     'seqio.TaskRegistry.add before adding it to a mixture.')


def register_mixture(name: str, rates: Mapping[str, float],
                     sizes: Optional[Mapping[str, float]] = None,
                     unit: str = '') -> seqio.Mixture:
  """(Re-)registers a seqio Mixture of the given task rates.

  `sizes` (in `unit`), when known, are kept for `show` to print beside rates.
  """
  try:
    rates_lib.check_weights(rates, 'rate')
  except ValueError as e:
    raise ValueError(f'mixture {name!r}: {e}') from e
  for task in rates:
    _check_task(task)
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  if sizes is not None:
    MIXTURE_SIZES[name] = ({t: sizes[t] for t in rates}, unit)
  return seqio.MixtureRegistry.add(name, list(rates.items()))


def mixture_name(prefix: str, kind: str, value: float) -> str:
  return f'{prefix}.{kind}{value:g}'


@dataclasses.dataclass
class Family:
  """Tasks sized in one unit, and the mixtures derived from those sizes.

  Attributes:
    prefix: mixture names start with it, e.g. 'ptjf_mc4' -> 'ptjf_mc4.tau3.33'.
    sizes: task name -> data size.
    unit: what a size counts, e.g. 'billion characters'.
    taus: temperatures with a registered mixture '<prefix>.tau<tau>'.
    unimax_max_epochs: if set, '<prefix>.unimax' is offered, UniMax's cap on
      passes over any task; its budget comes from the run (`run_mixture`).
  """
  prefix: str
  sizes: dict[str, float]
  unit: str
  taus: Sequence[float] = TAUS
  unimax_max_epochs: Optional[float] = None

  @property
  def unimax_name(self) -> str:
    return f'{self.prefix}.unimax'

  def mixtures(self) -> dict[str, dict[str, float]]:
    """Mixture name -> task rates, for every temperature of the family."""
    return {mixture_name(self.prefix, 'tau', tau):
            rates_lib.temperature(self.sizes, tau) for tau in self.taus}

  def register(self) -> None:
    mixtures = self.mixtures()  # computes every rate first: bad sizes fail here
    for task in self.sizes:
      _check_task(task)
    if self.unimax_max_epochs is not None:
      rates_lib.check_max_epochs(self.unimax_max_epochs)
      for task in self.sizes:
        _check_span_corruption(task, self.unimax_name)
      UNIMAX[self.unimax_name] = self
    for name, task_rates in mixtures.items():
      register_mixture(name, task_rates, self.sizes, self.unit)

  def register_unimax(self, train_steps: int, batch_size: int,
                      task_feature_lengths: Mapping[str, int]) -> str:
    """Registers '<prefix>.unimax' with the budget of the run described."""
    budget = unimax_budget(train_steps, batch_size, task_feature_lengths)
    tokens = {task: sizes_lib.source_tokens(task) for task in self.sizes}
    capacity = sum(tokens.values()) * self.unimax_max_epochs
    if budget > capacity:
      raise ValueError(
          f'{self.unimax_name}: this run reads {budget:,.0f} tokens (TRAIN_STEPS '
          f'{train_steps:,} x BATCH_SIZE {batch_size:,} x '
          f'{budget / train_steps / batch_size:,.0f} a chunk), more than '
          f'{self.unimax_max_epochs:g} epoch(s) of its tasks hold '
          f'({capacity:,.0f}): lower TRAIN_STEPS or BATCH_SIZE.')
    task_rates = rates_lib.unimax(tokens, budget, self.unimax_max_epochs)
    register_mixture(self.unimax_name, task_rates, tokens, UNIMAX_UNIT)
    return self.unimax_name

  def register_subset(self, suffix: str, tasks: Sequence[str],
                      tau: float) -> str:
    """Registers '<prefix>.<suffix>': `tasks`, some of the family's, alone at
    temperature `tau` from their sizes, e.g. the languages of a pre-training."""
    if outside := [t for t in tasks if t not in self.sizes]:
      raise ValueError(f'task {outside[0]!r} is not in family {self.prefix!r}: '
                       f'its tasks are {", ".join(self.sizes)}.')
    subset = {task: self.sizes[task] for task in tasks}
    name = f'{self.prefix}.{suffix}'
    register_mixture(name, rates_lib.temperature(subset, tau), subset,
                     self.unit)
    return name

  def add(self, task: str, size: float) -> None:
    """Adds a task of `size` (in the family's unit) to every family mixture.

    An unregistered task or a bad size fails in `register`, which then finds
    the family as it was.
    """
    if task in self.sizes:
      raise ValueError(f'task {task!r} is already in family {self.prefix!r} '
                       f'with size {self.sizes[task]!r}.')
    previous = dict(self.sizes)
    self.sizes[task] = size
    try:
      self.register()
    except ValueError:
      self.sizes = previous
      raise


def _check_span_corruption(task: str, mixture: str) -> None:
  if not span_corruption.is_span_corruption(seqio.get_mixture_or_task(task)):
    raise ValueError(f'{mixture}: task {task!r} is not span corruption; a '
                     'UniMax budget counts the tokens of span-corruption '
                     'chunks, one per packed sequence.')


def unimax_budget(train_steps: int, batch_size: int,
                  task_feature_lengths: Mapping[str, int]) -> float:
  """Tokens a span-corruption run reads: at most one chunk per packed sequence."""
  tokens_length, _ = span_corruption.chunk_length_for(
      task_feature_lengths['inputs'])
  return float(train_steps) * batch_size * tokens_length


@gin.configurable(module='ptjf')
def run_mixture(name: str = gin.REQUIRED, train_steps: int = gin.REQUIRED,
                batch_size: int = gin.REQUIRED,
                task_feature_lengths: Mapping[str, int] = gin.REQUIRED) -> str:
  """MIXTURE_OR_TASK_NAME as T5X reads it; a UniMax mixture is registered
  first, its budget the tokens this run reads."""
  if name in UNIMAX:
    UNIMAX[name].register_unimax(train_steps, batch_size, task_feature_lengths)
  return name


@gin.configurable(module='ptjf')
def evaluated_mixture(name: str = gin.REQUIRED,
                      training_split: bool = False) -> str:
  """The mixture a run evaluates while training: `name` itself, or with
  `training_split` '<name>.with_train_split', registered here: each task of
  `name` (a task or a mixture) beside its training-split twin, at its rate."""
  if not isinstance(training_split, bool):
    raise ValueError(f'training_split (EVALUATE_TRAINING_SPLIT) is '
                     f'{training_split!r}: give True or False.')
  if not training_split or name.endswith(WITH_TRAINING_SPLIT_SUFFIX):
    return name
  if name in seqio.MixtureRegistry.names():
    mixture = seqio.get_mixture_or_task(name)
    task_rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  elif name in seqio.TaskRegistry.names():
    task_rates = {name: 1.0}
  else:
    raise ValueError(f'unknown task or mixture {name!r}: `python -m '
                     'mixtures.show --list` lists the registered mixtures.')
  twins = {training_split_lib.training_split_task(t): rate
           for t, rate in task_rates.items()}
  evaluated = name + WITH_TRAINING_SPLIT_SUFFIX
  register_mixture(evaluated, {**task_rates, **twins})
  return evaluated


def pair_prefix(high_task: str, low_task: str) -> str:
  """'ptjf_wmt.ro_fr' for high 'ptjf_wmt.en_fr' and low 'ptjf_wmt.en_ro'; the
  high task's name up to its last dot leads ('a.b.en_fr' gives 'a.b.ro_fr')."""
  target = lambda task: task.rsplit('_', 1)[-1]
  return f"{high_task.rsplit('.', 1)[0]}.{target(low_task)}_{target(high_task)}"


def pair_mixture_name(high_task: str, low_task: str, high_rate: float) -> str:
  """'ptjf_wmt.ro_fr.high0.3' for En->Fr at rate 0.3 beside En->Ro."""
  return mixture_name(pair_prefix(high_task, low_task), 'high', high_rate)


def register_pair_grid(high_task: str, low_task: str,
                       sizes: Optional[Mapping[str, float]] = None,
                       unit: str = '',
                       grid: Sequence[float] = grid_lib.PAIR_GRID) -> list[str]:
  """Static two-task mixtures '<pair prefix>.high<r>' for each high-resource rate r."""
  names = []
  for high_rate in grid:
    name = pair_mixture_name(high_task, low_task, high_rate)
    register_mixture(name, rates_lib.static_pair(high_task, low_task,
                                                 high_rate), sizes, unit)
    names.append(name)
  return names


@gin.configurable(module='ptjf')
def pair_mixture(high_task: str = gin.REQUIRED, low_task: str = gin.REQUIRED,
                 high_rate: float = gin.REQUIRED) -> str:
  """Name of the static pair mixture at `high_rate`, for a recipe's macro.

  Rates off the registered grid (e.g. 0.35) are registered on first use, so a
  sweep binds a number rather than a mixture name.
  """
  grid_lib.check_rate(high_rate, 'high_rate (HIGH_RESOURCE_RATE)')  # pair.gin
  name = pair_mixture_name(high_task, low_task, high_rate)
  if name not in seqio.MixtureRegistry.names():
    register_pair_grid(high_task, low_task, grid=(high_rate,))
  return name


def register_single(name: str, task: str, size: Optional[float] = None,
                    unit: str = '') -> seqio.Mixture:
  """A one-task mixture, e.g. the pre-training phase's high-resource set."""
  return register_mixture(name, {task: 1.0},
                          None if size is None else {task: size}, unit)

