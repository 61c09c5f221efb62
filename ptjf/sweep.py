r"""ptjf sweep: the paper's hyper-parameter grid of an experiment, as `ptjf run`
commands (default), as gin binding files for `python -m t5x.train`, or run.

Usage:
  ptjf sweep EXPERIMENT --root=DIR [--learning_rates=...] [--high_rates=...]
      [--warmups=...] [--taus=...|none] [--stage_axis=ARM:NAME=V1,...]...
      [--format=commands|gin] [--run] [--yes]
      [--pretrain_steps=N1,... --fix=total|finetune [--total_steps=N]]
      [--gin='NAME = VALUE']... [--pretrain_gin=...]... [--finetune_gin=...]...
      [--stage_gin='ARM:NAME = VALUE']... [--gin_file=F]... [--tfds_data_dir=D]

EXPERIMENT is a recipe name (e.g. ptjf_wmt_ro_fr_3layer) or a .gin path, the
last stage of a chain of any length. The sweep covers every axis the
experiment's recipes leave open, on the paper's grid (App. A.1, sec. 4.2)
unless its flag gives the values:

  --learning_rates  LEARNING_RATE        2.5e-4,5e-4,2.5e-3,5e-3,7.5e-3
  --high_rates      HIGH_RESOURCE_RATE   0.1,0.2,...,0.9
  --warmups         WARMUP_STEPS         10000,20000,30000,40000
  --taus            temperature (mC4)    1.43,2,3.33,5 ('none': the recipe's)

The first three where a recipe leaves the macro REQUIRED; --taus where the
recipe's mixture is a literal '<prefix>.tau<t>' (ptjf_mc4_*, static_mc4_*,
restart_mc4_*, *_synth_mc4_tiny), as MIXTURE_OR_TASK_NAME = '<prefix>.tau<t>'.
Where the stages that take a temperature train at different ones (a
cooldown, e.g. cooldown_*, cool_*, ptjfcool_*), one --taus would erase the
schedule: without --taus they keep their recipes' temperatures, and --taus
is refused; sweep one stage's with --stage_axis instead.

--stage_axis=ARM:NAME=V1,V2,... sweeps NAME in the stage of ARM alone (the
first word of its recipe's name), bound with --stage_gin='ARM:NAME=V'. NAME
is a macro that stage's recipe binds or leaves REQUIRED, or 'tau' for the
temperature of its '<prefix>.tau<t>' mixture. LEARNING_RATE,
HIGH_RESOURCE_RATE, WARMUP_STEPS and TRAIN_STEPS values are checked as their
flags' are; a string macro (e.g. MIXTURE_OR_TASK_NAME) takes names; any
other, numbers or True/False. Repeat the flag for more stages or macros;
directories name the values by stage, e.g. ROOT/cooldown-tau2,
ROOT/ptjfhot-warmup10, ROOT/cooldown-mixture_or_task_name-ptjf_synth.tau2.
A stage's axis takes that stage over from the paper's grid of the same
macro; giving both flags for one stage is refused. The other stages keep
their recipes' values: a stage that keeps the state goes on with its own
WARMUP_STEPS, whatever the warm-up swept before it. A TRAIN_STEPS of a stage
that keeps the state (gin/phases/continue.gin) is the step it ends at,
counted from where its chain's step starts, and must exceed the stage
before it's.

The length study (sec. 4.3, Fig. 9) is swept only when asked for:
--pretrain_steps=N1,... sets the first stage's TRAIN_STEPS (the static
base's for a restart), and --fix says what the later stages run:

  --fix=total     the last stage gets the rest of TOTAL - N1, TOTAL being
                  --total_steps or the stages' steps summed (mC4: 500k in
                  all); the stages between keep their steps
  --fix=finetune  every later stage keeps its steps, whatever N1 (NMT)

A stage that keeps the state trains as many steps as its recipe gives it
(or the rest), so the TRAIN_STEPS it is bound with is the step where it then
ends: cooldown_synth_mc4_tiny with --pretrain_steps=100 --fix=total runs hot
100 steps, then the cooldown from step 100 to its TRAIN_STEPS = 320. A value
that leaves a stage no steps, or no more than its WARMUP_STEPS, is refused.
Each N1 gets its own ROOT/pretrain<N1>, and a comment per group of runs
gives the steps each stage trains.

An axis is bound in exactly the stages whose recipes take it, with the flag
that reaches those: LEARNING_RATE in both phases (--gin), HIGH_RESOURCE_RATE
and the temperature in the ptjf fine-tune only (--finetune_gin) but in both
phases of a restart (its static base trains at the same rate), WARMUP_STEPS
in the fine-tune only; in some stages of a longer chain, --finetune_gin
where they are all the later ones, else --stage_gin once per stage.
--pretrain_steps binds the first stage (and the later stages' TRAIN_STEPS
that move with it: --finetune_gin where there is one, else --stage_gin).

Points that differ only in axes of later stages share one first stage: the
sweep first runs `ptjf run EXPERIMENT --phase=first --workdir=ROOT/<shared>`
once per value of the shared axes, then each point as `ptjf run EXPERIMENT
--workdir=ROOT/<shared>/<point> --pretrain_dir=ROOT/<shared>/<first arm>`
with all its bindings, which runs every later stage (drop --pretrain_dir and
that command runs the first stage itself too). Without axes of later stages,
each point runs all its stages in ROOT/<point>. Directory names are the axis
values, e.g. ROOT/lr0.005/high0.3_warmup20000. Fine-tunes of different
pre-training lengths never share one: N1 is a first stage value, e.g.
ROOT/pretrain100000/tau2.

--gin, --pretrain_gin, --finetune_gin, --stage_gin, --gin_file and
--tfds_data_dir are passed to every `ptjf run` (--finetune_gin, and a
--stage_gin of a later stage, not to --phase=first, where ptjf run refuses
them); binding a swept macro in a stage it sweeps is an error (fix an axis
with its own flag instead, e.g. --learning_rates=5e-3).

Before it prints, writes or runs anything, every run of the grid goes
through the checks of its own `ptjf run`: its directories' names fit the
file system, each value swept is valid for its setting, a fine-tune warms
up for fewer steps than it runs, and a stage that keeps the state ends past
the step where the one before it ended. Where T5X is installed, `ptjf
check`'s checks short of the data (REQUIRED macros, bindings, registered
mixtures, the settings' ranges, the model) also run on the first
--phase=first run as printed, on the first point and on the first point of
each other value of every axis. The first bad point refuses the grid, in one
line naming its directory (its axis values) and why. A grid of more than
1000 runs (or gin files) is printed, written or run only with --yes.

--format=gin writes DIR/<arm>.gin per stage run instead (MODEL_DIR, the final
checkpoint of the stage before as INITIAL_CHECKPOINT_PATH, the run's
bindings) with the `python -m t5x.train` command in its header; it never
overwrites a file. --run runs the `ptjf run` commands one after another and
stops at the first failure; `ptjf run` skips finished stages, so run the
same sweep again to resume.

Example:
  ptjf sweep ptjf_wmt_ro_fr_3layer --root=gs://bucket/sweep --high_rates=0.3,0.7
  ptjf sweep ptjf_synth_ro_fr_tiny --root=/tmp/sweep --high_rates=0.3,0.7 --run
  ptjf sweep ptjf_mc4_xl --root=gs://bucket/length --taus=none \
      --pretrain_steps=100000,250000,400000 --fix=total
  ptjf sweep ptjfcool_synth_mc4_tiny --root=/tmp/sweep \
      --stage_axis=ptjfhot:tau=3.33,5 --stage_axis=ptjfcool:tau=1,2
"""

