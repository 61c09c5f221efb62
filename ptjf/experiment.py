"""How an experiment is invoked: its stages, which binding flag reaches which
stage, and the `ptjf run` call that runs it. Every command (run, check, plan,
compile, sweep, launch) goes through here; nothing here needs T5X.

An experiment is a chain of stages, each a recipe named `<arm>_<data>_<model>`
and a plain t5x.train run in a directory named after its arm, e.g.
<workdir>/pretrain and <workdir>/ptjf. A recipe declares the stage it
continues, if any, in gin, and what it carries over by the phase file it
includes:

  PREVIOUS_STAGE = 'pretrain_mc4_xxl'   the recipe whose final checkpoint it
                                        starts from (in the same directory)
  gin/phases/joint_finetune.gin         its parameters; optimizer and warm-up
                                        anew (the fine-tunes of PTJF)
  gin/phases/continue.gin               its whole state: parameters, optimizer
                                        slots and step (a cooldown stage)
  gin/phases/pretrain.gin               nothing: a chain's first stage

The restart arm's first stage, static_X, runs for pretrain_X's TRAIN_STEPS,
so the arms compare at equal steps.

Bindings reach stages by flag: --gin every stage, --pretrain_gin the first,
--finetune_gin every later one. One type,
Bindings, carries them by flag: the flags fill it, a `ptjf run` call and a
sweep's points hold it, and ptjf.preflight gives each stage its share. The
flags themselves are defined in ptjf/bindings.py and ptjf/run_flags.py, which
only the commands import: a script that imports this module keeps its own
flags.
"""

import ast
import dataclasses
import difflib
import errno
import os
import re
import tokenize
from typing import Any, Iterator, Mapping, Optional, Sequence

from gin import config_parser as gin_parser

from ptjf import recipe

# The arms of the paper; a recipe's arm may be any word that names its stage.
SINGLE_PHASE = ('pretrain', 'static')
ARMS = SINGLE_PHASE + ('ptjf', 'transfer', 'restart')
# What a stage carries from the one it continues, by the phase file it includes.
CARRIES = {'gin/phases/joint_finetune.gin': 'parameters',
           'gin/phases/continue.gin': 'state'}
NOTHING = 'nothing'
PREVIOUS = 'PREVIOUS_STAGE'  # the macro that names the stage continued
# Macros `ptjf run` sets for each phase from its directories.
SET_BY_RUN = frozenset({'MODEL_DIR', 'INITIAL_CHECKPOINT_PATH', PREVIOUS})
# The binding flags, in the order `ptjf run` applies them.
SCOPES = ('gin', 'pretrain_gin', 'finetune_gin', 'stage_gin')

@dataclasses.dataclass(frozen=True)
class Phase:
  """One stage of an experiment: one `t5x.train` run.

  Attributes:
    arm: the first word of its recipe's name, e.g. 'pretrain' or 'cooldown';
      also the name of its directory.
    recipe: path of the recipe's gin file.
    steps_from: for the restart's static stage, the recipe whose TRAIN_STEPS
      it runs for (the pre-training's, so the arms compare at equal steps).
    carry: what it takes from the stage before it: 'parameters', 'state'
      (parameters, optimizer slots and step) or 'nothing'.
  """
  arm: str
  recipe: str
  steps_from: Optional[str] = None
  carry: str = NOTHING

  @property
  def restores(self) -> bool:
    return self.carry != NOTHING

  @property
  def keeps_state(self) -> bool:
    return self.carry == 'state'


def split(name: str) -> tuple[str, str]:
  """('ptjf', 'mc4_xxl') for 'ptjf_mc4_xxl'."""
  arm, _, rest = name.partition('_')
  return arm, rest


def from_argv(argv: Sequence[str]) -> str:
  """The one EXPERIMENT positional of a command line; raises ValueError."""
  if len(argv) != 2:
    raise ValueError(f'give one EXPERIMENT (a recipe name such as '
                     f'ptjf_wmt_ro_fr_3layer, or a .gin path), got '
                     f'{len(argv) - 1}: {" ".join(argv[1:]) or "none"}.')
  return argv[1]


