"""Resolves an experiment's phases and checks them before any compute.

Every problem found here is a PreflightError whose message is one line naming
the bad value and what would be valid: unknown experiments, REQUIRED macros
left unbound, bindings a recipe does not define, unknown mixtures, overlapping
directories, missing or incomplete initial checkpoints, and checkpoints of a
different model than the recipe builds.
"""

import ast
import dataclasses
import os
import re
import socket
from typing import Optional, Sequence

import seqio
import tensorflow as tf

from ptjf import checkpoint
from ptjf import datasets
from ptjf import experiment
from ptjf import host
from ptjf import recipe

# How T5X's config.gin records the checkpoint a fine-tune restored.
_RESTORED = re.compile(r'^INITIAL_CHECKPOINT_PATH = (.+)$', re.M)


class PreflightError(ValueError):
  """A problem found before any training; its message is one line."""


@dataclasses.dataclass
class PhaseRun:
  """One phase of an experiment, resolved: where it runs and for how long."""
  phase: experiment.Phase
  model_dir: str
  bindings: list[str]
  steps: int
  shapes: dict[str, tuple[int, ...]]
  report: list[str] = dataclasses.field(default_factory=list)
  data_seed: Optional[int] = None
  mesh: Optional[host.MeshNeed] = None
  remote_files: list[str] = dataclasses.field(default_factory=list)

  def attempt_bindings(self, start_step: int = 0) -> list[str]:
    """The bindings of an attempt resuming at `start_step`, MODEL_DIR first:
    a fixed DATA_SEED moves on with the step, so no batch is replayed."""
    seed = ([f'DATA_SEED = {self.data_seed + start_step}']
            if self.data_seed is not None and start_step else [])
    return [recipe.string_binding('MODEL_DIR', self.model_dir), *self.bindings,
            *seed]

  def parse(self, gin_files: Sequence[str] = (), extra: Sequence[str] = ()
            ) -> None:
    """Parses the phase's config as its first attempt's t5x.train does."""
    recipe.parse(self.phase.recipe, [*self.attempt_bindings(), *extra],
                 more_gin_files=gin_files)

  def heading(self, index: int, total: int) -> str:
    """'[1/2] pretrain: recipes/pretrain_X.gin -> DIR/pretrain'."""
    return (f'[{index}/{total}] {self.phase.arm}: '
            f'{os.path.relpath(self.phase.recipe, recipe.REPO)} -> {self.model_dir}')

  @property
  def final_checkpoint(self) -> str:
    return checkpoint.path(self.model_dir, self.steps)

  def done(self) -> bool:
    return checkpoint.complete(self.final_checkpoint)


def _normal(path: str) -> str:
  return path.rstrip('/') if '://' in path else os.path.realpath(path)


def _inside(path: str, parent: str) -> bool:
  path, parent = _normal(path), _normal(parent)
  return path == parent or path.startswith(parent + '/')


def _parse(path: str, bindings: Sequence[str], gin_files: Sequence[str],
           finalize: bool = True, hint: str = '--gin') -> None:
  """Parses like t5x.train, turning what gin rejects into a PreflightError;
  `hint` names the flags that bind this phase's macros."""
  name = os.path.relpath(path, recipe.REPO)
  try:
    recipe.parse(path, bindings, finalize=False, more_gin_files=gin_files)
    if finalize and (unbound := [m for m in recipe.unbound_required()
                                 if m not in experiment.SET_BY_RUN]):
      raise PreflightError(
          f'{name} leaves {", ".join(unbound)} unbound: bind '
          + ' '.join(f"--gin='{m} = ...'" for m in unbound)
          + f' ({hint}; the recipe\'s header says what each means).')
    if finalize:
      recipe.parse(path, bindings, finalize=True, more_gin_files=gin_files)
  except PreflightError:
    raise
  except Exception as e:  # gin raises many types; its first line says what
    raise PreflightError(f'{name}: {str(e).splitlines()[0]}') from e


