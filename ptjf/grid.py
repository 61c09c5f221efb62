"""The paper's hyper-parameter grids (App. A.1, sec. 4.2) and its length
study (sec. 4.3, Fig. 9) as `ptjf run` calls laid out under one root: which
axes an experiment's recipes leave open, which phases each binds, which points
share a first phase, the directory of each, and the checks of their values.
`ptjf sweep --help` describes all of it as the user sees it; `ptjf sweep`
prints or runs these calls, and benchmarks/ trains them.

Axes name the `ptjf sweep` flag that gives their values, and errors name it;
nothing here parses flags or needs T5X.
"""

import dataclasses
import itertools
import math
import os
import posixpath
import re
from typing import Callable, Mapping, Optional, Sequence

from ptjf import experiment
from ptjf import recipe

# The paper's grids that name registered mixtures (mixtures.registry registers
# a pair mixture per rate and a temperature mixture per tau).
PAIR_GRID = tuple(i / 10 for i in range(1, 10))  # high-resource rate 0.1 ... 0.9
PAPER_TAUS = (1.43, 2.0, 3.33, 5.0)  # mC4's temperatures (sec. 4.2)
# The length study's flags beside --pretrain_steps (see `dimensions`).
FIX, TOTAL_STEPS = 'fix', 'total_steps'


@dataclasses.dataclass(frozen=True)
class Axis:
  """A hyper-parameter the paper swept.

  Attributes:
    flag: name of the `ptjf sweep` flag that overrides the grid.
    macro: the gin macro it binds.
    label: prefix of its values in directory names, e.g. 'lr' in 'lr0.005'.
    grid: the paper's values.
    canonical: flag text -> value as written in bindings and directory
      names; raises ValueError on a bad value.
  """
  flag: str
  macro: str
  label: str
  grid: tuple[str, ...]
  canonical: Callable[[str], str]

  @property
  def is_temperature(self) -> bool:
    return self.macro == 'MIXTURE_OR_TASK_NAME'


def _number(text: str, check: Callable[[float], bool], what: str) -> float:
  try:
    number = float(text)
  except ValueError:
    number = float('nan')
  if not (math.isfinite(number) and check(number)):
    raise ValueError(f'{text!r} is not {what}')
  return number


def _learning_rate(text: str) -> str:
  return repr(_number(text, lambda x: x > 0, 'a positive number'))


def check_rate(rate: float, name: str = 'high_rate') -> None:
  """Raises ValueError unless `rate` is a number strictly between 0 and 1."""
  if (isinstance(rate, bool) or not isinstance(rate, (int, float))
      or not 0 < rate < 1):
    raise ValueError(f'{name} is {rate!r}: it must be a number strictly '
                     'between 0 and 1 (e.g. 0.1 ... 0.9).')


def high_rate(text: str) -> str:
  try:
    rate = float(text)
    check_rate(rate)
  except ValueError:
    raise ValueError(f'{text!r} is not a rate strictly between 0 and 1') from None
  return repr(rate)


def _positive_steps(text: str) -> str:
  try:
    steps = int(text)
  except ValueError:
    steps = 0
  if steps <= 0:
    raise ValueError(f'{text!r} is not a positive whole number of steps')
  return str(steps)


def _temperature(text: str) -> str:
  # :g, as mixtures.registry.mixture_name names the registered mixtures.
  return f"{_number(text, lambda x: x > 0, 'a positive temperature'):g}"


AXES = (
    Axis('learning_rates', 'LEARNING_RATE', 'lr',
         ('2.5e-4', '5e-4', '2.5e-3', '5e-3', '7.5e-3'), _learning_rate),
    Axis('high_rates', 'HIGH_RESOURCE_RATE', 'high', tuple(map(str, PAIR_GRID)),
         high_rate),
    Axis('warmups', 'WARMUP_STEPS', 'warmup',
         ('10000', '20000', '30000', '40000'), _positive_steps),
    Axis('taus', 'MIXTURE_OR_TASK_NAME', 'tau', tuple(map(str, PAPER_TAUS)),
         _temperature),
)

# Not in AXES: no recipe leaves TRAIN_STEPS REQUIRED; swept only when given.
PRETRAIN_STEPS = Axis('pretrain_steps', 'TRAIN_STEPS', 'pretrain', (),
                      _positive_steps)

