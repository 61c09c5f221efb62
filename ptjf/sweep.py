r"""ptjf sweep: the paper's hyper-parameter grid of an experiment, as `ptjf run`
commands (default), as gin binding files for `python -m t5x.train`, or run.

Usage:
  ptjf sweep EXPERIMENT --root=DIR [--learning_rates=...] [--high_rates=...]
      [--warmups=...] [--taus=...|none] [--format=commands|gin] [--run]
      [--pretrain_steps=N1,... --fix=total|finetune [--total_steps=N]]
      [--gin='NAME = VALUE']... [--pretrain_gin=...]... [--finetune_gin=...]...
      [--gin_file=F]... [--tfds_data_dir=D]

EXPERIMENT is a recipe name (e.g. ptjf_wmt_ro_fr_3layer) or a .gin path. The
sweep covers every axis the experiment's recipes leave open, on the paper's
grid (App. A.1, sec. 4.2) unless its flag gives the values:

  --learning_rates  LEARNING_RATE        2.5e-4,5e-4,2.5e-3,5e-3,7.5e-3
  --high_rates      HIGH_RESOURCE_RATE   0.1,0.2,...,0.9
  --warmups         WARMUP_STEPS         10000,20000,30000,40000
  --taus            temperature (mC4)    1.43,2,3.33,5 ('none': the recipe's)

The first three where a recipe leaves the macro REQUIRED; --taus where the
recipe's mixture is a literal '<prefix>.tau<t>' (ptjf_mc4_*, static_mc4_*,
restart_mc4_*, *_synth_mc4_tiny), as MIXTURE_OR_TASK_NAME = '<prefix>.tau<t>'.

The length study (sec. 4.3, Fig. 9) is swept only when asked for:
--pretrain_steps=N1,... sets the first phase's TRAIN_STEPS (the static base's
for a restart), and --fix says what the fine-tune runs:

  --fix=total     TOTAL - N1 steps, TOTAL being --total_steps or the two
                  recipes' TRAIN_STEPS summed (mC4: 500k in all)
  --fix=finetune  its recipe's TRAIN_STEPS, whatever N1 (NMT)

A value that leaves a phase no steps, or no more than its WARMUP_STEPS, is
refused. Each N1 gets its own ROOT/pretrain<N1>, and a comment per group of
runs gives their steps.

An axis is bound in exactly the phases whose recipes take it: LEARNING_RATE in
both phases (--gin), HIGH_RESOURCE_RATE and the temperature in the ptjf
fine-tune only (--finetune_gin) but in both phases of a restart (its static
base trains at the same rate), WARMUP_STEPS in the fine-tune only,
--pretrain_steps in the first phase (and, with --fix=total, the fine-tune's
TRAIN_STEPS with it).

Points that differ only in fine-tune axes share one first phase: the sweep
first runs `ptjf run EXPERIMENT --phase=first --workdir=ROOT/<shared>` once per
value of the shared axes, then each point as `ptjf run EXPERIMENT
--workdir=ROOT/<shared>/<point> --pretrain_dir=ROOT/<shared>/<first arm>` with
all its bindings (drop --pretrain_dir and that command runs both phases itself).
Without fine-tune axes, each point runs both of its phases in ROOT/<point>.
Directory names are the axis values, e.g. ROOT/lr0.005/high0.3_warmup20000.
Fine-tunes of different pre-training lengths never share one: N1 is a first
phase value, e.g. ROOT/pretrain100000/tau2.

--gin, --pretrain_gin, --finetune_gin, --gin_file and --tfds_data_dir are
passed to every `ptjf run` (--finetune_gin not to --phase=first, where ptjf
run refuses it); binding a swept macro with them is an error (fix an axis with
its own flag instead, e.g. --learning_rates=5e-3).

--format=gin writes DIR/<arm>.gin per phase run instead (MODEL_DIR, the first
phase's final checkpoint as INITIAL_CHECKPOINT_PATH, the run's bindings) with
the `python -m t5x.train` command in its header; it never overwrites a file.
--run runs the `ptjf run` commands one after another and stops at the first
failure; `ptjf run` skips finished phases, so run the same sweep again to
resume.

Example:
  ptjf sweep ptjf_wmt_ro_fr_3layer --root=gs://bucket/sweep --high_rates=0.3,0.7
  ptjf sweep ptjf_synth_ro_fr_tiny --root=/tmp/sweep --high_rates=0.3,0.7 --run
  ptjf sweep ptjf_mc4_xl --root=gs://bucket/length --taus=none \
      --pretrain_steps=100000,250000,400000 --fix=total
"""

