"""Reads a recipe the way `python -m t5x.train` does, without training, and
builds the `python -m t5x.train` (or t5x.eval, t5x.infer) command that runs it.
A problem found before any training is a PreflightError.

T5X is not on PyPI, so everything here imports it lazily and says how to
install it when it is missing.
"""

import importlib.util
import json
import logging
import os
import sys
from typing import Any, Optional, Sequence

from absl import logging as absl_logging
import gin
from gin import config as gin_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES_DIR = os.path.join(REPO, 'recipes')
T5X_INSTALL = ("pip install -e '.[t5x]' && pip install --no-deps -r "
               'requirements-t5x.txt  (from the repository root, or make '
               'install-t5x for .venv; T5X comes from GitHub, see README, '
               '"Set up")')
_REQUIRED = 'gin.REQUIRED/gin.constant'


class PreflightError(ValueError):
  """A problem found before any training (a recipe, its bindings, data,
  directories, checkpoints, devices); its message is one line."""


def t5x_missing() -> str:
  """'' when T5X can be imported, else a one-line message on how to install it."""
  if importlib.util.find_spec('t5x') is None:
    return f'T5X is not installed in {sys.executable}: {T5X_INSTALL}'
  return ''


def require_t5x(libtpu: bool = False) -> None:
  """What a command that reads recipes does first: raises ValueError saying
  how to install T5X (and libtpu) if missing; quiets gin's search-path log."""
  if message := t5x_missing() or (libtpu and libtpu_missing()):
    raise ValueError(message)
  absl_logging.set_verbosity(absl_logging.FATAL)  # gin logs every search path it tries


def libtpu_missing() -> str:
  """'' when libtpu (the TPU compiler) can be loaded, else how to install it."""
  if importlib.util.find_spec('libtpu') is None:
    return (f"libtpu is not installed in {sys.executable}: pip install -e "
            "'.[tpu]'  (the TPU compiler, from PyPI; it compiles for TPU slices "
            'on any machine)')
  return ''


def recipes() -> list[str]:
  """Paths of every recipe, sorted."""
  return sorted(os.path.join(RECIPES_DIR, f) for f in os.listdir(RECIPES_DIR)
                if f.endswith('.gin'))


class _GinSearchFilter(logging.Filter):
  """gin logs an ERROR for each search path an include is not under, before
  it finds the file under the next: noise, wherever the command is run from."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith('Path not found: ')


def _forget_example_networks() -> None:
  """T5X's example networks (t5, scalable_t5, ...) each define `network.T5Config`;
  once two recipes of one process have used two of them, gin finds the name
  ambiguous. Unregistered, a network is registered again by the next recipe
  that imports it, as in a process of its own."""
  registry = gin_config._REGISTRY  # pylint: disable=protected-access
  for selector, info in [(s, i) for s, i in registry.items()
                         if s.startswith('t5x.examples.')]:
    registry.pop(selector)
    gin_config._INVERSE_REGISTRY.pop(info.wrapped, None)  # pylint: disable=protected-access


def t5x_root() -> Optional[str]:
  """The directory T5X's package is in (holding t5x/train.py and
  t5x/configs/), found without importing T5X; None where it is not
  installed."""
  spec = importlib.util.find_spec('t5x')
  if spec is None or not spec.submodule_search_locations:
    return None
  return os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))


def search_paths() -> list[str]:
  """This repository, then T5X's own root, as `t5x.train` searches them."""
  return [REPO, t5x_root()]


def add_working_directory() -> None:
  """Puts the directory ptjf was started from first on sys.path, as
  `python -m t5x.train` does, and on PYTHONPATH, which every t5x.train and
  t5x.eval child inherits: they run from the repository, not from there."""
  here = os.getcwd()
  if here not in sys.path:
    sys.path.insert(0, here)
  paths = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
  if here not in paths:
    os.environ['PYTHONPATH'] = os.pathsep.join([here, *paths])


def import_task_modules() -> list[str]:
  """Imports the modules the parsed config's DatasetConfigs name (T5X's
  MIXTURE_OR_TASK_MODULE), as t5x.utils.get_dataset does before reading any
  data; returns their names. Raises ValueError naming a module not found and
  where it was looked for."""
  names = []
  for (_, selector), params in gin_config._CONFIG.items():  # pylint: disable=protected-access
    if selector.endswith('DatasetConfig') and 'module' in params:
      try:
        module = _evaluate(params['module'])
      except Exception:  # pylint: disable=broad-except
        continue  # e.g. still REQUIRED: finalising says so
      if module and module not in names:
        names.append(module)
  for module in names:
    import_module(module, 'MIXTURE_OR_TASK_MODULE')
  return names


def import_module(module: str, named_by: str) -> None:
  """t5x.utils.import_module, with a missing module named in one line."""
  from t5x import utils  # pylint: disable=g-import-not-at-top
  try:
    utils.import_module(module)
  except ModuleNotFoundError as e:
    if not (e.name and (module == e.name or module.startswith(e.name + '.'))):
      raise  # a module it imports is missing: its own error says which
    raise ValueError(not_found(e.name, named_by)) from None


def not_found(module: str, named_by: str) -> str:
  """Where a task module was looked for, and where it must be."""
  return (f'{named_by} {module!r}: no module named {module!r} in '
          f'{", ".join(p or "." for p in sys.path)}; put {module}.py in the '
          'directory you run ptjf from, or its directory on PYTHONPATH.')


