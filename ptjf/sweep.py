r"""ptjf sweep: the paper's hyper-parameter grid of an experiment, as `ptjf run`
commands (default), as gin binding files for `python -m t5x.train`, or run.

Usage:
  ptjf sweep EXPERIMENT --root=DIR [--learning_rates=...] [--high_rates=...]
      [--warmups=...] [--taus=...|none] [--format=commands|gin] [--run]
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

An axis is bound in exactly the phases whose recipes take it: LEARNING_RATE in
both phases (--gin), HIGH_RESOURCE_RATE and the temperature in the ptjf
fine-tune only (--finetune_gin) but in both phases of a restart (its static
base trains at the same rate), WARMUP_STEPS in the fine-tune only.

Points that differ only in fine-tune axes share one first phase: the sweep
first runs `ptjf run EXPERIMENT --phase=first --workdir=ROOT/<shared>` once per
value of the shared axes, then each point as `ptjf run EXPERIMENT
--workdir=ROOT/<shared>/<point> --pretrain_dir=ROOT/<shared>/<first arm>` with
all its bindings (drop --pretrain_dir and that command runs both phases itself).
Without fine-tune axes, each point runs both of its phases in ROOT/<point>.
Directory names are the axis values, e.g. ROOT/lr0.005/high0.3_warmup20000.

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
"""

import dataclasses
import itertools
import json
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

# Defines --gin, --pretrain_gin, --finetune_gin and --gin_file for every command.
from ptjf import bindings as _binding_flags
from ptjf import experiment
from ptjf import recipe

# `ptjf run` binding flags, in the order it applies them; each maps to phases.
SCOPES = ('gin', 'pretrain_gin', 'finetune_gin')

# Flags passed through to `ptjf run` (ptjf launch takes the same), defined in
# ptjf.bindings.
PASS_THROUGH_FLAGS = (*SCOPES, 'gin_file', 'tfds_data_dir')
for _name in PASS_THROUGH_FLAGS:
  flags.declare_key_flag(_name)  # listed by --help

_ROOT = flags.DEFINE_string(
    'root', None, 'Directory (local or gs://) under which every run of the '
    'sweep gets its own directory.')
_FORMAT = flags.DEFINE_enum(
    'format', 'commands', ['commands', 'gin'], "'commands': print `ptjf run` "
    "commands; 'gin': write a gin binding file per phase run for t5x.train.")
_RUN = flags.DEFINE_bool(
    'run', False, 'Run the `ptjf run` commands one after another.')


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


def _warmup(text: str) -> str:
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
         _warmup),
    Axis(flags.DEFINE_list('taus', None,
                           "Temperatures of a recipe whose mixture is "
                           "'<prefix>.tau<t>' (mC4); 'none' keeps the "
                           "recipe's. Default 1.43,2,3.33,5; each must be a "
                           'registered mixture (mixtures.registry.PAPER_TAUS).'),
         'MIXTURE_OR_TASK_NAME', 'tau', ('1.43', '2', '3.33', '5'),
         _temperature),
)

_TAU_MIXTURE = re.compile(
    r"""^MIXTURE_OR_TASK_NAME\s*=\s*['"]([\w.-]+)\.tau[\d.]+['"]""", re.M)
_TRAIN_STEPS = re.compile(r'^TRAIN_STEPS\s*=\s*([\d_]+)\s*(?:#.*)?$', re.M)
_TOP_LEVEL_BINDING = re.compile(r'^([A-Za-z_][\w./]*)\s*=', re.M)


def _read(path: str) -> str:
  with open(path) as f:
    return f.read()


def gin_string(text: str) -> str:
  """A gin string literal; double quotes need no escaping inside shell quotes."""
  return json.dumps(text)


# --- Phases and the flags that bind in them (shared with ptjf launch) --------


def scope_phases(scope: str, phases: Sequence[experiment.Phase]
                 ) -> list[experiment.Phase]:
  """The phases a `ptjf run` binding flag (an entry of SCOPES) applies to."""
  return {'gin': list(phases), 'pretrain_gin': list(phases[:1]),
          'finetune_gin': list(phases[1:])}[scope]