import ast
import dataclasses
import itertools
import os
import posixpath
import shlex
import sys
import tempfile
import time
from typing import Optional, Sequence

from absl import app
from absl import flags

from ptjf import bindings
from ptjf import child
from ptjf import experiment
from ptjf import grid
from ptjf import outputs
from ptjf import recipe
from ptjf import settings

flags.adopt_module_key_flags(bindings)  # passed to every `ptjf run`

_ROOT = flags.DEFINE_string(
    'root', None, 'Directory (local or gs://) under which every run of the '
    'sweep gets its own directory.')
_FORMAT = flags.DEFINE_enum(
    'format', 'commands', ['commands', 'gin'], "'commands': print `ptjf run` "
    "commands; 'gin': write a gin binding file per phase run for t5x.train.")
_RUN = flags.DEFINE_bool(
    'run', False, 'Run the `ptjf run` commands one after another.')
_YES = flags.DEFINE_bool(
    'yes', False, 'Print, write or run a grid of more than 1000 runs.')
# A string, not an enum: a bad value is refused in one line like the rest.
_FIX = flags.DEFINE_string(
    grid.FIX, None, "total|finetune, with --pretrain_steps: 'total' gives the "
    "fine-tune the rest of --total_steps; 'finetune' keeps the fine-tune's "
    'TRAIN_STEPS, so the total varies.')
