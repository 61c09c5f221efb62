"""The paper's hyper-parameter grids (App. A.1, sec. 4.2) and its length
study (sec. 4.3, Fig. 9) as `ptjf run` calls laid out under one root: which
axes an experiment's recipes leave open, which stages each binds, the axes
given for one stage (--stage_axis), which points share a first stage, the
directory of each, and the checks of their values.
`ptjf sweep --help` describes all of it as the user sees it; `ptjf sweep`
prints or runs these calls, and benchmarks/ trains them.

Axes name the `ptjf sweep` flag that gives their values, and errors name it;
nothing here parses flags or needs T5X.
"""

import ast
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
# The flag of an axis of one stage, 'ARM:NAME=V1,V2' (see _stage_dimension).
STAGE_AXIS = 'stage_axis'
TAU = 'tau'  # a --stage_axis NAME: the stage's '<prefix>.tau<t>' mixture


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
    stage: the arm of the one stage a --stage_axis sweeps; None for the
      axes that reach every stage whose recipe takes them.
  """
  flag: str
  macro: str
  label: str
  grid: tuple[str, ...]
  canonical: Callable[[str], str]
  stage: Optional[str] = None

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
    values: (directory label, its bindings under `scope`) per value: one
      'NAME=VALUE', or under --stage_gin one 'ARM:NAME=VALUE' per stage.
    arms: the stages it binds.
    derived: directory label -> (flag, binding) of what later stages get
      with that value (--pretrain_steps: their TRAIN_STEPS, see _lengths).
    fix: the --fix of a length sweep.
  """
  axis: Axis
  scope: str
  values: tuple[tuple[str, tuple[str, ...]], ...]
  arms: frozenset[str]
  derived: Mapping[str, tuple[tuple[str, str], ...]] = dataclasses.field(
      default_factory=dict)
  fix: Optional[str] = None


def _scoped(scope: str, arms: set[str], phases: Sequence[experiment.Phase],
            binding: str) -> tuple[str, ...]:
  """`binding` as `scope` takes it: under --stage_gin, once per stage."""
  if scope != 'stage_gin':
    return (binding,)
  return tuple(f'{p.arm}:{binding}' for p in phases if p.arm in arms)


def _temperature_prefix(phase: experiment.Phase) -> Optional[str]:
  """'ptjf_mc4' if the recipe's mixture is a literal 'ptjf_mc4.tau<t>'."""
  match = _TAU_MIXTURE.search(experiment.read(phase.recipe))
  return match.group(1) if match else None


def _takes(axis: Axis, phase: experiment.Phase) -> bool:
  if axis.is_temperature:
    return _temperature_prefix(phase) is not None
  return axis.macro in experiment.declared_required(phase.recipe)


def _check_unbound(phases: Sequence[experiment.Phase], arms: set[str],
                   macro: str, extra: experiment.PassThrough,
                   instead: str, sweep: str = 'the sweep') -> None:
  """Raises ValueError where the user binds `macro` in a stage of `arms`:
  that binding, given after the sweep's, would win silently."""
  for i, phase in enumerate(phases):
    for flag, binding in experiment.given(phases, i, extra.bindings):
      if phase.arm in arms and recipe.macro_name(binding) == macro:
        raise ValueError(f'{flag}={binding} sets {macro}, which {sweep} '
                         f'sets: use {instead} instead.')


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


def stage_lengths(phases: Sequence[experiment.Phase],
                  steps: Sequence[int]) -> list[int]:
  """The steps each stage trains, from their TRAIN_STEPS: a stage that keeps
  the state starts at the step where the one before it ended."""
  return [n - (steps[i - 1] if phases[i].keeps_state else 0)
          for i, n in enumerate(steps)]


def _recipe_steps(phases: Sequence[experiment.Phase],
                  extra: experiment.PassThrough) -> list[int]:
  """Each stage's TRAIN_STEPS with the user's bindings."""
  steps = [setting(phases, i, extra.bindings, extra.gin_files, 'TRAIN_STEPS')
           for i in range(len(phases))]
  if None in steps:
    raise ValueError(f'{phases[steps.index(None)].recipe} has no literal '
                     '`TRAIN_STEPS = N` line to split the steps with.')
  return steps


