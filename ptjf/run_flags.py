"""The flags of a `ptjf run` call beyond its bindings (those are
ptjf.bindings'): where it runs, which phases, and what t5x.train is given.
Shared by run, check and launch; each --t5x_flag is checked here against the
flags t5x.train defines, read from T5X's source (importing t5x.train here
would define them in ptjf's own flags, which they clash with)."""

import ast
import difflib
import functools
import os
from typing import Optional

from absl import flags

from ptjf import experiment
from ptjf import recipe

WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory of the experiment (local or gs://); each phase '
    'runs in <workdir>/<arm>.')
PRETRAIN_DIR = flags.DEFINE_string(
    'pretrain_dir', None, 'A finished first phase to fine-tune from instead of '
    '<workdir>/<first arm>, e.g. one shared by a sweep. Read only: it must hold '
    'its final checkpoint.')
PHASE = flags.DEFINE_enum(
    'phase', 'all', ['all', 'first'], "'first' runs only the first phase, e.g. "
    'to share it among several fine-tunes through --pretrain_dir.')
_T5X_FLAG = flags.DEFINE_multi_string(
    't5x_flag', [], 'A flag passed as it is to every t5x.train, e.g. '
    '--t5x_flag=--multiprocess_gpu.')

# t5x.train's flags that ptjf sets itself: the flag to use instead.
_OWN_FLAG = {
    'gin_bindings': '--gin, --pretrain_gin, --finetune_gin or --stage_gin',
    'gin_file': '--gin_file',
    'gin_search_paths': '--gin_file with the file\'s path',
    'tfds_data_dir': '--tfds_data_dir',
}
# t5x.train's flags that take local paths, made absolute (it starts in the
# repository); a list flag's every item.
_PATH_FLAGS = ('seqio_additional_cache_dirs', 'log_dir', 'profile_file',
               'fdl_config_file')
# What absl's flag types accept after '=', by the DEFINE_ function.
_BOOLEANS = ('true', 'false', 't', 'f', '1', '0')


def invocation_from_flags() -> experiment.Invocation:
  """The call the flags describe; raises ValueError without --workdir, or
  for a bad path or --t5x_flag."""
  if not WORKDIR.value:
    raise ValueError('--workdir is required: the directory where each phase '
                     'runs (local or gs://).')
  return experiment.Invocation(
      _path(WORKDIR),
      pretrain_dir=_path(PRETRAIN_DIR) if PRETRAIN_DIR.value else None,
      first_only=PHASE.value == 'first',
      t5x_flags=check_processes([t5x_flag(f) for f in _T5X_FLAG.value]))


def _path(flag: flags.FlagHolder) -> str:
  """The flag's path made absolute; a URL must name its bucket, and a local
  path fit the file system's limits on names."""
  scheme, sep, rest = flag.value.partition('://')
  if sep and not rest.split('/')[0]:
    raise ValueError(f'--{flag.name}={flag.value} names no bucket: give '
                     f'{scheme}://BUCKET/DIR, e.g. {scheme}://my-bucket/ptjf.')
  path = experiment.absolute(flag.value)
  if not sep:
    experiment.check_name_lengths(path, f'--{flag.name}')
  return path


# --- --t5x_flag ----------------------------------------------------------------