_TOTAL_STEPS = flags.DEFINE_string(
    grid.TOTAL_STEPS, None, "With --fix=total: the two phases' steps together; "
    "default: the two recipes' TRAIN_STEPS summed.")

_AXIS_HELP = {
    'learning_rates': 'LEARNING_RATE values; default: 2.5e-4,5e-4,2.5e-3,'
                      '5e-3,7.5e-3 where a recipe leaves it REQUIRED.',
    'high_rates': 'HIGH_RESOURCE_RATE values in (0, 1); default: 0.1,...,0.9 '
                  'where a recipe leaves it REQUIRED.',
    'warmups': "The fine-tune's WARMUP_STEPS; default: 10000,20000,30000,"
               '40000 where its recipe leaves it REQUIRED.',
    'taus': "Temperatures of a recipe whose mixture is '<prefix>.tau<t>' "
            "(mC4); 'none' keeps the recipe's. Default 1.43,2,3.33,5; each "
            'must be a registered mixture (mixtures.registry.TAUS).',
    'pretrain_steps': "The first phase's TRAIN_STEPS (N1; the static base's "
                      'for a restart), for the length study (sec. 4.3); give '
                      '--fix with it.',
}
_AXIS_FLAGS = [flags.DEFINE_list(axis.flag, None, _AXIS_HELP[axis.flag])
               for axis in (*grid.AXES, grid.PRETRAIN_STEPS)]

_STAGE_AXIS = flags.DEFINE_multi_string(
    grid.STAGE_AXIS, None, "ARM:NAME=V1,V2,...: NAME's values in the stage of "
    "ARM alone (bound with --stage_gin); NAME a macro that stage's recipe "
    "binds or leaves REQUIRED, or 'tau' for its '<prefix>.tau<t>' mixture. "
    'Repeat it for more stages or macros.')

MAX_RUNS = 1000  # a larger grid is printed, written or run only with --yes


# --- Checking the points ------------------------------------------------------


def point_name(sweep: grid.Grid, run: experiment.Invocation) -> str:
  """A run by its axis values, as its directory under the root names them
  (a shared first phase's, its own); the experiment's where it has none."""
  name = posixpath.relpath(run.workdir, sweep.root)
  if run.first_only:
    name = posixpath.normpath(posixpath.join(name, sweep.phases[0].arm))
  return sweep.name if name == '.' else name


def _plain(scope: str, binding: str) -> str:
  """'NAME=VALUE' of a binding under `scope` (a --stage_gin's without ARM:)."""
  return experiment.stage_binding(binding)[1] if scope == 'stage_gin' else binding


def _given(sweep: grid.Grid, run: experiment.Invocation) -> dict[str, str]:
  """The bindings the sweep gave `run`, each with the flag that gave it."""
  given = {}
  for d in sweep.dims:
    for label, bindings in d.values:
      if bindings[0] in run.bindings[d.scope]:
        flag = f'--{d.axis.flag}={label[len(d.axis.label):]}'
        given.update((_plain(d.scope, b), flag) for b in bindings)
        # --fix: the later stages' steps
        given.update((_plain(scope, b), f'{flag} (--fix={d.fix})')
                     for scope, b in d.derived.get(label, ()))
  return given