def scope_of(arms: set[str], phases: Sequence[experiment.Phase]) -> str:
  """The binding flag that reaches exactly the phases `arms` (or all of them)."""
  if len(phases) == 1 or arms == {p.arm for p in phases}:
    return 'gin'
  return 'pretrain_gin' if arms == {phases[0].arm} else 'finetune_gin'


def phase_bindings(phases: Sequence[experiment.Phase], index: int,
                   bindings: Mapping[str, Sequence[str]]) -> list[str]:
  """The bindings of `phases[index]`, in the order `ptjf run` applies them."""
  return [b for scope in SCOPES
          if phases[index] in scope_phases(scope, phases)
          for b in bindings.get(scope, ())]


def _declared(phase: experiment.Phase) -> set[str]:
  return set(recipe.declared_required(phase.recipe)) - experiment.SET_BY_RUN


def _gin_file_macros(paths: Sequence[str]) -> set[str]:
  """Names bound at the top level of the gin files that exist here."""
  candidates = [c for p in paths for c in (p, os.path.join(recipe.REPO, p))]
  return {m for path in candidates if os.path.isfile(path)
          for m in _TOP_LEVEL_BINDING.findall(_read(path))}


def check_required(name: str, phases: Sequence[experiment.Phase],
                   running: Sequence[int], bindings: Mapping[str, Sequence[str]],
                   gin_files: Sequence[str] = ()) -> None:
  """Raises ValueError naming each REQUIRED macro of the phases that run
  (indices `running`) that no binding or gin file sets, and its flag."""
  from_files = _gin_file_macros(gin_files)
  missing = {}
  for i in running:
    bound = {recipe.macro_name(b) for b in phase_bindings(phases, i, bindings)}
    for macro in sorted(_declared(phases[i]) - bound - from_files):
      arms = {p.arm for p in phases if macro in _declared(p)}
      missing[macro] = scope_of(arms, phases)
  if missing:
    flags_text = ', '.join(f"--{scope}='{macro} = ...'"
                           for macro, scope in missing.items())
    them = 'it' if len(missing) == 1 else 'them'
    raise ValueError(f'{name} leaves {", ".join(missing)} REQUIRED: bind '
                     f'{them} with {flags_text} (or sweep {them} with ptjf '
                     'sweep).')


# --- `ptjf run` command lines (shared with ptjf launch) ----------------------


@dataclasses.dataclass(frozen=True)
class PassThrough:
  """What the user gives to every `ptjf run`."""
  bindings: Mapping[str, Sequence[str]]
  gin_files: Sequence[str] = ()
  tfds_data_dir: Optional[str] = None


def merged(bindings: Mapping[str, Sequence[str]],
           extra: PassThrough) -> dict[str, tuple[str, ...]]:
  """Per scope, `bindings` then the user's."""
  return {s: (*bindings.get(s, ()), *extra.bindings.get(s, ())) for s in SCOPES}


def pass_through_from_flags() -> PassThrough:
  given = _binding_flags.values()
  return PassThrough({s: given[s] for s in SCOPES}, given['gin_files'],
                     _binding_flags.tfds_data_dir())


def run_args(name: str, workdir: str, bindings: Mapping[str, Sequence[str]],
             extra: PassThrough = PassThrough({}),
             pretrain_dir: Optional[str] = None,
             phase: Optional[str] = None) -> list[str]:
  """Arguments of `ptjf run` for one run, from 'run' on; `extra`'s bindings
  come after `bindings`. --phase=first drops --finetune_gin, which ptjf run
  refuses there (the fine-tune does not run)."""
  args = ['run', name, *([f'--phase={phase}'] if phase else []),
          f'--workdir={workdir}']
  args += [f'--pretrain_dir={pretrain_dir}'] if pretrain_dir else []
  args += [f'--{scope}={b}'
           for scope, scope_bindings in merged(bindings, extra).items()
           if not (phase == 'first' and scope == 'finetune_gin')
           for b in scope_bindings]
  args += [f'--gin_file={f}' for f in extra.gin_files]
  if extra.tfds_data_dir:
    args.append(f'--tfds_data_dir={extra.tfds_data_dir}')
  return args