def recipe_path(experiment: str) -> str:
  """The recipe file of a name ('ptjf_mc4_xxl') or a path to a .gin file."""
  if experiment.endswith('.gin'):
    path = os.path.abspath(os.path.expanduser(experiment))
    if os.path.isdir(path):
      raise ValueError(f'recipe file {experiment!r} is a directory: give a '
                       '.gin file (or a recipe name such as ptjf_mc4_xxl).')
    if not os.path.isfile(path):
      name = os.path.basename(experiment)
      hint = (f': give the recipe name {name[:-len(".gin")]} (or '
              f'recipes/{name})' if os.path.isfile(
                  os.path.join(recipe.RECIPES_DIR, name)) else '')
      raise ValueError(f'recipe file {experiment!r} does not exist{hint}.')
    if not os.path.getsize(path):
      raise ValueError(f'recipe file {experiment!r} is empty: a recipe binds '
                       'at least TRAIN_STEPS and includes its gin fragments '
                       '(see recipes/).')
    check_gin_file(path, f'recipe file {experiment!r}')
    return path
  path = os.path.join(recipe.RECIPES_DIR, experiment + '.gin')
  if not os.path.isfile(path):
    names = [os.path.basename(p)[:-4] for p in recipe.recipes()]
    close = difflib.get_close_matches(experiment, names, n=3)
    hint = f'did you mean {", ".join(close)}? ' if close else ''
    raise ValueError(f'unknown experiment {experiment!r}: {hint}give a recipe '
                     f'name from recipes/ (e.g. ptjf_mc4_xxl) or a .gin path.')
  return path


def phases(experiment: str) -> list[Phase]:
  """The stages of `experiment`, in order, followed from its recipe through
  each PREVIOUS_STAGE; the last is the experiment's recipe."""
  chain = []
  path = recipe_path(experiment)
  while True:
    name = os.path.basename(path)[:-len('.gin')]
    arm, rest = split(name)
    if not rest:
      raise ValueError(f'recipe {name + ".gin"!r} is not named '
                       '<arm>_<data>_<model>: its arm names its directory.')
    if path in (p.recipe for p in chain):
      loop = ' -> '.join([os.path.basename(p.recipe)[:-4] for p in chain] +
                         [name])
      raise ValueError(f'the stages of {loop.split()[0]} form a cycle ({loop}, '
                       f'each continuing the next): the first stage of a chain '
                       f'sets no {PREVIOUS}.')
    if (twin := next((p for p in chain if p.arm == arm), None)):
      raise ValueError(f'{name} and {os.path.basename(twin.recipe)[:-4]} are '
                       f'stages of one chain with the same arm, {arm!r}, so '
                       'they would train in one directory: give each stage '
                       'an arm of its own.')
    previous = macro_text([path], PREVIOUS)
    carry = carried(path)
    if previous is not None:
      previous = _stage_name(previous, path)
      if previous == name:
        raise ValueError(f'{name}.gin continues from itself ({PREVIOUS} = '
                         f'{previous!r}): name the stage it follows, or drop '
                         f'{PREVIOUS} for a first stage.')
      if carry == NOTHING:
        raise ValueError(
            f'{name}.gin continues {previous} but carries nothing from it: '
            'include gin/phases/joint_finetune.gin (its parameters) or '
            'gin/phases/continue.gin (its whole state), or drop '
            f'{PREVIOUS}.')
    elif carry != NOTHING:
      raise ValueError(
          f'{name}.gin restores a checkpoint ({_phase_file(carry)}) but names '
          f"no stage to continue: add {PREVIOUS} = '<recipe>' (e.g. "
          f"{PREVIOUS} = 'pretrain_{rest}').")
    chain.append(Phase(arm, path, carry=carry))
    if previous is None:
      break
    path = os.path.join(os.path.dirname(path), previous + '.gin')
    if not os.path.isfile(path):
      raise ValueError(f'{name}.gin continues {previous} ({PREVIOUS}), but '
                       f'{path} does not exist: name a recipe beside it.')
    path = recipe_path(path)
  chain.reverse()
  last = chain[-1]
  if last.arm == 'restart' and len(chain) == 2:  # static_X as long as pretrain_X
    _, rest = split(os.path.basename(last.recipe)[:-len('.gin')])
    steps_from = recipe_path(os.path.join(os.path.dirname(last.recipe),
                                          f'pretrain_{rest}.gin'))
    chain[0] = dataclasses.replace(chain[0], steps_from=steps_from)
  return chain