def check_point(sweep: grid.Grid, run: experiment.Invocation,
                extra: experiment.PassThrough) -> None:
  """What tells a bad point without reading a recipe with gin: its
  directories' names fit the file system, each value the sweep binds is
  valid for its setting, and a fine-tune warms up for less than it runs."""
  if '://' not in sweep.root:
    for i in run.phase_indices(sweep.phases):
      experiment.check_name_lengths(
          posixpath.join(run.workdir, sweep.phases[i].arm), '--root')
  given = _given(sweep, run)
  for binding, flag in given.items():
    name, value = (t.strip() for t in binding.split('=', 1))
    settings.check(name, ast.literal_eval(value), flag)
  bindings = run.bindings + extra.bindings
  for i in run.phase_indices(sweep.phases):
    phase = sweep.phases[i]
    steps, warmup = (grid.setting(sweep.phases, i, bindings, extra.gin_files,
                                  macro) for macro in ('TRAIN_STEPS',
                                                       'WARMUP_STEPS'))
    before = i and grid.setting(sweep.phases, i - 1, bindings,
                                extra.gin_files, 'TRAIN_STEPS')
    if phase.keeps_state and None not in (steps, before) and steps <= before:
      written = given.get(f'TRAIN_STEPS={steps}',
                          f"{grid.recipe_name(phase)}'s TRAIN_STEPS")
      raise ValueError(f'{written}: the {phase.arm} keeps the state of the '
                       f'{sweep.phases[i - 1].arm}, which ends at step '
                       f'{before}, so its TRAIN_STEPS = {steps}, the step it '
                       f'ends at, must exceed {before}.')
    if phase.restores and None not in (steps, warmup):
      written = next((flag for b, flag in given.items()
                      if recipe.macro_name(b) == 'WARMUP_STEPS'),
                     f"{grid.recipe_name(phase)}'s WARMUP_STEPS")
      settings.check_warmup(warmup, steps, written, finetune=True,
                            cosine_schedule=False)


def prepared_points(sweep: grid.Grid) -> list[experiment.Invocation]:
  """The points `ptjf sweep` checks as `ptjf run` would, with T5X: the
  first, and the first of each other value of each axis: 16 of the paper's
  NMT grid of 180, in 10 s, where all 180 take 2 minutes. What holds
  between two axes is check_point's, on every point."""
  chosen = sweep.points[:1]
  for d in sweep.dims:
    for _, (binding, *_) in d.values:
      if not any(binding in p.bindings[d.scope] for p in chosen):
        chosen.append(next(p for p in sweep.points
                           if binding in p.bindings[d.scope]))
  return chosen


def passed(sweep: grid.Grid, run: experiment.Invocation,
           extra: experiment.PassThrough) -> experiment.PassThrough:
  """What the user gives every run, as `run` takes it: a --phase=first run
  trains the first stage alone, so no --stage_gin for another (ptjf run
  refuses it there; Invocation.args drops --finetune_gin)."""
  if not run.first_only:
    return extra
  first = sweep.phases[0].arm
  return dataclasses.replace(extra, bindings=dataclasses.replace(
      extra.bindings, stage_gin=[b for b in extra.bindings.stage_gin
                                 if experiment.stage_binding(b)[0] == first]))


def args(sweep: grid.Grid, run: experiment.Invocation,
         extra: experiment.PassThrough) -> list[str]:
  """The `ptjf run` arguments of `run`, from 'run' on."""
  return run.args(sweep.name, passed(sweep, run, extra))


def check_points(sweep: grid.Grid, extra: experiment.PassThrough) -> None:
  """Raises ValueError naming the first point of the sweep that `ptjf run`
  would refuse, and why: check_point for every run; where T5X is
  installed, also preflight.prepare (all but the data, which may be
  prepared later or elsewhere) for the prepared_points, each run with all
  of its stages in a directory of its own, and for the first --phase=first
  run as printed."""
  for run in sweep.runs:
    try:
      check_point(sweep, run, extra)
    except ValueError as e:
      raise ValueError(f'point {point_name(sweep, run)}: {e}') from None
  if recipe.t5x_missing():
    return
  recipe.require_t5x()
  from ptjf import preflight  # pylint: disable=g-import-not-at-top
  for run in [*sweep.firsts[:1], *prepared_points(sweep)]:
    bindings = run.bindings + passed(sweep, run, extra).bindings
    if run.first_only:
      bindings = dataclasses.replace(bindings, finetune_gin=())
    workdir = run.workdir if '://' not in run.workdir else os.path.join(
        tempfile.gettempdir(), 'ptjf-sweep', point_name(sweep, run))
    try:
      preflight.prepare(sweep.name, workdir, gin_files=extra.gin_files,
                        tfds_data_dir=extra.tfds_data_dir, check_data=False,
                        phase=run.phase, **bindings)
    except ValueError as e:
      raise ValueError(f'point {point_name(sweep, run)}: {e}') from None