def _total(phases: Sequence[experiment.Phase], own: Sequence[int],
           fix: Optional[str], total_text: Optional[str]
           ) -> tuple[Optional[int], str]:
  """Under --fix=total, the steps of all stages together and where that
  number comes from; (None, '') under --fix=finetune. `own`: each stage's
  steps as its recipe runs it."""
  last = phases[-1]
  keeps = (f'the {last.arm} keeps its {own[-1]}' if len(phases) == 2 else
           'every later stage keeps its steps')
  if fix is None:
    raise ValueError(
        f'--pretrain_steps needs --fix=total (the {last.arm} gets the rest of '
        f'{sum(own)} steps) or --fix=finetune ({keeps}).')
  if fix == 'finetune':
    if total_text is not None:
      raise ValueError(f'--total_steps={total_text} with --fix=finetune, where '
                       f"the total is N1 + the {last.arm}'s steps: drop "
                       '--total_steps, or use --fix=total.')
    return None, ''
  if total_text is None:
    return sum(own), ' + '.join(f"{recipe_name(p)}'s {n}"
                                for p, n in zip(phases, own))
  try:
    return int(_positive_steps(total_text)), '--total_steps'
  except ValueError as e:
    raise ValueError(f'--total_steps: {e}.') from None


def _later_steps(phases: Sequence[experiment.Phase], own: Sequence[int],
                 first: int) -> list[int]:
  """The TRAIN_STEPS of the stages after the first when it runs `first`
  steps and each later one runs `own`: a stage that keeps the state ends
  that many steps after the one before it (its TRAIN_STEPS is a step of the
  chain, not a length)."""
  ends = [first]
  for phase, n in zip(phases[1:], own[1:]):
    ends.append(n + (ends[-1] if phase.keeps_state else 0))
  return ends[1:]


def _lengths(phases: Sequence[experiment.Phase],
             given: Mapping[str, Optional[Sequence[str]]],
             extra: experiment.PassThrough) -> Optional[Dimension]:
  """--pretrain_steps as a first-stage axis. Every later stage keeps its
  steps, under --fix=total but the last, which gets the rest of the total;
  the TRAIN_STEPS of a stage that keeps the state moves with the step where
  it starts."""
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
  # A binding of their steps would win over the sweep's: the first stage's,
  # and under --fix=total every stage's.
  for i, phase in enumerate(phases if fix == 'total' else phases[:1]):
    use = ('--pretrain_steps=...' if i == 0 else
           '--total_steps=... (or --fix=finetune)')
    _check_unbound(phases, {phase.arm}, 'TRAIN_STEPS', extra, use,
                   'the length sweep')
  steps = _recipe_steps(phases, extra)
  own = stage_lengths(phases, steps)
  total, whence = _total(phases, own, fix, total_text)
  values = _values(PRETRAIN_STEPS, texts)
  derived = {}
  for v in values:
    label, lengths = PRETRAIN_STEPS.label + v, list(own)
    if total is not None:  # the last stage gets the rest
      lengths[-1] = total - int(v) - sum(own[1:-1])
      if lengths[-1] <= 0:
        raise ValueError(
            f'--pretrain_steps={v} leaves the {phases[-1].arm} no steps of the '
            f'{total} in all ({whence}): give values below '
            f'{total - sum(own[1:-1])}.')
    later = _later_steps(phases, lengths, int(v))
    derived[label] = tuple(
        (scope, b) for i, n in enumerate(later, 1)
        if n != steps[i] or (total is not None and i == len(phases) - 1)
        for scope in [experiment.scope_of({phases[i].arm}, phases)]
        for b in _scoped(scope, {phases[i].arm}, phases, f'TRAIN_STEPS={n}'))
  first = phases[0].arm
  return Dimension(
      PRETRAIN_STEPS, 'pretrain_gin',
      tuple((PRETRAIN_STEPS.label + v, (f'TRAIN_STEPS={v}',)) for v in values),
      frozenset({first}), derived, fix)


# --- Axes of one stage --------------------------------------------------------

# --stage_axis values of these macros are checked as their own flags' are.
_STAGE_MACROS = {a.macro: a for a in (
    *AXES, dataclasses.replace(PRETRAIN_STEPS, label='steps'))
                 if not a.is_temperature}


def _word(text: str) -> str:
  """A string value that names a directory: a word, quoted or not."""
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  if not (isinstance(value, str) and re.fullmatch(r'[\w.+-]+', value)):
    raise ValueError(f'{text!r} is not a name (letters, digits, _ . + -)')
  return value


def _literal(text: str) -> str:
  """A number or True/False, as gin reads it."""
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = None
  if isinstance(value, float) and math.isfinite(value) or isinstance(
      value, (bool, int)):
    return repr(value)
  raise ValueError(f'{text!r} is not a number, True or False')