def continuing(path: str) -> list[str]:
  """The recipes beside `path` whose chains run it before their last stage
  (or, for a restart, take their first stage's steps from it)."""
  found = []
  for other in sorted(os.listdir(os.path.dirname(path))):
    other = os.path.join(os.path.dirname(path), other)
    if not other.endswith('.gin') or other == path:
      continue
    try:
      stages = phases(other)
    except ValueError:  # not a recipe of a chain that runs
      continue
    if any(path in (p.recipe, p.steps_from) for p in stages[:-1]):
      found.append(os.path.basename(other)[:-len('.gin')])
  return found


def _stage_name(value: str, path: str) -> str:
  """The recipe name a PREVIOUS_STAGE value (gin text) gives; ValueError
  where it is not a quoted name."""
  try:
    name = ast.literal_eval(value)
  except (ValueError, SyntaxError):
    name = None
  if not isinstance(name, str) or not re.fullmatch(r'[\w.-]+', name):
    raise ValueError(f'{os.path.basename(path)}: {PREVIOUS} = {value} is not '
                     "a recipe name: write it quoted, e.g. "
                     f"{PREVIOUS} = 'pretrain_mc4_xxl'.")
  return name[:-len('.gin')] if name.endswith('.gin') else name


def _phase_file(carry: str) -> str:
  return next(f for f, c in CARRIES.items() if c == carry)


def carried(path: str) -> str:
  """What the recipe `path` carries from the stage before it, by the phase
  file it includes (itself or through the files it includes)."""
  found = NOTHING
  for line in read(path).splitlines():
    if match := _INCLUDE.match(line):
      included = match.group(1)
      if included in CARRIES:
        found = CARRIES[included]
      elif included.startswith('recipes/') and os.path.isfile(
          inner := os.path.join(recipe.REPO, included)) and inner != path:
        found = carried(inner)  # a recipe built on another
  return found


# --- Reading recipes as text -------------------------------------------------

# What only a recipe includes: a phase, or another recipe.
_RECIPE_INCLUDE = re.compile(r"""^include\s+['"](?:\S*/)?(?:gin/phases|recipes)/""",
                             re.M)
_HEADER_MACRO = re.compile(r'^#\s*(?:REQUIRED:)?\s*([A-Z][A-Z_]+)[:,]')
_INCLUDE = re.compile(r"""^include\s+['"]([^'"]+)['"]""")
_TRAIN_STEPS = re.compile(r'^TRAIN_STEPS\s*=\s*([\d_]+)\s*(?:#.*)?$', re.M)
_TOP_LEVEL_BINDING = re.compile(r'^([A-Za-z_][\w./]*)\s*=', re.M)


def is_recipe(path: str) -> bool:
  """A gin file is a recipe, an EXPERIMENT rather than a file to add to
  one, when it is in recipes/ or includes a phase (gin/phases/) or a recipe."""
  if os.path.dirname(os.path.realpath(path)) == os.path.realpath(
      recipe.RECIPES_DIR):
    return True
  try:
    return bool(_RECIPE_INCLUDE.search(read(path)))
  except (OSError, UnicodeDecodeError):  # check_gin_file names what is wrong
    return False


def absolute(path: str) -> str:
  """`path` absolute, `~` expanded (t5x.train starts in the repository),
  unless it is a URL such as gs://."""
  return path if '://' in path else os.path.abspath(os.path.expanduser(path))


# Room for what t5x.train and ptjf write below a --workdir: the longest is an
# event file, ARM/training_eval/TASK/events.out.tfevents.TIME.HOST.PID.N.v2 (85
# bytes in a tiny run, ~150 with a 64-byte host name), then an Orbax temporary
# shard, ARM/checkpoint_STEP.orbax-checkpoint-tmp-TIME/state/ocdbt.process_0/d/
# HEX32 (119 at the last int32 step); 256 leaves room for longer task names.
RESERVED_BELOW = 256