_TAU_MIXTURE = re.compile(
    r"""^MIXTURE_OR_TASK_NAME\s*=\s*['"]([\w.-]+)\.tau[\d.]+['"]""", re.M)


# --- The grid ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Dimension:
  """An axis as one experiment sweeps it.

  Attributes:
    axis: the Axis.
    scope: the `ptjf run` flag that binds it.
    values: (directory label, 'NAME=VALUE' binding) per value.
    finetune: directory label -> a binding the fine-tune gets with that value
      (--fix=total: the rest of the steps).
  """
  axis: Axis
  scope: str
  values: tuple[tuple[str, str], ...]
  finetune: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _temperature_prefix(phase: experiment.Phase) -> Optional[str]:
  """'ptjf_mc4' if the recipe's mixture is a literal 'ptjf_mc4.tau<t>'."""
  match = _TAU_MIXTURE.search(experiment.read(phase.recipe))
  return match.group(1) if match else None


def _takes(axis: Axis, phase: experiment.Phase) -> bool:
  if axis.is_temperature:
    return _temperature_prefix(phase) is not None
  return axis.macro in experiment.declared_required(phase.recipe)


def _arms(scope: str, phases: Sequence[experiment.Phase]) -> set[str]:
  return {p.arm for p in experiment.scope_phases(scope, phases)}


def _values(axis: Axis, texts: Optional[Sequence[str]]) -> list[str]:
  """The axis's canonical values: `texts` from its flag, or the paper's grid."""
  try:
    values = [axis.canonical(t.strip())
              for t in (axis.grid if texts is None else texts)]
  except ValueError as e:
    raise ValueError(f'--{axis.flag}: {e}.') from None
  if not values:
    raise ValueError(f'--{axis.flag}: give at least one value.')
  if len(set(values)) < len(values):
    raise ValueError(f'--{axis.flag}: give distinct values, got '
                     f'{",".join(texts)!r}.')
  return values


# --- Pre-training length (sec. 4.3) -----------------------------------------

def setting(phases: Sequence[experiment.Phase], index: int,
             bindings: Mapping[str, Sequence[str]], gin_files: Sequence[str],
             macro: str) -> Optional[int]:
  """The whole number `macro` is in `phases[index]` with `bindings`, or None
  where it is not a literal (e.g. REQUIRED)."""
  bound = [b.split('=', 1)[1].strip() for b in experiment.phase_bindings(
      phases, index, bindings) if recipe.macro_name(b) == macro]
  text = bound[-1] if bound else experiment.macro_text(
      [phases[index].recipe, *gin_files], macro)
  try:
    return int(text)
  except (TypeError, ValueError):
    return None


def recipe_name(phase: experiment.Phase) -> str:
  return os.path.basename(phase.recipe)[:-len('.gin')]


def _total(phases: Sequence[experiment.Phase], fix: Optional[str],
           total_text: Optional[str]) -> tuple[Optional[int], str]:
  """Under --fix=total, the steps of both phases together and where that
  number comes from; (None, '') under --fix=finetune."""
  first, last = phases
  first_steps = experiment.train_steps(first.steps_from or first.recipe)
  last_steps = experiment.train_steps(last.recipe)
  if fix is None:
    raise ValueError(
        f'--pretrain_steps needs --fix=total (the {last.arm} gets the rest of '
        f'{first_steps + last_steps} steps) or --fix=finetune (the {last.arm} '
        f'keeps its {last_steps}).')
  if fix == 'finetune':
    if total_text is not None:
      raise ValueError(f'--total_steps={total_text} with --fix=finetune, where '
                       f"the total is N1 + the {last.arm}'s steps: drop "
                       '--total_steps, or use --fix=total.')
    return None, ''
  if total_text is None:
    return first_steps + last_steps, (f"{recipe_name(first)}'s {first_steps} + "
                                      f"{recipe_name(last)}'s {last_steps}")
  try:
    return int(_positive_steps(total_text)), '--total_steps'
  except ValueError as e:
    raise ValueError(f'--total_steps: {e}.') from None