import dataclasses
import itertools
import math
import os
import posixpath
import re
import shlex
import subprocess
import sys
import time
from typing import Callable, Mapping, Optional, Sequence

from absl import app
from absl import flags

from ptjf import bindings
from ptjf import experiment
from ptjf import recipe
from ptjf import signals

flags.adopt_module_key_flags(bindings)  # passed to every `ptjf run`

_ROOT = flags.DEFINE_string(
    'root', None, 'Directory (local or gs://) under which every run of the '
    'sweep gets its own directory.')
_FORMAT = flags.DEFINE_enum(
    'format', 'commands', ['commands', 'gin'], "'commands': print `ptjf run` "
    "commands; 'gin': write a gin binding file per phase run for t5x.train.")
_RUN = flags.DEFINE_bool(
    'run', False, 'Run the `ptjf run` commands one after another.')
# A string, not an enum: a bad value is refused in one line like the rest.
_FIX = flags.DEFINE_string(
    'fix', None, "total|finetune, with --pretrain_steps: 'total' gives the "
    "fine-tune the rest of --total_steps; 'finetune' keeps the fine-tune's "
    'TRAIN_STEPS, so the total varies.')
_TOTAL_STEPS = flags.DEFINE_string(
    'total_steps', None, "With --fix=total: the two phases' steps together; "
    "default: the two recipes' TRAIN_STEPS summed.")


@dataclasses.dataclass(frozen=True)
class Axis:
  """A hyper-parameter the paper swept.

  Attributes:
    flag: holder of the flag that overrides the grid.
    macro: the gin macro it binds.
    label: prefix of its values in directory names, e.g. 'lr' in 'lr0.005'.
    grid: the paper's values.
    canonical: flag text -> value as written in bindings and directory
      names; raises ValueError on a bad value.
  """
  flag: flags.FlagHolder
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


def _high_rate(text: str) -> str:
  return repr(_number(text, lambda x: 0 < x < 1,
                      'a rate strictly between 0 and 1'))


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


# mixtures.registry.PAIR_GRID, without importing seqio (seconds) for printing.
HIGH_RATES = tuple(str(i / 10) for i in range(1, 10))

AXES = (
    Axis(flags.DEFINE_list('learning_rates', None,
                           'LEARNING_RATE values; default: 2.5e-4,5e-4,2.5e-3,'
                           '5e-3,7.5e-3 where a recipe leaves it REQUIRED.'),
         'LEARNING_RATE', 'lr',
         ('2.5e-4', '5e-4', '2.5e-3', '5e-3', '7.5e-3'), _learning_rate),
    Axis(flags.DEFINE_list('high_rates', None,
                           'HIGH_RESOURCE_RATE values in (0, 1); default: '
                           '0.1,...,0.9 where a recipe leaves it REQUIRED.'),
         'HIGH_RESOURCE_RATE', 'high', HIGH_RATES, _high_rate),
    Axis(flags.DEFINE_list('warmups', None,
                           "The fine-tune's WARMUP_STEPS; default: 10000,"
                           '20000,30000,40000 where its recipe leaves it '
                           'REQUIRED.'),
         'WARMUP_STEPS', 'warmup', ('10000', '20000', '30000', '40000'),
         _positive_steps),
    Axis(flags.DEFINE_list('taus', None,
                           "Temperatures of a recipe whose mixture is "
                           "'<prefix>.tau<t>' (mC4); 'none' keeps the "
                           "recipe's. Default 1.43,2,3.33,5; each must be a "
                           'registered mixture (mixtures.registry.PAPER_TAUS).'),
         'MIXTURE_OR_TASK_NAME', 'tau', ('1.43', '2', '3.33', '5'),
         _temperature),
)

# Not in AXES: no recipe leaves TRAIN_STEPS REQUIRED; swept only when given.
PRETRAIN_STEPS = Axis(
    flags.DEFINE_list('pretrain_steps', None,
                      "The first phase's TRAIN_STEPS (N1; the static base's "
                      'for a restart), for the length study (sec. 4.3); '
                      'give --fix with it.'),
    'TRAIN_STEPS', 'pretrain', (), _positive_steps)

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
    raise ValueError(f'--{axis.flag.name}: {e}.') from None
  if not values:
    raise ValueError(f'--{axis.flag.name}: give at least one value.')
  if len(set(values)) < len(values):
    raise ValueError(f'--{axis.flag.name}: give distinct values, got '
                     f'{",".join(texts)!r}.')
  return values


# --- Pre-training length (sec. 4.3) -----------------------------------------