def check_name_lengths(path: str, flag: str) -> None:
  """Raises ValueError where `path` (absolute, local) has a name longer than
  its file system takes (NAME_MAX), or is too long (PATH_MAX) for the paths
  t5x.train writes below it (RESERVED_BELOW), which would fail deep inside."""
  parent = path
  while not os.path.isdir(parent):  # the limits are those of where it is made
    parent = os.path.dirname(parent)
  name_max = _limit(parent, 'PC_NAME_MAX', 255)
  path_max = _limit(parent, 'PC_PATH_MAX', 4096)
  for name in path.split('/'):
    if len(os.fsencode(name)) > name_max:
      raise ValueError(
          f'{flag}: the name {name[:40]}... is {len(os.fsencode(name))} bytes '
          f'long, over the {name_max} bytes the file system at {parent} takes '
          f'for a name ({os.strerror(errno.ENAMETOOLONG)}): give a shorter one.')
  if len(os.fsencode(path)) + RESERVED_BELOW >= path_max:
    raise ValueError(
        f'{flag}: the path is {len(os.fsencode(path))} bytes long; with the '
        f'{RESERVED_BELOW} bytes its runs write below it, over the {path_max} '
        f'bytes a path may have at {parent} '
        f'({os.strerror(errno.ENAMETOOLONG)}): give a shorter one.')


def _limit(path: str, name: str, default: int) -> int:
  try:
    return os.pathconf(path, name)
  except (OSError, ValueError):  # a file system that does not say
    return default


def read(path: str) -> str:
  with open(path) as f:
    return f.read()


def read_gin_text(path: str, what: str) -> str:
  """The text of the gin file `path`; raises ValueError naming it as `what`
  (e.g. '--gin_file=F') where it is binary or not UTF-8, as gin reads it."""
  with open(path, 'rb') as f:
    data = f.read()
  if b'\0' in data:
    raise ValueError(f'{what} is a binary file, not gin text: give a gin file '
                     '(NAME = VALUE lines).')
  try:
    return data.decode('utf-8')
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b'\n') + 1
    raise ValueError(f'{what} is not UTF-8 text (byte {data[e.start]:#04x} on '
                     f'line {line}): save it as UTF-8.') from None


# What a refusal of text that gin cannot read asks for.
GIN_SYNTAX = 'write NAME = VALUE with a Python literal or %MACRO'


def not_gin(what: str, line: int, words: str) -> str:
  """The refusal of a file (`what`) that gin could not read at `line`."""
  return f'{what} line {line} is not gin: {words}; {GIN_SYNTAX}.'


class _Values(gin_parser.ParserDelegate):
  """Reads references and macros as names: only the syntax is checked."""

  def configurable_reference(self, scoped_configurable_name, evaluate):
    return scoped_configurable_name

  def macro(self, macro_name):
    return macro_name


class _NotGin(Exception):
  """gin's parser could not read the text: its words, and the line."""

  def __init__(self, words: str, line: int):
    super().__init__(words)
    self.words, self.line = words, line


def gin_syntax(e: SyntaxError) -> tuple[str, Optional[str], int]:
  """What gin's parser said (its last line: a first may quote Python's
  ast), in which file (None for bindings) and on which line."""
  where = e.args[1] if len(e.args) > 1 else None  # gin's Location
  words = [w.strip() for w in str(e.args[0]).splitlines() if w.strip()]
  return (words[-1].rstrip('.') if words else 'invalid syntax',
          getattr(where, 'filename', None), getattr(where, 'line_num', None) or 1)


def _statements(text: str) -> list[Any]:
  """gin's statements of `text`; raises _NotGin."""
  try:
    return list(gin_parser.ConfigParser(text, _Values()))
  except SyntaxError as e:
    words, _, line = gin_syntax(e)
    raise _NotGin(words, line) from None
  except tokenize.TokenError:  # a bracket or a quote left open to the end
    raise _NotGin('a bracket is left open',
                  text.rstrip('\n').count('\n') + 1) from None


def check_gin_file(path: str, what: str) -> None:
  """Raises ValueError naming the file as `what` and the line where gin
  could not read it."""
  try:
    _statements(read_gin_text(path, what))
  except _NotGin as e:
    raise ValueError(not_gin(what, e.line, e.words)) from None