def _lengths(phases: Sequence[experiment.Phase],
             given: Mapping[str, Optional[Sequence[str]]],
             extra: experiment.PassThrough) -> Optional[Dimension]:
  """--pretrain_steps as a first-phase axis; under --fix=total each value
  also gives the fine-tune the rest of the total."""
  texts, fix, total_text = (given.get(k) for k in (
      PRETRAIN_STEPS.flag, FIX, TOTAL_STEPS))
  if fix not in (None, 'total', 'finetune'):
    raise ValueError(f'--fix={fix}: give --fix=total (N1 + N2 fixed) or '
                     '--fix=finetune (N2 fixed).')
  if texts is None:
    if fix is not None or total_text is not None:
      flag = f'--fix={fix}' if fix else f'--total_steps={total_text}'
      raise ValueError(f'{flag} splits the steps of a --pretrain_steps sweep: '
                       'give --pretrain_steps=N1,... too.')
    return None
  if len(phases) == 1:
    two = experiment.continuing(phases[0].recipe)
    instead = (f'{", ".join(two[:-1])} or {two[-1]}' if len(two) > 1 else
               two[0] if two else 'a two-phase experiment')
    raise ValueError(f'--pretrain_steps: {recipe_name(phases[0])} has one phase, no '
                     f'pre-training to lengthen; give {instead} instead.')
  scopes = ['gin', 'pretrain_gin']
  if fix == 'total':  # the fine-tune's length is the sweep's too
    scopes.append('finetune_gin')
  for scope in scopes:  # a second binding would win over the sweep's
    clash = [b for b in extra.bindings.get(scope, ())
             if recipe.macro_name(b) == 'TRAIN_STEPS']
    if clash:
      use = ('--total_steps=... (or --fix=finetune)' if scope == 'finetune_gin'
             else '--pretrain_steps=...')
      raise ValueError(f'--{scope}={clash[0]} sets TRAIN_STEPS, which the '
                       f'length sweep sets: use {use} instead.')
  total, whence = _total(phases, fix, total_text)
  values = _values(PRETRAIN_STEPS, texts)
  for v in values:
    if total is not None and int(v) >= total:
      raise ValueError(f'--pretrain_steps={v} leaves the {phases[1].arm} no '
                       f'steps of the {total} in all ({whence}): give values '
                       f'below {total}.')
  labels = [PRETRAIN_STEPS.label + v for v in values]
  return Dimension(
      PRETRAIN_STEPS, 'pretrain_gin',
      tuple((label, f'TRAIN_STEPS={v}') for label, v in zip(labels, values)),
      {label: f'TRAIN_STEPS={total - int(v)}'
       for label, v in zip(labels, values)} if total is not None else {})


def dimensions(name: str, phases: Sequence[experiment.Phase],
               given: Mapping[str, Optional[Sequence[str]]],
               extra: experiment.PassThrough = experiment.PassThrough({})
               ) -> list[Dimension]:
  """The axes `name` is swept on; `given` maps an axis flag name to the
  values given on the command line, or None for the paper's grid (and 'fix'
  and 'total_steps' to theirs)."""
  # The length comes first: its runs group by N1, as in the paper's Fig. 9.
  dims = [d for d in [_lengths(phases, given, extra)] if d]
  for axis in AXES:
    texts = given.get(axis.flag)
    arms = {p.arm for p in phases if _takes(axis, p)}
    if texts is not None and not arms:
      takes = ("a '<prefix>.tau<t>' mixture" if axis.is_temperature else
               f'{axis.macro} (its recipes set it)')
      raise ValueError(f'--{axis.flag}: {name} does not take {takes}.')
    if not arms or (axis.is_temperature and texts == ['none']):
      continue
    scope = experiment.scope_of(arms, phases)
    for user_scope in experiment.SCOPES:  # a second binding of the macro would win silently
      clash = [b for b in extra.bindings.get(user_scope, ())
               if recipe.macro_name(b) == axis.macro]
      if clash and _arms(user_scope, phases) & _arms(scope, phases):
        raise ValueError(f'--{user_scope}={clash[0]} sets {axis.macro}, which '
                         f'the sweep sets: use --{axis.flag}=... instead.')
    values = gin_values = _values(axis, texts)
    if axis.is_temperature:  # the recipe's mixture at another temperature
      prefix = next(filter(None, map(_temperature_prefix, phases)))
      gin_values = [recipe.gin_string(f'{prefix}.tau{v}') for v in values]
    dims.append(Dimension(axis, scope, tuple(
        (axis.label + v, f'{axis.macro}={g}')
        for v, g in zip(values, gin_values))))
  return dims