def _resolve(phase: experiment.Phase, model_dir: str, bindings: list[str],
             gin_files: Sequence[str], hint: str,
             check_data: bool = True) -> tuple[PhaseRun, set[str]]:
  """The phase's run, checked, and the macros its recipe defines itself."""
  path = phase.recipe
  _parse(path, [], gin_files, finalize=False)
  macros = recipe.macro_names()
  _parse(path, [recipe.string_binding('MODEL_DIR', model_dir), *bindings],
         gin_files, hint=hint)
  name = os.path.relpath(path, recipe.REPO)
  if 'TRAIN_STEPS' not in recipe.macro_names():
    raise PreflightError(f'{name} binds no TRAIN_STEPS: is it a recipe? A '
                         'recipe sets TRAIN_STEPS and includes its gin '
                         'fragments (see recipes/).')
  steps = recipe.value('TRAIN_STEPS')
  if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
    raise PreflightError(f'{name}: TRAIN_STEPS is {steps!r}; it must be a '
                         'positive integer.')
  seed = recipe.value('DATA_SEED')
  if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
    raise PreflightError(f'{name}: DATA_SEED is {seed!r}; it must be an '
                         'integer, or None for a new seed per run.')
  try:
    report, remote = datasets.check(data_present=check_data)
  except ValueError as e:  # gin adds the configurable it called on a 2nd line
    raise PreflightError(f'{name}: {str(e).splitlines()[0]}') from e
  return PhaseRun(phase, model_dir, bindings, steps, recipe.parameter_shapes(),
                  report, seed, host.mesh_need(), remote), macros


def _check_macros(flag: str, bindings: Sequence[str], known: set[str],
                  recipes: Sequence[str]) -> None:
  """A macro no recipe defines is a typo: gin alone would accept it unused."""
  macros = {n for n in map(recipe.macro_name, bindings) if '.' not in n}
  if unknown := sorted(macros - known):
    raise PreflightError(
        f'{flag} binds {", ".join(unknown)}, which '
        f'{" and ".join(os.path.basename(r) for r in recipes)} do not define; '
        f'their macros: {", ".join(sorted(known))}.')


def _model_mismatch(have: dict, want: dict) -> str:
  """'' when two parameter trees agree, else a short description."""
  if have == want:
    return ''
  names = sorted(set(have) ^ set(want)) or sorted(
      n for n in want if have[n] != want[n])
  example = names[0]
  return (f'{len(names)} parameters differ, e.g. {example}: '
          f'{have.get(example, "absent")} in the checkpoint, '
          f'{want.get(example, "absent")} in the recipe')


def _check_checkpoints(run: PhaseRun) -> None:
  """A phase directory must hold this run's model, and no step past its end."""
  found = checkpoint.steps(run.model_dir)
  if found and found[-1] > run.steps:
    raise PreflightError(
        f'{run.model_dir} holds checkpoint_{found[-1]}, past this phase\'s '
        f'TRAIN_STEPS = {run.steps}: it is another run\'s directory; give '
        'another --workdir.')
  latest = checkpoint.path(run.model_dir, found[-1]) if found else ''
  if latest:  # T5X resumes from the last by name, whole or not
    _check_whole(latest)
  if latest and (diff := _model_mismatch(checkpoint.parameter_shapes(latest),
                                         run.shapes)):
    raise PreflightError(f'{latest} is not of the model that '
                         f'{os.path.basename(run.phase.recipe)} builds ({diff}); '
                         'give another --workdir.')


def _check_whole(path: str) -> None:
  """Refuses a checkpoint T5X would fail to restore, naming what to move
  aside and the newest whole checkpoint, where T5X would resume then."""
  if not (problem := checkpoint.verify(path)):
    return
  model_dir, step = os.path.dirname(path), int(path.rsplit('_', 1)[1])
  broken = [step]
  for older in reversed([s for s in checkpoint.steps(model_dir) if s < step]):
    if not checkpoint.verify(checkpoint.path(model_dir, older)):
      then = f'the newest good one is checkpoint_{older}, where the phase resumes'
      break
    broken.append(older)
  else:
    then = 'no older checkpoint is whole, so the phase starts from its beginning'
  names = ', '.join(f'checkpoint_{s}' for s in broken)
  raise PreflightError(
      f'{path} is broken ({problem}): move {names} out of {model_dir} (or '
      f'rename, e.g. to checkpoint_{step}.broken); {then}.')