def check_binding(flag: str, binding: str) -> None:
  """Raises ValueError unless `binding`, given with --`flag`, is one gin
  binding, as gin will parse it among the recipe's."""
  text = binding.replace('\n', '\\n')  # the message stays one line
  given = f'--{flag}="{text}"' if "'" in text else f"--{flag}='{text}'"
  try:
    statements = _statements(binding)
  except _NotGin as e:
    raise ValueError(f'{given} is not a gin binding: {e.words}; '
                     f'{GIN_SYNTAX}.') from None
  if not statements:
    raise ValueError(f'{given} is empty: write NAME = VALUE, e.g. '
                     f"--{flag}='LEARNING_RATE = 5e-3'.")
  if len(statements) > 1 or not isinstance(statements[0],
                                           gin_parser.BindingStatement):
    raise ValueError(f'{given} is not one gin binding: write NAME = VALUE, one '
                     f'a flag (modules and includes go in a --gin_file).')


def declared_required(path: str) -> list[str]:
  """Macro names listed under '# REQUIRED' in a recipe's header comment."""
  with open(path) as f:
    header = [line for line in iter(f.readline, '') if line.startswith('#')]
  start = next((i for i, line in enumerate(header)
                if line.startswith('# REQUIRED')), len(header))
  return sorted({m.group(1) for m in map(_HEADER_MACRO.match, header[start:])
                 if m} - {'REQUIRED'})


def macro_text(paths: Sequence[str], macro: str) -> Optional[str]:
  """The text of the last top-level `macro = ...` in gin files `paths`,
  includes followed as gin does (those outside this repository skipped)."""
  value = None
  pattern = re.compile(rf'^{re.escape(macro)}\s*=\s*([^#]*?)\s*(?:#.*)?$')
  for path in paths:
    for line in read(path).splitlines():
      if match := _INCLUDE.match(line):
        found = [f for f in (os.path.join(recipe.REPO, match.group(1)),
                             os.path.join(os.path.dirname(path),
                                          match.group(1)))
                 if os.path.isfile(f)]
        inner = macro_text(found[:1], macro)
        value = value if inner is None else inner
      elif match := pattern.match(line):
        value = match.group(1)
  return value


def train_steps(path: str) -> int:
  """The literal `TRAIN_STEPS = N` of a recipe."""
  match = _TRAIN_STEPS.search(read(path))
  if not match:
    raise ValueError(f'{path} has no literal `TRAIN_STEPS = N` line to tell '
                     'its final checkpoint.')
  return int(match.group(1))


def _gin_file_macros(paths: Sequence[str]) -> set[str]:
  """Names bound at the top level of the gin files that exist here."""
  candidates = [c for p in paths for c in (p, os.path.join(recipe.REPO, p))]
  return {m for path in candidates if os.path.isfile(path)
          for m in _TOP_LEVEL_BINDING.findall(read(path))}


# --- Which phases a binding reaches ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Bindings(Mapping[str, tuple[str, ...]]):
  """'NAME = VALUE' bindings by the flag that gives them (an entry of
  SCOPES); read as a mapping, each flag gives its tuple of bindings."""
  gin: Sequence[str] = ()
  pretrain_gin: Sequence[str] = ()
  finetune_gin: Sequence[str] = ()
  stage_gin: Sequence[str] = ()  # 'ARM:NAME = VALUE', for the stage of ARM

  def __post_init__(self):
    for scope in SCOPES:
      object.__setattr__(self, scope, tuple(getattr(self, scope)))

  def __getitem__(self, scope: str) -> tuple[str, ...]:
    if scope not in SCOPES:
      raise KeyError(scope)
    return getattr(self, scope)

  def __iter__(self) -> Iterator[str]:
    return iter(SCOPES)

  def __len__(self) -> int:
    return len(SCOPES)

  def __add__(self, later: Mapping[str, Sequence[str]]) -> 'Bindings':
    """Per flag, these bindings, then `later`'s (which win in gin)."""
    return Bindings(**{s: (*self[s], *later.get(s, ())) for s in SCOPES})

  def names(self) -> set[str]:
    """The names bound, whatever the flag."""
    return {recipe.macro_name(b) for scope in SCOPES for b in self[scope]}


def _bindings(given: Mapping[str, Sequence[str]]) -> Bindings:
  """`given` (Bindings, or a mapping of some SCOPES) as Bindings."""
  return given if isinstance(given, Bindings) else Bindings(**given)