def parse_experiment(argv: Sequence[str]) -> tuple[str, list[experiment.Phase]]:
  """The one EXPERIMENT positional of a command, and its phases."""
  if len(argv) != 2:
    raise ValueError(f'give one EXPERIMENT (a recipe name such as '
                     f'ptjf_wmt_ro_fr_3layer, or a .gin path), got '
                     f'{len(argv) - 1}: {" ".join(argv[1:]) or "none"}.')
  return argv[1], experiment.phases(argv[1])


# --- The grid ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Dimension:
  """An axis as one experiment sweeps it.

  Attributes:
    axis: the Axis.
    scope: the `ptjf run` flag that binds it.
    values: (directory label, 'NAME=VALUE' binding) per value.
  """
  axis: Axis
  scope: str
  values: tuple[tuple[str, str], ...]


def _temperature_prefix(phase: experiment.Phase) -> Optional[str]:
  """'ptjf_mc4' if the recipe's mixture is a literal 'ptjf_mc4.tau<t>'."""
  match = _TAU_MIXTURE.search(_read(phase.recipe))
  return match.group(1) if match else None


def _takes(axis: Axis, phase: experiment.Phase) -> bool:
  if axis.is_temperature:
    return _temperature_prefix(phase) is not None
  return axis.macro in _declared(phase)


def _arms(scope: str, phases: Sequence[experiment.Phase]) -> set[str]:
  return {p.arm for p in scope_phases(scope, phases)}


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


def dimensions(name: str, phases: Sequence[experiment.Phase],
               given: Mapping[str, Optional[Sequence[str]]],
               extra: PassThrough = PassThrough({})) -> list[Dimension]:
  """The axes `name` is swept on; `given` maps an axis flag name to the
  values given on the command line, or None for the paper's grid."""
  dims = []
  for axis in AXES:
    texts = given.get(axis.flag.name)
    arms = {p.arm for p in phases if _takes(axis, p)}
    if texts is not None and not arms:
      takes = ("a '<prefix>.tau<t>' mixture" if axis.is_temperature else
               f'{axis.macro} (its recipes set it)')
      raise ValueError(f'--{axis.flag.name}: {name} does not take {takes}.')
    if not arms or (axis.is_temperature and texts == ['none']):
      continue
    scope = scope_of(arms, phases)
    for user_scope in SCOPES:  # a second binding of the macro would win silently
      clash = [b for b in extra.bindings.get(user_scope, ())
               if recipe.macro_name(b) == axis.macro]
      if clash and _arms(user_scope, phases) & _arms(scope, phases):
        raise ValueError(f'--{user_scope}={clash[0]} sets {axis.macro}, which '
                         f'the sweep sets: use --{axis.flag.name}=... instead.')
    values = gin_values = _values(axis, texts)
    if axis.is_temperature:  # the recipe's mixture at another temperature
      prefix = next(filter(None, map(_temperature_prefix, phases)))
      gin_values = [gin_string(f'{prefix}.tau{v}') for v in values]
    dims.append(Dimension(axis, scope, tuple(
        (axis.label + v, f'{axis.macro}={g}')
        for v, g in zip(values, gin_values))))
  return dims


@dataclasses.dataclass(frozen=True)
class Run:
  """One `ptjf run` of a sweep.

  Attributes:
    workdir: its --workdir; each phase it runs writes workdir/<arm>.
    bindings: scope (an entry of SCOPES) -> 'NAME=VALUE' bindings.
    pretrain_dir: the shared first phase it fine-tunes from, if any.
    first_only: it runs only the first phase, for the runs that share it.
  """
  workdir: str
  bindings: Mapping[str, tuple[str, ...]]
  pretrain_dir: Optional[str] = None
  first_only: bool = False

  def phase_indices(self, phases: Sequence[experiment.Phase]) -> list[int]:
    if self.first_only:
      return [0]
    return [len(phases) - 1] if self.pretrain_dir else list(range(len(phases)))

  def args(self, name: str, extra: PassThrough) -> list[str]:
    return run_args(name, self.workdir, self.bindings, extra, self.pretrain_dir,
                    'first' if self.first_only else None)


@dataclasses.dataclass(frozen=True)
class Sweep:
  """Every run of a sweep: the shared first phases, then the points."""
  name: str
  phases: list[experiment.Phase]
  dims: list[Dimension]
  firsts: list[Run]
  points: list[Run]

  @property
  def runs(self) -> list[Run]:
    return self.firsts + self.points