def _stage_dimension(text: str, name: str, phases: Sequence[experiment.Phase]
                     ) -> Dimension:
  """The Dimension of a --stage_axis 'ARM:NAME=V1,V2,...': NAME a macro the
  stage's recipe binds or leaves REQUIRED, or 'tau' for the temperature of
  its '<prefix>.tau<t>' mixture; bound in that stage alone."""
  arm, colon, rest = text.partition(':')
  macro, equals, values = (t.strip() for t in rest.partition('='))
  arm = arm.strip()
  if not (colon and equals and re.fullmatch(r'\w+', arm)
          and re.fullmatch(r'[A-Za-z_][\w.]*', macro)):
    raise ValueError(f"--{STAGE_AXIS}='{text}' is not ARM:NAME=V1,V2,...: "
                     f'e.g. --{STAGE_AXIS}=cooldown:tau=2,3.33 (ARM the first '
                     "word of the stage's recipe).")
  stage = next((p for p in phases if p.arm == arm), None)
  where = f'--{STAGE_AXIS}={arm}:{macro}'
  if stage is None:
    raise ValueError(f'{where}: {name} has no stage {arm!r}; its stages: '
                     f'{", ".join(p.arm for p in phases)}.')
  if macro == TAU:
    if (prefix := _temperature_prefix(stage)) is None:
      raise ValueError(f"{where}: {recipe_name(stage)}'s mixture is not a "
                       "'<prefix>.tau<t>' mixture; sweep "
                       'MIXTURE_OR_TASK_NAME instead.')
    axis = Axis(f'{STAGE_AXIS}={arm}:{TAU}', 'MIXTURE_OR_TASK_NAME',
                f'{arm}-tau', (), _temperature, arm)
    to_gin = lambda v: recipe.gin_string(f'{prefix}.tau{v}')
  else:
    if macro in experiment.SET_BY_RUN:
      raise ValueError(f'{where}: {macro} is set by ptjf run from --workdir '
                       'and --pretrain_dir; it is no axis.')
    text_in_recipe = experiment.macro_text([stage.recipe], macro)
    if text_in_recipe is None and macro not in experiment.declared_required(
        stage.recipe):
      raise ValueError(f'{where}: {recipe_name(stage)} does not set {macro}; '
                       'sweep a macro its recipe binds or leaves REQUIRED, or '
                       f'{TAU} (its temperature).')
    known = _STAGE_MACROS.get(macro)
    is_string = not known and (text_in_recipe or '')[:1] in ('"', "'")
    label = known.label if known else f'{macro.lower()}-'
    axis = Axis(f'{STAGE_AXIS}={arm}:{macro}', macro, f'{arm}-{label}', (),
                known.canonical if known else _word if is_string else _literal,
                arm)
    to_gin = recipe.gin_string if is_string else str
  texts = values.split(',') if values else []
  scope = 'stage_gin' if len(phases) > 1 else 'gin'
  return Dimension(axis, scope, tuple(
      (axis.label + v, _scoped(scope, {arm}, phases,
                               f'{axis.macro}={to_gin(v)}'))
      for v in _values(axis, texts)), frozenset({arm}))


def _temperatures(name: str, phases: Sequence[experiment.Phase],
                  arms: set[str]) -> Optional[str]:
  """Why --taus cannot sweep `arms` as one, where their stages train at
  different temperatures (a cooldown): its axis would erase the schedule."""
  mixtures = {p.arm: experiment.macro_text([p.recipe], 'MIXTURE_OR_TASK_NAME')
              for p in phases if p.arm in arms}
  if len(set(mixtures.values())) < 2:
    return None
  last = [p.arm for p in phases if p.arm in arms][-1]
  return (f"--taus: {name}'s stages train at different temperatures ("
          f'{", ".join(f"{arm} {m}" for arm, m in mixtures.items())}), which '
          f'one --taus would make equal: sweep a stage\'s with '
          f'--{STAGE_AXIS}={last}:{TAU}=..., and leave --taus out.')