def scope_phases(scope: str, phases: Sequence[Phase]) -> list[Phase]:
  """The stages a binding flag (an entry of SCOPES) may apply to; a
  --stage_gin binding applies to the one its arm names (stage_binding)."""
  return {'gin': list(phases), 'pretrain_gin': list(phases[:1]),
          'finetune_gin': list(phases[1:]), 'stage_gin': list(phases)}[scope]


def stage_binding(binding: str) -> tuple[str, str]:
  """('ptjf', 'WARMUP_STEPS = 10') for the --stage_gin 'ptjf:WARMUP_STEPS =
  10'; raises ValueError where no arm comes before a colon."""
  arm, sep, rest = binding.partition(':')
  if not sep or not re.fullmatch(r'\w+', arm.strip()) or '=' in arm:
    raise ValueError(f"--stage_gin='{binding}' names no stage: write "
                     "ARM:NAME = VALUE, e.g. --stage_gin='cooldown:TRAIN_STEPS "
                     "= 3000' (ARM the first word of the stage's recipe).")
  return arm.strip(), rest.strip()


def given(phases: Sequence[Phase], index: int,
          bindings: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
  """(flag, binding as given) of each binding that reaches `phases[index]`,
  in the order gin applies them."""
  return [(f'--{scope}', binding) for scope in SCOPES
          for binding in bindings.get(scope, ())
          if (stage_binding(binding)[0] == phases[index].arm
              if scope == 'stage_gin' else
              phases[index] in scope_phases(scope, phases))]


def scope_of(arms: set[str], phases: Sequence[Phase]) -> str:
  """The binding flag that reaches exactly the stages `arms` (or all of
  them); 'stage_gin' where none but one per arm does."""
  if len(phases) == 1 or arms == {p.arm for p in phases}:
    return 'gin'
  if arms == {phases[0].arm}:
    return 'pretrain_gin'
  return ('finetune_gin' if arms == {p.arm for p in phases[1:]} else
          'stage_gin')


def phase_bindings(phases: Sequence[Phase], index: int,
                   bindings: Mapping[str, Sequence[str]]) -> list[str]:
  """The bindings of `phases[index]`, in the order `ptjf run` applies them.
  The restart's static phase first runs for the pre-training's TRAIN_STEPS,
  so the arms compare at equal steps; the user's bindings come after."""
  steps_from = phases[index].steps_from
  steps = [f'TRAIN_STEPS = {train_steps(steps_from)}'] if steps_from else []
  return steps + [stage_binding(b)[1] if flag == '--stage_gin' else b
                  for flag, b in given(phases, index, bindings)]


def final_step(phases: Sequence[Phase],
               bindings: Mapping[str, Sequence[str]]) -> int:
  """The step of the first phase's final checkpoint: its last TRAIN_STEPS."""
  steps = [b.split('=', 1)[1].strip() for b in phase_bindings(
      phases, 0, bindings) if recipe.macro_name(b) == 'TRAIN_STEPS']
  if not steps:
    return train_steps(phases[0].recipe)
  try:
    return int(steps[-1])
  except ValueError:
    raise ValueError(f'TRAIN_STEPS = {steps[-1]} is not a number of steps: '
                     "cannot name the first phase's final checkpoint."
                     ) from None


# --- What a `ptjf run` call may be given -------------------------------------


def check_flags(name: str, phases: Sequence[Phase], bindings: Bindings,
                pretrain_dir: Optional[str] = None, phase: str = 'all') -> None:
  """Raises ValueError for what `ptjf run` refuses from its flags alone,
  before reading any recipe."""
  for scope in SCOPES:
    for binding in bindings[scope]:
      if scope == 'stage_gin':
        arm, binding = stage_binding(binding)
        if arm not in (arms := [p.arm for p in phases]):
          raise ValueError(f"--stage_gin='{arm}:{binding}': {name} has no "
                           f'stage {arm!r}; its stages: {", ".join(arms)}.')
      check_binding(scope, binding)
  if managed := sorted(bindings.names() & SET_BY_RUN):
    raise ValueError(f'{", ".join(managed)} is set by ptjf run from --workdir '
                     'and --pretrain_dir; do not bind it.')
  if len(phases) == 1 and (bindings.pretrain_gin or bindings.finetune_gin or
                           bindings.stage_gin):
    raise ValueError(f'{name} has one phase: give its bindings with --gin, '
                     'not --pretrain_gin, --finetune_gin or --stage_gin.')
  if pretrain_dir and (len(phases) == 1 or phase == 'first'):
    raise ValueError('--pretrain_dir is the first phase of a two-phase '
                     'experiment, to fine-tune from: not with --phase=first or '
                     'a one-phase experiment.')
  if phase == 'first' and bindings.finetune_gin:
    raise ValueError('--finetune_gin with --phase=first: the fine-tune does '
                     'not run.')
  if phase == 'first' and (later := [b for b in bindings.stage_gin if
                                     stage_binding(b)[0] != phases[0].arm]):
    raise ValueError(f"--stage_gin='{later[0]}' with --phase=first: only "
                     f'{phases[0].arm} runs.')


def _declared(phase: Phase) -> set[str]:
  return set(declared_required(phase.recipe)) - SET_BY_RUN


def check_required(name: str, phases: Sequence[Phase], running: Sequence[int],
                   bindings: Mapping[str, Sequence[str]],
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
    flags_text = ', '.join(
        f"--{scope}='{macro} = ...'" if scope != 'stage_gin' else ', '.join(
            f"--stage_gin='{p.arm}:{macro} = ...'" for p in phases
            if macro in _declared(p))
        for macro, scope in missing.items())
    them = 'it' if len(missing) == 1 else 'them'
    raise ValueError(f'{name} leaves {", ".join(missing)} REQUIRED: bind '
                     f'{them} with {flags_text} (or sweep {them} with ptjf '
                     'sweep).')


# --- One `ptjf run` call -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PassThrough:
  """What the user gives every phase run: bindings (given as Bindings or a
  mapping of some SCOPES), gin files (absolute where they exist here:
  t5x.train starts in the repository) and TFDS's data directory."""
  bindings: Bindings = Bindings()
  gin_files: Sequence[str] = ()
  tfds_data_dir: Optional[str] = None

  def __post_init__(self):
    object.__setattr__(self, 'bindings', _bindings(self.bindings))

  @property
  def t5x_flags(self) -> list[str]:
    return ([f'--tfds_data_dir={self.tfds_data_dir}']
            if self.tfds_data_dir else [])


@dataclasses.dataclass(frozen=True)
class Invocation:
  """One `ptjf run` call.

  Attributes:
    workdir: its --workdir; each phase it runs writes workdir/<arm>.
    bindings: its own, before the user's (PassThrough's); given as Bindings
      or a mapping of some SCOPES.
    pretrain_dir: a finished first phase it fine-tunes from, if any.
    first_only: it runs only the first phase (--phase=first).
    t5x_flags: flags passed as they are to every t5x.train.
  """
  workdir: str
  bindings: Bindings = Bindings()
  pretrain_dir: Optional[str] = None
  first_only: bool = False
  t5x_flags: Sequence[str] = ()

  def __post_init__(self):
    object.__setattr__(self, 'bindings', _bindings(self.bindings))

  @property
  def phase(self) -> str:
    """Its --phase: 'first' or 'all'."""
    return 'first' if self.first_only else 'all'

  def phase_indices(self, phases: Sequence[Phase]) -> list[int]:
    """The indices of the phases this call trains."""
    if self.first_only:
      return [0]
    return list(range(1 if self.pretrain_dir else 0, len(phases)))

  def args(self, name: str, extra: PassThrough) -> list[str]:
    """Its arguments from 'run' on; `extra`'s bindings come after its own.
    --phase=first drops --finetune_gin, which ptjf run refuses there."""
    args = ['run', name, *(['--phase=first'] if self.first_only else []),
            f'--workdir={self.workdir}']
    args += [f'--pretrain_dir={self.pretrain_dir}'] if self.pretrain_dir else []
    args += [f'--{scope}={b}'
             for scope, scope_bindings in (self.bindings + extra.bindings).items()
             if not (self.first_only and scope == 'finetune_gin')
             for b in scope_bindings]
    args += [f'--gin_file={f}' for f in extra.gin_files]
    if extra.tfds_data_dir:
      args.append(f'--tfds_data_dir={extra.tfds_data_dir}')
    return args + [f'--t5x_flag={f}' for f in self.t5x_flags]