def t5x_flag(text: str) -> str:
  """`text`, a --t5x_flag value, with a local path made absolute; raises
  ValueError unless it is one flag t5x.train defines and ptjf does not set."""
  given = f'--t5x_flag={text}'
  name, sep, value = text.lstrip('-').partition('=')
  if not text.startswith('-') or not name:
    raise ValueError(f'{given} is not a flag: give --t5x_flag=--NAME=VALUE '
                     '(or --t5x_flag=--NAME), e.g. --t5x_flag=--multiprocess_gpu.')
  if name.startswith('gin.') or name in _OWN_FLAG:
    own = _OWN_FLAG.get(name, _OWN_FLAG['gin_bindings'])
    raise ValueError(f'{given}: ptjf sets --{name.split(".")[0]} for '
                     f't5x.train itself and checks it: give it with {own}.')
  if name == 'model_dir' or 'MODEL_DIR' in text:
    raise ValueError(f'{given}: MODEL_DIR is set by ptjf run from --workdir and '
                     '--pretrain_dir; do not set it.')
  if not t5x_script_flags():  # no T5X here: the command says how to install it
    return text
  defined = t5x_train_flags()
  kind = defined.get(name)
  if kind is None and name.startswith('no') and defined.get(name[2:]) == 'bool':
    kind, name = 'negated', name[2:]
  if kind is None and not _jax_flag(name):
    close = difflib.get_close_matches(name, defined, n=3)
    valid = ', '.join(f'--{n}' for n in (close or sorted(
        n for n in t5x_script_flags() if n not in _OWN_FLAG)))
    hint = f'did you mean {valid}?' if close else f"its own are {valid}."
    raise ValueError(f'{given}: t5x.train has no flag --{name}; {hint}')
  if kind == 'negated' and sep:
    raise ValueError(f'{given}: --no{name} takes no value; give --{name}=false.')
  if sep and kind == 'bool' and value.lower() not in _BOOLEANS:
    raise ValueError(f'{given}: --{name} is true or false, not {value!r}.')
  if sep and kind == 'integer' and not _is_integer(value):
    raise ValueError(f'{given}: --{name} takes a whole number, not {value!r}.')
  if sep and name in _PATH_FLAGS:
    value = ','.join(experiment.absolute(p) if p else p
                     for p in value.split(','))
    return f'--{name}={value}'
  return text


def check_processes(t5x_flags: list[str]) -> list[str]:
  """`t5x_flags`; raises ValueError unless --process_count is at least 1
  and --process_index from 0 to the count less 1 (jax.distributed's ranks)."""
  given = dict(f[2:].split('=', 1) for f in t5x_flags
               if f.startswith(('--process_count=', '--process_index=')))
  given = {k: int(v) for k, v in given.items() if _is_integer(v)}
  count, index = given.get('process_count'), given.get('process_index')
  if count is not None and count < 1:
    raise ValueError(f'--t5x_flag=--process_count={count}: the run\'s number '
                     'of processes must be at least 1.')
  if index is not None and not 0 <= index < (count or 2**31):
    valid = (f'from 0 to {count - 1} (--process_count={count} less 1)'
             if count else 'at least 0')
    raise ValueError(f'--t5x_flag=--process_index={index}: this process\'s '
                     f'index must be {valid}.')
  return t5x_flags


def _is_integer(text: str) -> bool:
  try:
    int(text)  # as ptjf.host reads --process_count and --process_index
  except ValueError:
    return False
  return True


@functools.cache
def t5x_script_flags() -> dict[str, str]:
  """Flag name -> type ('bool', 'integer', 'string', ...) of the flags
  t5x/train.py defines when run as `python -m t5x.train`, read from its
  source; {} where T5X is not installed."""
  if not (root := recipe.t5x_root()):
    return {}
  path = os.path.join(root, 't5x', 'train.py')
  with open(path, encoding='utf-8') as f:
    tree = ast.parse(f.read(), path)
  found = {}
  for node in ast.walk(tree):
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith('DEFINE_')):
      continue
    name = node.args[0] if node.args else next(
        (k.value for k in node.keywords if k.arg == 'name'), None)
    if isinstance(name, ast.Constant) and isinstance(name.value, str):
      kind = node.func.attr[len('DEFINE_'):]
      found[name.value] = 'bool' if kind in ('bool', 'boolean') else kind
  return found


def t5x_train_flags() -> dict[str, Optional[str]]:
  """The flags t5x.train accepts: its own, and those the libraries it shares
  with this process define (absl's logging and app, TensorFlow's, ...); the
  type where it matters ('bool', 'integer'), else None or another name."""
  defined = {}
  for module, module_flags in flags.FLAGS.flags_by_module_dict().items():
    if module.startswith(('ptjf', '__main__', 'absl.testing')):
      continue  # ptjf's own, and a test runner's
    for flag in module_flags:
      defined[flag.name] = 'bool' if flag.boolean else None
  return {**defined, **t5x_script_flags()}


def _jax_flag(name: str) -> bool:
  """t5x.train defines an absl flag per JAX option (jax_platforms, ...)."""
  if not name.startswith('jax'):
    return False
  import jax  # pylint: disable=g-import-not-at-top
  return name in jax.config.values