def check_initial(initial: str, run: PhaseRun, fix: str) -> None:
  """The fine-tune's initial checkpoint exists, is complete and fits its model;
  `fix` says what to do when it is missing."""
  if not checkpoint.complete(initial):
    have = checkpoint.steps(os.path.dirname(initial))
    raise PreflightError(f'{initial} is missing or incomplete (checkpoints '
                         f'there: {have or "none"}): {fix}')
  _check_whole(initial)
  if diff := _model_mismatch(checkpoint.parameter_shapes(initial), run.shapes):
    raise PreflightError(
        f'{initial} is of a different model than '
        f'{os.path.basename(run.phase.recipe)} ({diff}).')


def check_writable(path: str) -> None:
  """`path`, a directory that ptjf run writes, is one or can be made: not a
  file, and locally under a writable directory (gs:// permissions are the
  bucket's, which only a write would test)."""
  try:
    is_file = tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
  except tf.errors.OpError as e:  # e.g. a scheme TensorFlow does not read
    raise PreflightError(f'{path} cannot be read from this host '
                         f'({str(e).splitlines()[0][:200]}): give a local '
                         '--workdir or a gs:// one.') from e
  if is_file:
    raise PreflightError(f'{path} is a file, not a directory: give a --workdir '
                         'that is a directory, new or one this experiment ran '
                         'in.')
  if '://' in path:
    return
  parent = os.path.abspath(path)
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise PreflightError(f'{path} cannot be created: {parent} is a file; give '
                         'a --workdir that is a directory.')
  # access(2) also says EROFS for root, on a read-only file system
  if not os.access(parent, os.W_OK | os.X_OK):
    raise PreflightError(f'{path} cannot be written: {parent} is on a '
                         'read-only file system or not writable by this user; '
                         'give a --workdir on a writable file system.')


def check_remote_writes(workdir: str) -> None:
  """A gs:// --workdir takes a file from this host (check_writable tells a
  local one without writing): a probe, removed at once."""
  if '://' not in workdir:
    return
  probe = os.path.join(workdir, f'.ptjf_probe.{socket.gethostname()}.'
                       f'{os.getpid()}')
  try:
    with tf.io.gfile.GFile(probe, 'w') as f:
      f.write('')
    tf.io.gfile.remove(probe)
  except tf.errors.OpError as e:
    raise PreflightError(
        f'--workdir {workdir} cannot be written from this host '
        f'({str(e).splitlines()[0][:200]}): give a bucket that this host\'s '
        'service account may write.') from e


def check_host(name: str, runs: Sequence[PhaseRun], t5x_flags: Sequence[str],
               strict: bool) -> list[str]:
  """What only the host that trains can tell: its devices hold each phase's
  mesh and batch, and it reads the remote vocabulary files. Raises
  PreflightError where not, if `strict` or this host has an accelerator;
  else returns the problems as notes (a laptop checking a pod's run)."""
  devices, problems = host.found(t5x_flags), {}
  for run in runs:
    if problem := host.mismatch(run.mesh, devices, name):
      problems.setdefault(problem, []).append(run.phase.arm)
  for path in sorted({p for run in runs for p in run.remote_files}):
    try:
      readable = tf.io.gfile.exists(path)
      problem = '' if readable else 'it does not exist'
    except tf.errors.OpError as e:
      problem = str(e).splitlines()[0][:200]
    if problem:
      problems[f'the vocabulary {path} cannot be read from this host '
               f'({problem}): give a path t5x.train can read here'] = []
  notes = [f'{", ".join(arms)}: {p}' if arms else p
           for p, arms in problems.items()]
  if notes and (strict or devices.accelerated):
    raise PreflightError(notes[0] + '.')
  return notes


def check_first_phase(model_dir: str) -> None:
  """A --pretrain_dir restored nothing: the config.gin T5X wrote there binds
  INITIAL_CHECKPOINT_PATH only in a fine-tune (joint_finetune.gin's macro)."""
  config = os.path.join(model_dir, 'config.gin')
  if not tf.io.gfile.exists(config):
    return
  with tf.io.gfile.GFile(config) as f:
    match = _RESTORED.search(f.read())
  if match:
    try:
      restored = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
      restored = match.group(1)
    raise PreflightError(
        f'--pretrain_dir {model_dir} is a fine-tune, not a first phase: its '
        f'config.gin restores {restored}; give the first phase\'s directory '
        f'(e.g. {os.path.dirname(str(restored))}).')