# --- Output ------------------------------------------------------------------


def display(args: Sequence[str]) -> str:
  """`ptjf run ...` as pasted into bash."""
  return shlex.join(['ptjf', *args])


def _count(n: int, noun: str) -> str:
  return f'{n} {noun} run{"" if n == 1 else "s"}'


def _noun(d: grid.Dimension, phases: Sequence[experiment.Phase]) -> str:
  if d.axis is grid.PRETRAIN_STEPS:
    return f'{phases[0].arm} TRAIN_STEPS'
  stage = f'{d.axis.stage} ' if d.axis.stage else ''
  return stage + ('tau' if d.axis.is_temperature else d.axis.macro)


def title(sweep: grid.Grid) -> str:
  grid = ' x '.join(f'{len(d.values)} {_noun(d, sweep.phases)}'
                    for d in sweep.dims)
  return f'# ptjf sweep {sweep.name}: {grid or "no open axis"}'


def _length_note(sweep: grid.Grid, run: experiment.Invocation,
                 extra: experiment.PassThrough) -> str:
  """': pretrain 100000 + ptjf 400000 = 500000 steps' under a length sweep:
  the steps each stage trains."""
  if not sweep.lengths:
    return ''
  own = grid.stage_lengths(sweep.phases, grid.phase_steps(sweep, run, extra))
  parts = ' + '.join(f'{p.arm} {n}' for p, n in zip(sweep.phases, own))
  return f': {parts} = {sum(own)} steps'


def command_groups(sweep: grid.Grid,
                   extra: experiment.PassThrough = experiment.PassThrough({})
                   ) -> list[tuple[str, list[experiment.Invocation]]]:
  """(comment, runs) in the order to run them; under a length sweep each
  group of fine-tunes has one length, given in its comment."""
  first, last = sweep.phases[0].arm, sweep.phases[-1].arm

  def note(run: experiment.Invocation) -> str:
    return _length_note(sweep, run, extra)

  if not sweep.firsts:
    both = {1: '', 2: ', running both phases'}.get(
        len(sweep.phases), f', running its {len(sweep.phases)} stages')
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


def commands_text(sweep: grid.Grid, extra: experiment.PassThrough) -> str:
  lines = [title(sweep)]
  for comment, runs in command_groups(sweep, extra):
    lines += [comment, *(display(args(sweep, run, extra)) for run in runs)]
  return '\n'.join(lines)


@dataclasses.dataclass(frozen=True)
class GinFile:
  path: str
  text: str
  train_command: str
  steps: Optional[int] = None


def gin_files(sweep: grid.Grid, extra: experiment.PassThrough) -> list[GinFile]:
  """A binding file per phase run, for `python -m t5x.train` without ptjf."""
  phases, out = sweep.phases, []
  for run in sweep.runs:
    bindings = run.bindings + extra.bindings
    for i in run.phase_indices(phases):
      phase = phases[i]
      model_dir = posixpath.join(run.workdir, phase.arm)
      path = model_dir + '.gin'
      lines = [recipe.string_binding('MODEL_DIR', model_dir)]
      if phase.restores:  # the final checkpoint of the stage before
        before = (run.pretrain_dir if i == 1 and run.pretrain_dir else
                  posixpath.join(run.workdir, phases[i - 1].arm))
        lines.append(recipe.string_binding(
            'INITIAL_CHECKPOINT_PATH',
            f'{before}/checkpoint_{_final_step(phases, i - 1, bindings, extra)}'))
      own = experiment.phase_bindings(phases, i, bindings)
      # Gin keeps a macro's last binding (a restart's TRAIN_STEPS under a
      # length sweep): write that one alone.
      lines += [b for j, b in enumerate(own) if recipe.macro_name(b) not in
                {recipe.macro_name(later) for later in own[j + 1:]}]
      command = shlex.join(recipe.t5x_command(
          'train', [phase.recipe, *extra.gin_files, path],
          t5x_flags=extra.t5x_flags, python='python'))
      text = '\n'.join([
          f'# The {phase.arm} phase of `ptjf sweep {sweep.name}`; train it '
          'with:', f'# {command}',
          *(f'{recipe.macro_name(b)} = {b.split("=", 1)[1].strip()}'
            for b in lines)])
      out.append(GinFile(path, text + '\n', command, grid.setting(
          phases, i, bindings, extra.gin_files, 'TRAIN_STEPS')))
  return out