def dimensions(name: str, phases: Sequence[experiment.Phase],
               given: Mapping[str, Optional[Sequence[str]]],
               extra: experiment.PassThrough = experiment.PassThrough({})
               ) -> list[Dimension]:
  """The axes `name` is swept on; `given` maps an axis flag name to the
  values given on the command line, or None for the paper's grid (and 'fix'
  and 'total_steps' to theirs, 'stage_axis' to its 'ARM:NAME=V1,...'s)."""
  # The length comes first: its runs group by N1, as in the paper's Fig. 9.
  dims = [d for d in [_lengths(phases, given, extra)] if d]
  staged = [_stage_dimension(t, name, phases)
            for t in given.get(STAGE_AXIS) or ()]
  for i, d in enumerate(staged):
    if any(d.axis.flag == e.axis.flag for e in staged[:i]):
      raise ValueError(f'--{d.axis.flag} is given twice: give all its values '
                       'in one.')
    if dims and d.axis.macro == 'TRAIN_STEPS':
      raise ValueError(f'--{d.axis.flag} with --pretrain_steps, which sets '
                       "every stage's TRAIN_STEPS: give one of them.")
  for axis in AXES:
    texts = given.get(axis.flag)
    arms = {p.arm for p in phases if _takes(axis, p)}
    if texts is not None and not arms:
      takes = ("a '<prefix>.tau<t>' mixture" if axis.is_temperature else
               f'{axis.macro} (its recipes set it)')
      raise ValueError(f'--{axis.flag}: {name} does not take {takes}.')
    if not arms or (axis.is_temperature and texts == ['none']):
      continue
    if axis.is_temperature and (why := _temperatures(name, phases, arms)):
      if texts is None:  # the recipes' schedule of temperatures stays
        continue
      raise ValueError(why)
    for d in staged:  # a stage's own axis takes that stage over
      if d.axis.macro == axis.macro and d.arms & arms:
        if texts is not None:
          raise ValueError(f'--{axis.flag} and --{d.axis.flag} both sweep '
                           f'{axis.macro} of {d.axis.stage}: give one of them.')
        arms -= d.arms
    if not arms:
      continue
    scope = experiment.scope_of(arms, phases)
    _check_unbound(phases, arms, axis.macro, extra, f'--{axis.flag}=...')
    values = gin_values = _values(axis, texts)
    if axis.is_temperature:  # the recipe's mixture at another temperature
      prefix = next(filter(None, map(_temperature_prefix, phases)))
      gin_values = [recipe.gin_string(f'{prefix}.tau{v}') for v in values]
    dims.append(Dimension(axis, scope, tuple(
        (axis.label + v, _scoped(scope, arms, phases, f'{axis.macro}={g}'))
        for v, g in zip(values, gin_values)), frozenset(arms)))
  for d in staged:
    _check_unbound(phases, d.arms, d.axis.macro, extra, f'--{d.axis.flag}=...')
    dims.append(d)
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
  """Raises ValueError where the length sweep leaves a stage no longer than
  its warm-up: it would end still warming up (and optax's warm-up-then-cosine
  raises unless TRAIN_STEPS > WARMUP_STEPS)."""
  if not grid.lengths:
    return
  phases = grid.phases
  for run in grid.points:
    bindings = run.bindings + extra.bindings
    steps = phase_steps(grid, run, extra)
    if None in steps:
      continue
    n1, own = steps[0], stage_lengths(phases, steps)
    for i, phase in enumerate(phases):
      if phase.keeps_state:  # its warm-up is the stages' before it
        continue
      warmup = setting(phases, i, bindings, extra.gin_files, 'WARMUP_STEPS')
      if warmup is None or own[i] > warmup:
        continue
      where = f"{recipe_name(phase)}'s warm-up, WARMUP_STEPS = {warmup}"
      if i == 0:
        raise ValueError(f'--pretrain_steps={n1} is no longer than {where}: '
                         f'give values above {warmup}.')
      if grid.lengths.fix == 'total':
        raise ValueError(f'--pretrain_steps={n1} leaves the {phase.arm} '
                         f'{own[i]} steps, no more than {where}: give values '
                         f'below {n1 + own[i] - warmup}.')
      raise ValueError(f'--fix=finetune keeps the {phase.arm} at {own[i]} '
                       f'steps, no more than {where}: shorten its warm-up, or '
                       'use --fix=total.')


def lay_out(name: str, phases: Sequence[experiment.Phase], root: str,
            dims: Sequence[Dimension]) -> Grid:
  """Lays the grid of `dims` out under `root` (a local or gs:// path)."""
  # Axes of later stages vary within a group that shares one first stage.
  first = phases[0].arm
  shares = len(phases) > 1 and any(first not in d.arms for d in dims)
  firsts, points = {}, []
  for point in itertools.product(*(d.values for d in dims)):
    bindings = {scope: [] for scope in experiment.SCOPES}
    for d, (label, own) in zip(dims, point):
      bindings[d.scope] += own
      for scope, binding in d.derived.get(label, ()):
        bindings[scope].append(binding)
    bindings = {scope: tuple(b) for scope, b in bindings.items()}
    shared = '_'.join(label for d, (label, _) in zip(dims, point)
                      if not shares or first in d.arms)
    own = '_'.join(label for d, (label, _) in zip(dims, point)
                   if shares and first not in d.arms)
    group_dir = posixpath.join(root, shared) if shared else root
    if not shares:
      points.append(experiment.Invocation(group_dir, bindings))
      continue
    first_bindings = {
        'gin': bindings['gin'], 'pretrain_gin': bindings['pretrain_gin'],
        'stage_gin': tuple(b for b in bindings['stage_gin']
                           if experiment.stage_binding(b)[0] == first)}
    firsts.setdefault(group_dir, experiment.Invocation(
        group_dir, first_bindings, first_only=True))
    points.append(experiment.Invocation(
        posixpath.join(group_dir, own), bindings,
        pretrain_dir=posixpath.join(group_dir, first)))
  grid = Grid(name, list(phases), list(dims), list(firsts.values()), points,
              root)
  trained = [posixpath.join(run.workdir, phases[i].arm)
             for run in grid.runs for i in run.phase_indices(phases)]
  assert len(set(trained)) == len(trained), 'two runs would train one directory'
  return grid