def prepare(name: str, workdir: str, pretrain_dir: Optional[str] = None,
            phase: str = 'all', gin: Sequence[str] = (),
            pretrain_gin: Sequence[str] = (), finetune_gin: Sequence[str] = (),
            gin_files: Sequence[str] = (),
            tfds_data_dir: Optional[str] = None,
            check_data: bool = True) -> list[PhaseRun]:
  """Resolves and checks every phase to run; raises PreflightError.
  `check_data=False` leaves out what needs the data downloaded (mC4's JSON
  shards), for the commands that work before it is."""
  if tfds_data_dir:  # as t5x.train sets it: twins read split sizes there
    seqio.set_tfds_data_dir_override(tfds_data_dir)
  scoped = {'gin': gin, 'pretrain_gin': pretrain_gin,
            'finetune_gin': finetune_gin}
  try:
    phases = experiment.phases(name)
    experiment.check_flags(name, phases, gin, pretrain_gin, finetune_gin,
                           pretrain_dir, phase)
    per_phase = [experiment.phase_bindings(phases, i, scoped)
                 for i in range(1 if phase == 'first' else len(phases))]
  except ValueError as e:
    raise PreflightError(str(e)) from e
  check_writable(workdir)
  for i in range(len(per_phase)):
    if not (i == 0 and pretrain_dir):  # --pretrain_dir is only read
      check_writable(os.path.join(workdir, phases[i].arm))
  if pretrain_dir:
    check_first_phase(pretrain_dir)
  hints = (['--gin for every phase, --pretrain_gin for this one',
            '--gin for every phase, --finetune_gin for this one']
           if len(phases) == 2 else ['--gin'])
  runs, macros = [], {}
  for i, bindings in enumerate(per_phase):
    p = phases[i]
    model_dir = (pretrain_dir if i == 0 and pretrain_dir else
                 os.path.join(workdir, p.arm))
    if p.restores:
      bindings.append(recipe.string_binding('INITIAL_CHECKPOINT_PATH',
                                            runs[0].final_checkpoint))
    run, macros[i] = _resolve(p, model_dir, bindings, gin_files, hints[i],
                              check_data)
    runs.append(run)
  recipes = [r.phase.recipe for r in runs]
  _check_macros('--gin', gin, set().union(*macros.values()), recipes)
  for i, (flag, own) in enumerate([('--pretrain_gin', pretrain_gin),
                                   ('--finetune_gin', finetune_gin)][:len(runs)]):
    _check_macros(flag, own, macros[i], recipes[i:i + 1])
  if len(runs) == 2:
    first, second = runs
    if _inside(second.model_dir, first.model_dir) or _inside(
        first.model_dir, second.model_dir):
      raise PreflightError(
          f'the fine-tune directory {second.model_dir} and the first phase\'s '
          f'{first.model_dir} overlap: give a --workdir outside the first '
          'phase\'s directory, which the fine-tune never writes.')
    if diff := _model_mismatch(first.shapes, second.shapes):
      raise PreflightError(
          f'{os.path.basename(first.phase.recipe)} and '
          f'{os.path.basename(second.phase.recipe)} build different models '
          f'({diff.replace("checkpoint", "first phase")}); bind model settings '
          'with --gin so that both phases get them.')
    if pretrain_dir or first.done():  # --pretrain_dir must hold a finished one
      check_initial(first.final_checkpoint, second,
                    f'--pretrain_dir must hold a finished first phase; finish '
                    f'it with ptjf run {name} --phase=first, or leave '
                    '--pretrain_dir out to train it under --workdir.')
  for run in runs:
    _check_checkpoints(run)
  return runs


def prepare_call(name: str, call: experiment.Invocation,
                 extra: experiment.PassThrough) -> list[PhaseRun]:
  """prepare() for one `ptjf run` call and what the user passes through."""
  return prepare(name, call.workdir, call.pretrain_dir,
                 'first' if call.first_only else 'all',
                 gin_files=extra.gin_files,
                 tfds_data_dir=extra.tfds_data_dir, **extra.bindings)