def _final_step(phases: Sequence[experiment.Phase], index: int,
                bindings: experiment.Bindings,
                extra: experiment.PassThrough) -> int:
  """The step of the final checkpoint of `phases[index]`: its TRAIN_STEPS."""
  steps = grid.setting(phases, index, bindings, extra.gin_files, 'TRAIN_STEPS')
  if steps is None:
    raise ValueError(f"the {phases[index].arm}'s TRAIN_STEPS is not a number "
                     'of steps: cannot name its final checkpoint.')
  return steps


def write_gin_files(files: Sequence[GinFile]) -> None:
  existing = [f.path for f in files if os.path.exists(f.path)]
  if existing:
    more = f' (and {len(existing) - 1} more)' if len(existing) > 1 else ''
    raise ValueError(f'{existing[0]} already exists{more}: not overwriting; '
                     'choose another --root or remove them.')
  outputs.write({f.path: f.text for f in files})  # all or none


def run_all(commands: Sequence[Sequence[str]]) -> None:
  """Runs `ptjf run` commands in order; exits at the first failure. SIGTERM
  or SIGINT stops the running one (which keeps its checkpoints) and the sweep."""
  for i, args in enumerate(commands, 1):
    print(f'[{i}/{len(commands)}] {display(args)}', flush=True)
    start = time.time()
    done = child.run(child.ptjf_command(args))
    elapsed = f'{time.time() - start:.0f} s'
    if done.signals:
      child.exit_stopped(f'stopped by signal {done.signals[0]} during '
                         f'[{i}/{len(commands)}] after {elapsed}: '
                         f'{display(args)}; run the same sweep again to resume.',
                         done.signals[0])
    if done.returncode:
      print(f'error: [{i}/{len(commands)}] failed with exit status '
            f'{done.returncode} after {elapsed}: {display(args)}',
            file=sys.stderr, flush=True)
      sys.exit(done.returncode if 0 < done.returncode < 256 else 1)
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
    experiment.check_flags(argv[1], phases, extra.bindings)
    given = {f.name: f.value
             for f in (*_AXIS_FLAGS, _FIX, _TOTAL_STEPS, _STAGE_AXIS)}
    dims = grid.dimensions(name, phases, given, extra)
    root = experiment.absolute(_ROOT.value)
    if _FORMAT.value == 'gin' and os.path.isfile(root):
      raise ValueError(f'--root={root} is a file: give a directory (new or '
                       'existing) for the gin files.')
    sweep = grid.lay_out(name, phases, root, dims)
    experiment.check_required(
        grid.recipe_name(phases[-1]), phases,
        range(len(phases)), sweep.points[0].bindings + extra.bindings,
        extra.gin_files)
    grid.check_lengths(sweep, extra)
    files = gin_files(sweep, extra) if _FORMAT.value == 'gin' else []
    for f in files:
      outputs.check(f.path, f'--root={_ROOT.value}')
    if len(files or sweep.runs) > MAX_RUNS and not _YES.value:
      what = 'gin files' if files else 'ptjf run commands'
      raise ValueError(f'this sweep makes {len(files or sweep.runs)} {what}, '
                       f'more than {MAX_RUNS}: give --yes to have them all, or '
                       'fewer values to an axis flag (e.g. '
                       '--learning_rates=5e-3).')
    check_points(sweep, extra)
    write_gin_files(files)
  except (ValueError, OSError) as e:
    sys.exit(f'error: {e}')
  if files:
    print(f'Wrote {len(files)} gin files; train them in this order (a '
          "later stage restores the final checkpoint of the one before it):")
    for f in files:
      length = f' ({f.steps} steps)' if sweep.lengths else ''
      print(f'# {f.path}{length}\n{f.train_command}')
  elif _RUN.value:
    run_all([args(sweep, run, extra) for run in sweep.runs])
  else:
    print(commands_text(sweep, extra))


if __name__ == '__main__':
  app.run(main)