def parse(recipe: str, bindings: Sequence[str] = (), finalize: bool = True,
          more_gin_files: Sequence[str] = ()) -> None:
  """Clears gin and parses `recipe`, `more_gin_files` (later files override,
  e.g. gin/meshes/gpu_host.gin) then `bindings`, as `t5x.train` would.

  Finalising, as T5X does, validates every macro reference and fails on an
  unbound REQUIRED macro; `finalize=False` leaves those for `unbound_required`.
  Task modules are imported as t5x.train imports them: a gin `import` as
  the files are parsed, then the DatasetConfigs' MIXTURE_OR_TASK_MODULE
  (the `ptjf` command puts its working directory on the path for both).
  """
  import jax  # pylint: disable=g-import-not-at-top
  from t5x import train  # pylint: disable=g-import-not-at-top
  # The process that reads recipes (ptjf's own, a test's) only reads configs
  # and checkpoints: it leaves the TPU (one process at a time) to t5x.train.
  jax.config.update('jax_platforms', 'cpu')
  # T5X's run files bind `train_script.train`, importing __main__ as train_script.
  if not hasattr(sys.modules['__main__'], 'train'):
    sys.modules['__main__'].train = train.train
  gin.clear_config(clear_constants=False)
  _forget_example_networks()
  if not any(isinstance(f, _GinSearchFilter) for f in logging.getLogger().filters):
    logging.getLogger().addFilter(_GinSearchFilter())
  for path in search_paths():
    gin.add_config_file_search_path(path)
  try:
    gin.parse_config_files_and_bindings([recipe, *more_gin_files],
                                        list(bindings), finalize_config=finalize)
  except ModuleNotFoundError as e:  # a gin `import` of a module not on the path
    raise ValueError(not_found(e.name, 'gin import')) from None
  import_task_modules()


def first_line(e: Exception) -> str:
  """'ValueError: <the first line of its message>', for one-line errors."""
  lines = str(e).strip().splitlines()
  return f'{type(e).__name__}: {lines[0][:300] if lines else ""}'


def macro_name(binding: str) -> str:
  """'LEARNING_RATE' for 'LEARNING_RATE = 5e-3' (and for a --stage_gin's
  'ptjf:LEARNING_RATE = 5e-3': gin names hold no colon)."""
  return binding.split('=', 1)[0].split(':', 1)[-1].strip()


def gin_string(text: str) -> str:
  """A gin string literal of `text`: quotes, backslashes and control
  characters escaped as Python reads them (JSON's escapes are a subset)."""
  return json.dumps(text)


def string_binding(name: str, text: str) -> str:
  """'MODEL_DIR = "/tmp/x"': double quotes read cleanly inside shell quotes."""
  return f'{name} = {gin_string(text)}'


def t5x_command(script: str, gin_files: Sequence[str],
                bindings: Sequence[str] = (), t5x_flags: Sequence[str] = (),
                python: str = sys.executable) -> list[str]:
  """`python -m t5x.<script>` (train, eval or infer) on gin files (later
  ones override), searched for in this repository, then 'NAME = VALUE'
  bindings; `t5x_flags` are passed as they are."""
  return [python, '-m', f't5x.{script}', f'--gin_search_paths={REPO}',
          *(f'--gin_file={f}' for f in gin_files),
          *(f'--gin_bindings={binding}' for binding in bindings), *t5x_flags]


def cpu_env() -> dict[str, str]:
  """The environment with JAX on CPU unless the caller chose a platform."""
  return {'JAX_PLATFORMS': 'cpu', **os.environ}


def _macros() -> dict[str, Any]:
  return {scope: params['value']
          for (scope, selector), params in gin_config._CONFIG.items()  # pylint: disable=protected-access
          if selector == 'gin.macro'}


def macro_names() -> set[str]:
  """Macros the parsed config defines."""
  return set(_macros())


def unbound_required() -> list[str]:
  """Macros of the parsed config that still resolve to %gin.REQUIRED."""
  macros = _macros()

  def required(value, seen=()):
    if not isinstance(value, gin_config.ConfigurableReference):
      return False
    selector = value.scoped_selector
    if selector == _REQUIRED:
      return True
    name = selector[:-len('/gin.macro')]
    return (selector.endswith('/gin.macro') and name in macros and
            name not in seen and required(macros[name], seen + (name,)))

  return sorted(name for name, value in macros.items() if required(value))


def value(binding: str) -> Any:
  """The evaluated value of a macro ('TRAIN_STEPS') or a binding
  ('utils.RestoreCheckpointConfig.mode') of the parsed config."""
  if '.' not in binding:
    binding = f'{binding}/gin.macro.value'
  return _evaluate(gin.query_parameter(binding))


def _evaluate(x):
  if isinstance(x, gin_config.ConfigurableReference):
    return x.scoped_configurable_fn() if x.evaluate else x.scoped_configurable_fn
  if isinstance(x, (list, tuple)):
    return type(x)(_evaluate(v) for v in x)
  if isinstance(x, dict):
    return {k: _evaluate(v) for k, v in x.items()}
  return x


def parameter_shapes() -> dict[str, tuple[int, ...]]:
  """The parsed config's MODEL parameters, name -> shape, traced abstractly
  (jax.eval_shape: no FLOPs), named as in a checkpoint. Traced on one-token
  sequences: no parameter's shape depends on the length (T5X's position
  biases are relative), and its relative position bias builds length x
  length arrays on the host, even under eval_shape."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  model = value('MODEL')
  lengths = model.FEATURE_CONVERTER_CLS(pack=False).get_model_feature_lengths(
      value('TASK_FEATURE_LENGTHS'))
  variables = jax.eval_shape(lambda: model.get_initial_variables(
      jax.random.PRNGKey(0), {k: (1, 1) for k in lengths},
      {k: np.int32 for k in lengths}))
  return {'/'.join(str(k.key) for k in path): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(
              variables['params'])}