def plan(name: str, phases: Sequence[experiment.Phase], root: str,
         dims: Sequence[Dimension]) -> Sweep:
  """Lays the grid of `dims` out under `root` (a local or gs:// path)."""
  # Fine-tune axes vary within a group that shares one first phase.
  shares = len(phases) == 2 and any(d.scope == 'finetune_gin' for d in dims)
  firsts, points = {}, []
  for point in itertools.product(*(d.values for d in dims)):
    bindings = {scope: tuple(b for d, (_, b) in zip(dims, point)
                             if d.scope == scope) for scope in SCOPES}
    shared = '_'.join(label for d, (label, _) in zip(dims, point)
                      if not shares or d.scope != 'finetune_gin')
    own = '_'.join(label for d, (label, _) in zip(dims, point)
                   if shares and d.scope == 'finetune_gin')
    group_dir = posixpath.join(root, shared) if shared else root
    if not shares:
      points.append(Run(group_dir, bindings))
      continue
    first_bindings = {s: bindings[s] for s in ('gin', 'pretrain_gin')}
    firsts.setdefault(group_dir, Run(group_dir, first_bindings, first_only=True))
    points.append(Run(posixpath.join(group_dir, own), bindings,
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


def title(sweep: Sweep) -> str:
  grid = ' x '.join(
      f'{len(d.values)} {"tau" if d.axis.is_temperature else d.axis.macro}'
      for d in sweep.dims)
  return f'# ptjf sweep {sweep.name}: {grid or "no open axis"}'


def command_groups(sweep: Sweep) -> list[tuple[str, list[Run]]]:
  """(comment, runs) in the order to run them."""
  first, last = sweep.phases[0].arm, sweep.phases[-1].arm
  if not sweep.firsts:
    both = ', running both phases' if len(sweep.phases) == 2 else ''
    return [(f'# {_count(len(sweep.points), last)}{both}', sweep.points)]
  groups = [(f'# {_count(len(sweep.firsts), first)} (--phase=first), shared '
             f'by the {last} runs below', sweep.firsts)]
  for run in sweep.firsts:
    pretrain_dir = posixpath.join(run.workdir, first)
    group = [p for p in sweep.points if p.pretrain_dir == pretrain_dir]
    groups.append((f'# {_count(len(group), last)} from {pretrain_dir}', group))
  return groups


def commands_text(sweep: Sweep, extra: PassThrough) -> str:
  lines = [title(sweep)]
  for comment, runs in command_groups(sweep):
    lines += [comment, *(display(run.args(sweep.name, extra)) for run in runs)]
  return '\n'.join(lines)


def recipe_train_steps(path: str) -> int:
  """The literal `TRAIN_STEPS = N` of a recipe, without T5X."""
  match = _TRAIN_STEPS.search(_read(path))
  if not match:
    raise ValueError(f'{path} has no literal `TRAIN_STEPS = N` line to tell '
                     'its final checkpoint.')
  return int(match.group(1))


def first_phase_bindings(phases: Sequence[experiment.Phase],
                         bindings: Mapping[str, Sequence[str]]) -> list[str]:
  """The first phase's bindings; the restart's static phase first runs for
  the pre-training's TRAIN_STEPS, as `ptjf run` binds it."""
  steps_from = phases[0].steps_from
  steps = [f'TRAIN_STEPS={recipe_train_steps(steps_from)}'] if steps_from else []
  return steps + phase_bindings(phases, 0, bindings)


def final_step(phases: Sequence[experiment.Phase],
               bindings: Mapping[str, Sequence[str]]) -> int:
  """The step of the first phase's final checkpoint: its last TRAIN_STEPS."""
  steps = [b.split('=', 1)[1] for b in first_phase_bindings(phases, bindings)
           if recipe.macro_name(b) == 'TRAIN_STEPS']
  if not steps:
    return recipe_train_steps(phases[0].recipe)
  try:
    return int(steps[-1].strip())
  except ValueError:
    raise ValueError(f'TRAIN_STEPS = {steps[-1].strip()} is not a number of '
                     "steps: cannot name the first phase's final checkpoint."
                     ) from None


@dataclasses.dataclass(frozen=True)
class GinFile:
  path: str
  text: str
  train_command: str


def gin_files(sweep: Sweep, extra: PassThrough) -> list[GinFile]:
  """A binding file per phase run, for `python -m t5x.train` without ptjf."""
  phases, out = sweep.phases, []
  for run in sweep.runs:
    bindings = merged(run.bindings, extra)
    for i in run.phase_indices(phases):
      phase = phases[i]
      model_dir = posixpath.join(run.workdir, phase.arm)
      path = model_dir + '.gin'
      lines = [f'MODEL_DIR={gin_string(model_dir)}']
      if phase.restores:
        first_dir = run.pretrain_dir or posixpath.join(run.workdir, phases[0].arm)
        checkpoint = f'{first_dir}/checkpoint_{final_step(phases, bindings)}'
        lines.append(f'INITIAL_CHECKPOINT_PATH={gin_string(checkpoint)}')
      lines += (first_phase_bindings(phases, bindings) if i == 0 else
                phase_bindings(phases, i, bindings))
      command = shlex.join(
          ['python', '-m', 't5x.train', f'--gin_search_paths={recipe.REPO}',
           f'--gin_file={phase.recipe}',
           *(f'--gin_file={f}' for f in extra.gin_files), f'--gin_file={path}',
           *([f'--tfds_data_dir={extra.tfds_data_dir}']
             if extra.tfds_data_dir else [])])
      text = '\n'.join([
          f'# The {phase.arm} phase of `ptjf sweep {sweep.name}`; train it '
          'with:', f'# {command}',
          *(f'{recipe.macro_name(b)} = {b.split("=", 1)[1].strip()}'
            for b in lines)])
      out.append(GinFile(path, text + '\n', command))
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
  """Runs `ptjf run` commands in order; exits at the first failure."""
  for i, args in enumerate(commands, 1):
    print(f'[{i}/{len(commands)}] {display(args)}', flush=True)
    start = time.time()
    status = subprocess.run([sys.executable, '-m', 'ptjf.cli', *args],
                            cwd=recipe.REPO, check=False).returncode
    elapsed = f'{time.time() - start:.0f} s'
    if status:
      print(f'error: [{i}/{len(commands)}] failed with exit status {status} '
            f'after {elapsed}: {display(args)}', file=sys.stderr, flush=True)
      sys.exit(status if 0 < status < 256 else 1)
    print(f'[{i}/{len(commands)}] done in {elapsed}', flush=True)


def _root(path: str) -> str:
  """Absolute (runs start in the repository), unless a URL such as gs://."""
  return path if '://' in path else os.path.abspath(os.path.expanduser(path))


def main(argv: Sequence[str]) -> None:
  try:
    name, phases = parse_experiment(argv)
    if not _ROOT.value:
      raise ValueError('--root is required: the directory the runs go under.')
    if _FORMAT.value == 'gin' and (_RUN.value or '://' in _ROOT.value):
      raise ValueError('--format=gin writes local files for t5x.train: give a '
                       'local --root, and no --run.')
    if name.endswith('.gin'):
      name = experiment.recipe_path(name)  # `ptjf run` starts in the repository
    extra = pass_through_from_flags()
    experiment.check_flags(argv[1], phases, **extra.bindings)
    # Runs start in the repository: keep gin files found from here findable.
    extra = dataclasses.replace(extra, gin_files=[
        os.path.abspath(f) if os.path.isfile(f) else f for f in extra.gin_files])
    dims = dimensions(name, phases, {a.flag.name: a.flag.value for a in AXES},
                      extra)
    sweep = plan(name, phases, _root(_ROOT.value), dims)
    check_required(os.path.basename(phases[-1].recipe)[:-len('.gin')], phases,
                   range(len(phases)), merged(sweep.points[0].bindings, extra),
                   extra.gin_files)
    files = gin_files(sweep, extra) if _FORMAT.value == 'gin' else []
    write_gin_files(files)
  except (ValueError, OSError) as e:
    sys.exit(f'error: {e}')
  if files:
    print(f'Wrote {len(files)} gin files; train them in this order (a '
          "fine-tune restores its first phase's final checkpoint):")
    for f in files:
      print(f'# {f.path}\n{f.train_command}')
  elif _RUN.value:
    run_all([run.args(sweep.name, extra) for run in sweep.runs])
  else:
    print(commands_text(sweep, extra))


if __name__ == '__main__':
  app.run(main)