def _setting(phases: Sequence[experiment.Phase], index: int,
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


def _name(phase: experiment.Phase) -> str:
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
    return first_steps + last_steps, (f"{_name(first)}'s {first_steps} + "
                                      f"{_name(last)}'s {last_steps}")
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
      PRETRAIN_STEPS.flag.name, _FIX.name, _TOTAL_STEPS.name))
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
    rest = experiment.split(_name(phases[0]))[1]
    two = [f'{a}_{rest}' for a in experiment.FIRST_PHASE if os.path.isfile(
        os.path.join(os.path.dirname(phases[0].recipe), f'{a}_{rest}.gin'))]
    instead = (f'{", ".join(two[:-1])} or {two[-1]}' if len(two) > 1 else
               two[0] if two else 'a two-phase experiment')
    raise ValueError(f'--pretrain_steps: {_name(phases[0])} has one phase, no '
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
    texts = given.get(axis.flag.name)
    arms = {p.arm for p in phases if _takes(axis, p)}
    if texts is not None and not arms:
      takes = ("a '<prefix>.tau<t>' mixture" if axis.is_temperature else
               f'{axis.macro} (its recipes set it)')
      raise ValueError(f'--{axis.flag.name}: {name} does not take {takes}.')
    if not arms or (axis.is_temperature and texts == ['none']):
      continue
    scope = experiment.scope_of(arms, phases)
    for user_scope in experiment.SCOPES:  # a second binding of the macro would win silently
      clash = [b for b in extra.bindings.get(user_scope, ())
               if recipe.macro_name(b) == axis.macro]
      if clash and _arms(user_scope, phases) & _arms(scope, phases):
        raise ValueError(f'--{user_scope}={clash[0]} sets {axis.macro}, which '
                         f'the sweep sets: use --{axis.flag.name}=... instead.')
    values = gin_values = _values(axis, texts)
    if axis.is_temperature:  # the recipe's mixture at another temperature
      prefix = next(filter(None, map(_temperature_prefix, phases)))
      gin_values = [recipe.gin_string(f'{prefix}.tau{v}') for v in values]
    dims.append(Dimension(axis, scope, tuple(
        (axis.label + v, f'{axis.macro}={g}')
        for v, g in zip(values, gin_values))))
  return dims


@dataclasses.dataclass(frozen=True)
class Sweep:
  """Every run of a sweep: the shared first phases, then the points."""
  name: str
  phases: list[experiment.Phase]
  dims: list[Dimension]
  firsts: list[experiment.Invocation]
  points: list[experiment.Invocation]

  @property
  def runs(self) -> list[experiment.Invocation]:
    return self.firsts + self.points

  @property
  def lengths(self) -> Optional[Dimension]:
    """The --pretrain_steps axis, if swept."""
    return next((d for d in self.dims if d.axis is PRETRAIN_STEPS), None)


def phase_steps(sweep: Sweep, run: experiment.Invocation,
          extra: experiment.PassThrough) -> list[Optional[int]]:
  """The TRAIN_STEPS of each phase of a point, also of one it fine-tunes
  from (a --phase=first run: of its first phase alone)."""
  bindings = experiment.merged(run.bindings, extra)
  return [_setting(sweep.phases, i, bindings, extra.gin_files, 'TRAIN_STEPS')
          for i in range(1 if run.first_only else len(sweep.phases))]


def check_lengths(sweep: Sweep, extra: experiment.PassThrough) -> None:
  """Raises ValueError where the length sweep leaves a phase no longer than
  its warm-up: it would end still warming up (and optax's warm-up-then-cosine
  raises unless TRAIN_STEPS > WARMUP_STEPS)."""
  if not sweep.lengths:
    return
  phases = sweep.phases
  for run in sweep.points:
    bindings = experiment.merged(run.bindings, extra)
    n1, n2 = phase_steps(sweep, run, extra)
    for i, phase in enumerate(phases):
      warmup = _setting(phases, i, bindings, extra.gin_files, 'WARMUP_STEPS')
      if None in (warmup, n1, n2) or (n1, n2)[i] > warmup:
        continue
      where = f"{_name(phase)}'s warm-up, WARMUP_STEPS = {warmup}"
      if i == 0:
        raise ValueError(f'--pretrain_steps={n1} is no longer than {where}: '
                         f'give values above {warmup}.')
      if sweep.lengths.finetune:
        raise ValueError(f'--pretrain_steps={n1} leaves the {phase.arm} {n2} '
                         f'steps, no more than {where}: give values below '
                         f'{n1 + n2 - warmup}.')
      raise ValueError(f'--fix=finetune keeps the {phase.arm} at {n2} steps, '
                       f'no more than {where}: shorten its warm-up, or use '
                       '--fix=total.')


def plan(name: str, phases: Sequence[experiment.Phase], root: str,
         dims: Sequence[Dimension]) -> Sweep:
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
  sweep = Sweep(name, list(phases), list(dims), list(firsts.values()), points)
  trained = [posixpath.join(run.workdir, phases[i].arm)
             for run in sweep.runs for i in run.phase_indices(phases)]
  assert len(set(trained)) == len(trained), 'two runs would train one directory'
  return sweep


# --- Output ------------------------------------------------------------------


def display(args: Sequence[str]) -> str:
  """`ptjf run ...` as pasted into bash."""
  return shlex.join(['ptjf', *args])


def _count(n: int, noun: str) -> str:
  return f'{n} {noun} run{"" if n == 1 else "s"}'


def _noun(d: Dimension, phases: Sequence[experiment.Phase]) -> str:
  if d.axis is PRETRAIN_STEPS:
    return f'{phases[0].arm} TRAIN_STEPS'
  return 'tau' if d.axis.is_temperature else d.axis.macro


def title(sweep: Sweep) -> str:
  grid = ' x '.join(f'{len(d.values)} {_noun(d, sweep.phases)}'
                    for d in sweep.dims)
  return f'# ptjf sweep {sweep.name}: {grid or "no open axis"}'


def _length_note(sweep: Sweep, run: experiment.Invocation,
                 extra: experiment.PassThrough) -> str:
  """': pretrain 100000 + ptjf 400000 = 500000 steps' under a length sweep."""
  if not sweep.lengths:
    return ''
  n1, n2 = phase_steps(sweep, run, extra)
  first, last = sweep.phases[0].arm, sweep.phases[-1].arm
  return f': {first} {n1} + {last} {n2} = {n1 + n2} steps'


def command_groups(sweep: Sweep,
                   extra: experiment.PassThrough = experiment.PassThrough({})
                   ) -> list[tuple[str, list[experiment.Invocation]]]:
  """(comment, runs) in the order to run them; under a length sweep each
  group of fine-tunes has one length, given in its comment."""
  first, last = sweep.phases[0].arm, sweep.phases[-1].arm

  def note(run: experiment.Invocation) -> str:
    return _length_note(sweep, run, extra)

  if not sweep.firsts:
    both = ', running both phases' if len(sweep.phases) == 2 else ''
    groups = [list(g) for _, g in itertools.groupby(sweep.points, note)]
    return [(f'# {_count(len(g), last)}{both}{note(g[0])}', g) for g in groups]
  groups = [(f'# {_count(len(sweep.firsts), first)} (--phase=first), shared '
             f'by the {last} runs below', sweep.firsts)]
  for run in sweep.firsts:
    pretrain_dir = posixpath.join(run.workdir, first)
    group = [p for p in sweep.points if p.pretrain_dir == pretrain_dir]
    groups.append((f'# {_count(len(group), last)} from {pretrain_dir}'
                   f'{note(group[0])}', group))
  return groups


def commands_text(sweep: Sweep, extra: experiment.PassThrough) -> str:
  lines = [title(sweep)]
  for comment, runs in command_groups(sweep, extra):
    lines += [comment, *(display(run.args(sweep.name, extra)) for run in runs)]
  return '\n'.join(lines)


@dataclasses.dataclass(frozen=True)
class GinFile:
  path: str
  text: str
  train_command: str
  steps: Optional[int] = None


def gin_files(sweep: Sweep, extra: experiment.PassThrough) -> list[GinFile]:
  """A binding file per phase run, for `python -m t5x.train` without ptjf."""
  phases, out = sweep.phases, []
  for run in sweep.runs:
    bindings = experiment.merged(run.bindings, extra)
    for i in run.phase_indices(phases):
      phase = phases[i]
      model_dir = posixpath.join(run.workdir, phase.arm)
      path = model_dir + '.gin'
      lines = [recipe.string_binding('MODEL_DIR', model_dir)]
      if phase.restores:
        first_dir = run.pretrain_dir or posixpath.join(run.workdir, phases[0].arm)
        lines.append(recipe.string_binding(
            'INITIAL_CHECKPOINT_PATH',
            f'{first_dir}/checkpoint_{experiment.final_step(phases, bindings)}'))
      own = experiment.phase_bindings(phases, i, bindings)
      # Gin keeps a macro's last binding (a restart's TRAIN_STEPS under a
      # length sweep): write that one alone.
      lines += [b for j, b in enumerate(own) if recipe.macro_name(b) not in
                {recipe.macro_name(later) for later in own[j + 1:]}]
      command = shlex.join(recipe.train_command(
          [phase.recipe, *extra.gin_files, path], t5x_flags=extra.t5x_flags,
          python='python'))
      text = '\n'.join([
          f'# The {phase.arm} phase of `ptjf sweep {sweep.name}`; train it '
          'with:', f'# {command}',
          *(f'{recipe.macro_name(b)} = {b.split("=", 1)[1].strip()}'
            for b in lines)])
      out.append(GinFile(path, text + '\n', command, _setting(
          phases, i, bindings, extra.gin_files, 'TRAIN_STEPS')))
  return out


def write_gin_files(files: Sequence[GinFile]) -> None:
  existing = [f.path for f in files if os.path.exists(f.path)]
  if existing:
    more = f' (and {len(existing) - 1} more)' if len(existing) > 1 else ''
    raise ValueError(f'{existing[0]} already exists{more}: not overwriting; '
                     'choose another --root or remove them.')
  for f in files:
    os.makedirs(os.path.dirname(f.path), exist_ok=True)
    with open(f.path, 'x') as out:
      out.write(f.text)


def run_all(commands: Sequence[Sequence[str]]) -> None:
  """Runs `ptjf run` commands in order; exits at the first failure. SIGTERM
  or SIGINT stops the running one (which keeps its checkpoints) and the sweep."""
  for i, args in enumerate(commands, 1):
    print(f'[{i}/{len(commands)}] {display(args)}', flush=True)
    start = time.time()
    with subprocess.Popen([sys.executable, '-m', 'ptjf.cli', *args],
                          cwd=recipe.REPO) as process, signals.passed_on(
                              process) as received:
      status = process.wait()
    elapsed = f'{time.time() - start:.0f} s'
    if received:
      sys.exit(f'error: stopped by signal {received[0]} during '
               f'[{i}/{len(commands)}] after {elapsed}: {display(args)}; run '
               'the same sweep again to resume.')
    if status:
      print(f'error: [{i}/{len(commands)}] failed with exit status {status} '
            f'after {elapsed}: {display(args)}', file=sys.stderr, flush=True)
      sys.exit(status if 0 < status < 256 else 1)
    print(f'[{i}/{len(commands)}] done in {elapsed}', flush=True)


def main(argv: Sequence[str]) -> None:
  try:
    name = experiment.from_argv(argv)
    phases = experiment.phases(name)
    if not _ROOT.value:
      raise ValueError('--root is required: the directory the runs go under.')
    if _FORMAT.value == 'gin' and (_RUN.value or '://' in _ROOT.value):
      raise ValueError('--format=gin writes local files for t5x.train: give a '
                       'local --root, and no --run.')
    if name.endswith('.gin'):
      name = experiment.recipe_path(name)  # `ptjf run` starts in the repository
    extra = bindings.pass_through_from_flags()
    experiment.check_flags(argv[1], phases, **extra.bindings)
    given = {a.flag.name: a.flag.value for a in (*AXES, PRETRAIN_STEPS)}
    dims = dimensions(name, phases, {**given, _FIX.name: _FIX.value,
                                     _TOTAL_STEPS.name: _TOTAL_STEPS.value},
                      extra)
    root = experiment.absolute(_ROOT.value)
    if _FORMAT.value == 'gin' and os.path.isfile(root):
      raise ValueError(f'--root={root} is a file: give a directory (new or '
                       'existing) for the gin files.')
    sweep = plan(name, phases, root, dims)
    experiment.check_required(
        _name(phases[-1]), phases,
        range(len(phases)), experiment.merged(sweep.points[0].bindings, extra),
        extra.gin_files)
    check_lengths(sweep, extra)
    files = gin_files(sweep, extra) if _FORMAT.value == 'gin' else []
    write_gin_files(files)
  except (ValueError, OSError) as e:
    sys.exit(f'error: {e}')
  if files:
    print(f'Wrote {len(files)} gin files; train them in this order (a '
          "fine-tune restores its first phase's final checkpoint):")
    for f in files:
      length = f' ({f.steps} steps)' if sweep.lengths else ''
      print(f'# {f.path}{length}\n{f.train_command}')
  elif _RUN.value:
    run_all([run.args(sweep.name, extra) for run in sweep.runs])
  else:
    print(commands_text(sweep, extra))


if __name__ == '__main__':
  app.run(main)