@dataclasses.dataclass(frozen=True)
class Grid:
  """Every run of a sweep under its root: the shared first phases, then the
  points."""
  name: str
  phases: list[experiment.Phase]
  dims: list[Dimension]
  firsts: list[experiment.Invocation]
  points: list[experiment.Invocation]
  root: str

  @property
  def runs(self) -> list[experiment.Invocation]:
    return self.firsts + self.points

  @property
  def lengths(self) -> Optional[Dimension]:
    """The --pretrain_steps axis, if swept."""
    return next((d for d in self.dims if d.axis is PRETRAIN_STEPS), None)


def bound(run: experiment.Invocation, macro: str) -> Optional[str]:
  """The value `run`'s own bindings give `macro` (the last), or None."""
  values = [b.split('=', 1)[1].strip() for scope in experiment.SCOPES
            for b in run.bindings.get(scope, ()) if recipe.macro_name(b) == macro]
  return values[-1] if values else None


def phase_steps(grid: Grid, run: experiment.Invocation,
          extra: experiment.PassThrough) -> list[Optional[int]]:
  """The TRAIN_STEPS of each phase of a point, also of one it fine-tunes
  from (a --phase=first run: of its first phase alone)."""
  bindings = run.bindings + extra.bindings
  return [setting(grid.phases, i, bindings, extra.gin_files, 'TRAIN_STEPS')
          for i in range(1 if run.first_only else len(grid.phases))]


def check_lengths(grid: Grid, extra: experiment.PassThrough) -> None:
  """Raises ValueError where the length sweep leaves a phase no longer than
  its warm-up: it would end still warming up (and optax's warm-up-then-cosine
  raises unless TRAIN_STEPS > WARMUP_STEPS)."""
  if not grid.lengths:
    return
  phases = grid.phases
  for run in grid.points:
    bindings = run.bindings + extra.bindings
    n1, n2 = phase_steps(grid, run, extra)
    for i, phase in enumerate(phases):
      warmup = setting(phases, i, bindings, extra.gin_files, 'WARMUP_STEPS')
      if None in (warmup, n1, n2) or (n1, n2)[i] > warmup:
        continue
      where = f"{recipe_name(phase)}'s warm-up, WARMUP_STEPS = {warmup}"
      if i == 0:
        raise ValueError(f'--pretrain_steps={n1} is no longer than {where}: '
                         f'give values above {warmup}.')
      if grid.lengths.finetune:
        raise ValueError(f'--pretrain_steps={n1} leaves the {phase.arm} {n2} '
                         f'steps, no more than {where}: give values below '
                         f'{n1 + n2 - warmup}.')
      raise ValueError(f'--fix=finetune keeps the {phase.arm} at {n2} steps, '
                       f'no more than {where}: shorten its warm-up, or use '
                       '--fix=total.')


def lay_out(name: str, phases: Sequence[experiment.Phase], root: str,
            dims: Sequence[Dimension]) -> Grid:
  """Lays the grid of `dims` out under `root` (a local or gs:// path)."""
  # Fine-tune axes vary within a group that shares one first phase.
  shares = len(phases) == 2 and any(d.scope == 'finetune_gin' for d in dims)
  firsts, points = {}, []
  for point in itertools.product(*(d.values for d in dims)):
    bindings = {scope: [] for scope in experiment.SCOPES}
    for d, (label, b) in zip(dims, point):
      bindings[d.scope].append(b)
      if label in d.finetune:
        bindings['finetune_gin'].append(d.finetune[label])
    bindings = {scope: tuple(b) for scope, b in bindings.items()}
    shared = '_'.join(label for d, (label, _) in zip(dims, point)
                      if not shares or d.scope != 'finetune_gin')
    own = '_'.join(label for d, (label, _) in zip(dims, point)
                   if shares and d.scope == 'finetune_gin')
    group_dir = posixpath.join(root, shared) if shared else root
    if not shares:
      points.append(experiment.Invocation(group_dir, bindings))
      continue
    first_bindings = {s: bindings[s] for s in ('gin', 'pretrain_gin')}
    firsts.setdefault(group_dir, experiment.Invocation(
        group_dir, first_bindings, first_only=True))
    points.append(experiment.Invocation(
        posixpath.join(group_dir, own), bindings,
        pretrain_dir=posixpath.join(group_dir, phases[0].arm)))
  grid = Grid(name, list(phases), list(dims), list(firsts.values()), points,
              root)
  trained = [posixpath.join(run.workdir, phases[i].arm)
             for run in grid.runs for i in run.phase_indices(phases)]
  assert len(set(trained)) == len(trained), 'two runs would train one directory'
  return grid
