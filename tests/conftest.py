"""Shared test set-up and toolkit: quiet TF, registries loaded, no network.

Markers: `needs_t5x` and `needs_libtpu` skip a test, with how to install what
is missing, when T5X or libtpu cannot be imported; a T5X-only pass selects
them with `-m "needs_t5x or needs_libtpu"`. A test that skips for lack of
either without its marker fails, so every such test carries one.

Fixtures: `ptjf` runs a ptjf command and `python_m` a module's main, in
this process unless the process boundary is what is tested (then in a child,
with the one environment the suite gives children); `snapshot` records a
file tree, `write_events` writes TF event files of scalars.

With PTJF_REQUIRE_T5X=1 (`make test-t5x`), the suite refuses to run from
another checkout of the project and fails every test that would skip for
lack of T5X or libtpu, so a provisioned environment runs everything.
"""

import collections
import contextlib
import dataclasses
import gc
import hashlib
import importlib
import os
import signal
import socket
import subprocess as subprocesses
import sys
import tempfile
import traceback
from typing import Callable

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')  # libtpu, if installed, is for ptjf compile
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import pytest  # pylint: disable=g-import-not-at-top
import seqio  # pylint: disable=g-import-not-at-top

import mixtures  # pylint: disable=g-import-not-at-top
from ptjf import recipe  # pylint: disable=g-import-not-at-top
import tasks  # pylint: disable=g-import-not-at-top

REQUIRE_T5X = os.environ.get('PTJF_REQUIRE_T5X') == '1'
# The words of recipe.t5x_missing() and recipe.libtpu_missing().
MISSING_MARKS = ('T5X is not installed', 'libtpu is not installed')


# marker -> what says it is missing ('' when present); libtpu compiles what
# T5X builds, so a test that needs it needs both.
NEEDS = {'needs_t5x': recipe.t5x_missing,
         'needs_libtpu': lambda: (recipe.t5x_missing() or
                                  recipe.libtpu_missing())}


def pytest_configure(config):
  config.addinivalue_line('markers', 'needs_t5x: the test imports or runs T5X')
  config.addinivalue_line('markers',
                          'needs_libtpu: the test compiles with libtpu (and T5X)')


def pytest_collection_modifyitems(config, items):
  del config  # unused
  missing = {marker: why() for marker, why in NEEDS.items()}
  for item in items:
    for marker, why in missing.items():
      if why and item.get_closest_marker(marker):
        item.add_marker(pytest.mark.skip(reason=why))
        break


def pytest_sessionstart(session):
  del session  # unused
  if not REQUIRE_T5X:
    return
  for package in (mixtures, recipe, tasks):
    tested = os.path.abspath(package.__file__)
    if not tested.startswith(REPO + os.sep):
      pytest.exit(f'PTJF_REQUIRE_T5X: {package.__name__} is imported from '
                  f'{tested}, not from this checkout ({REPO}); put {REPO} '
                  'first on PYTHONPATH', 3)
  for missing in (recipe.t5x_missing(), recipe.libtpu_missing()):
    if missing:
      pytest.exit(f'PTJF_REQUIRE_T5X: {missing}', 3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  del call  # unused
  outcome = yield
  report = outcome.get_result()
  if not report.skipped:
    return
  reason = str(report.longrepr)
  if not any(mark in reason for mark in MISSING_MARKS):
    return
  if REQUIRE_T5X:
    report.outcome = 'failed'
    report.longrepr = f'skipped under PTJF_REQUIRE_T5X=1: {reason}'
  elif not any(item.get_closest_marker(marker) for marker in NEEDS):
    report.outcome = 'failed'  # a T5X-only pass would not select it
    report.longrepr = ('skipped without a needs_t5x/needs_libtpu marker: '
                       f'{reason}')


def pytest_terminal_summary(terminalreporter):
  """One line per reason a test was skipped, with its count (make test)."""
  reasons = collections.Counter(
      report.longrepr[2].removeprefix('Skipped: ')
      for report in terminalreporter.stats.get('skipped', [])
      if isinstance(report.longrepr, tuple))
  for reason, count in reasons.most_common():
    terminalreporter.write_line(f'{count} skipped: {reason}')


@pytest.fixture
def no_network(monkeypatch):
  """Fails any attempt to open a network connection."""
  def refuse(*args, **kwargs):
    raise AssertionError(f'network access attempted: {args}')
  monkeypatch.setattr(socket.socket, 'connect', refuse)
  monkeypatch.setattr(socket, 'create_connection', refuse)


@dataclasses.dataclass
class Result:
  """What a ptjf command left: its exit status and its output."""
  returncode: int
  stdout: str
  stderr: str


def subprocess_env(env: dict[str, str] | None = None) -> dict[str, str]:
  """The environment of a child process: JAX on CPU, TF quiet, this checkout
  first on the path wherever it runs; `env` on top."""
  path = os.pathsep.join([REPO, *filter(None, [os.environ.get('PYTHONPATH')])])
  return {**recipe.cpu_env(), 'TF_CPP_MIN_LOG_LEVEL': '3', 'PYTHONPATH': path,
          **(env or {})}


def exit_status(code) -> int:
  """The status a process exits with after `sys.exit(code)`; a message goes
  to stderr, as the interpreter writes it."""
  if code is None or isinstance(code, int):
    return code or 0
  print(code, file=sys.stderr)
  return 1


@contextlib.contextmanager
def captured_fds():
  """Redirects file descriptors 1 and 2 (and sys.stdout/err onto them), so a
  child process's output is caught too; yields a list that holds the text
  written to each once the block ends."""
  texts = []
  with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    saved = [(sys.stdout, sys.stderr), os.dup(1), os.dup(2)]
    for stream in saved[0]:
      stream.flush()
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    sys.stdout = open(1, 'w', encoding='utf-8', errors='replace', closefd=False)
    sys.stderr = open(2, 'w', encoding='utf-8', errors='replace', closefd=False)
    try:
      yield texts
    finally:
      sys.stdout.flush()
      sys.stderr.flush()
      sys.stdout, sys.stderr = saved[0]
      os.dup2(saved[1], 1)
      os.dup2(saved[2], 2)
      os.close(saved[1])
      os.close(saved[2])
      for file in (out, err):
        file.seek(0)
        texts.append(file.read().decode('utf-8', errors='replace'))


def forget_tfds_data_dir() -> None:
  """As in a fresh process: seqio keeps a --tfds_data_dir in a global and,
  once a TFDS source has read it, in that source's loader."""
  seqio.set_tfds_data_dir_override(None)
  for thing in gc.get_objects():
    if isinstance(thing, seqio.LazyTfdsLoader):
      thing._data_dir_override = None  # pylint: disable=protected-access


def run_in_process(main: Callable[[], None], env, cwd) -> Result:
  """main() in this process, as a fresh one would run it: an uncaught error
  prints its traceback and exits 1."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  saved_env, saved_cwd = dict(os.environ), os.getcwd()
  saved_path = list(sys.path)
  os.environ.update(env or {})
  os.chdir(cwd)
  try:
    with captured_fds() as output:
      try:
        main()
        status = 0
      except SystemExit as e:
        status = exit_status(e.code)
      except Exception:  # pylint: disable=broad-except
        traceback.print_exc()
        status = 1
    return Result(status, *output)
  finally:
    flags.FLAGS.unparse_flags()  # the next command parses its flags afresh
    os.environ.clear()
    os.environ.update(saved_env)
    os.chdir(saved_cwd)
    sys.path[:] = saved_path


def run_python(*argv: str, env: dict[str, str] | None = None, cwd=None,
               timeout: float = 600) -> Result:
  """`python ARGV` in a child process from `cwd` (the repository by default)."""
  done = subprocesses.run([sys.executable, *map(str, argv)],
                          cwd=str(cwd or REPO), env=subprocess_env(env), capture_output=True,
                          text=True, timeout=timeout, check=False)
  return Result(done.returncode, done.stdout, done.stderr)


# -P leaves the working directory off sys.path, as the console script does,
# so only ptjf itself can put it there.
PTJF = ('-P', '-m', 'ptjf.cli')


class Ptjf:
  """`ptjf ARGS` from `cwd` (the repository by default), with `env` added to
  the environment: `ptjf('check', 'ptjf_synth_tiny', f'--workdir={w}')`.

  In this process unless subprocess=True, which is for where the process
  boundary is what is tested: the interpreter's start, the environment read
  at import. `ptjf.start(...)` returns the running child (signals)."""

  def __call__(self, *args, env: dict[str, str] | None = None, cwd=None,
               subprocess: bool = False, timeout: float = 600) -> Result:
    if subprocess:
      return run_python(*PTJF, *args, env=env, cwd=cwd, timeout=timeout)
    from ptjf import cli  # pylint: disable=g-import-not-at-top
    argv = ['ptjf', *map(str, args)]
    try:
      return run_in_process(lambda: cli.main(argv), env, str(cwd or REPO))
    finally:
      if any(a.startswith('--tfds_data_dir') for a in argv):
        forget_tfds_data_dir()

  def start(self, *args, env: dict[str, str] | None = None, cwd=None,
            **popen) -> subprocesses.Popen:
    """The child process `ptjf ARGS`; `popen` as subprocess.Popen takes them
    (stdout, stderr, start_new_session, ...). SIGINT reaches it as from a
    terminal, even where the suite runs as a background job (whose SIGINT
    the shell ignores, and ptjf keeps a signal its parent ignored)."""
    popen.setdefault('preexec_fn', lambda: signal.signal(signal.SIGINT,
                                                         signal.SIG_DFL))
    return subprocesses.Popen([sys.executable, *PTJF, *map(str, args)],
                              cwd=str(cwd or REPO), env=subprocess_env(env),
                              **popen)


@pytest.fixture(name='ptjf', scope='session')
def ptjf_fixture():
  return Ptjf()


def run_module(module: str, *args, env: dict[str, str] | None = None, cwd=None,
               subprocess: bool = False, timeout: float = 600) -> Result:
  """`python -m MODULE ARGS` for a module that runs its main() with absl's
  app.run; in this process unless subprocess=True, as Ptjf runs ptjf."""
  if subprocess:
    return run_python('-m', module, *args, env=env, cwd=cwd, timeout=timeout)
  from absl import app  # pylint: disable=g-import-not-at-top
  main = importlib.import_module(module).main
  argv = [module, *map(str, args)]
  return run_in_process(lambda: app.run(main, argv=argv), env, str(cwd or REPO))


@pytest.fixture(scope='session')
def python_m():
  """run_module: `python_m('mixtures.show', 'ptjf_synth.tau0')`."""
  return run_module


SKIPPED_DIRS = ('.git', '.venv', '__pycache__', '.pytest_cache')


def file_hash(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def take_snapshot(*roots, content: bool = False) -> dict:
  """Every file and directory under `roots` (but .git, .venv and caches):
  path -> (size, mtime_ns), or the sha256 of a file's bytes with content=True
  (None for a directory)."""
  out = {}
  for root in roots:
    for parent, dirs, files in os.walk(root):
      dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
      for name in [*dirs, *files]:
        path = os.path.join(parent, name)
        if content:
          out[path] = None if name in dirs else file_hash(path)
        else:
          stat = os.stat(path)
          out[path] = (stat.st_size, stat.st_mtime_ns)
  return out


@pytest.fixture(scope='session')
def snapshot():
  """take_snapshot: `before = snapshot(tmp_path)`, then after the command
  `assert snapshot(tmp_path) == before`."""
  return take_snapshot


def poison_parameter(path, name: str = '') -> str:
  """Writes NaN over half of parameter `name` of checkpoint `path` (its
  largest by default), through Orbax's own tensorstore spec: what a run that
  diverged between two logged losses saves. (Garbling the files' bytes is no
  sure way: Orbax compresses them, and a garbled block may still decode to
  finite values.) Returns the parameter's name as ptjf prints it."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  import tensorstore as ts  # pylint: disable=g-import-not-at-top
  from etils import epath  # pylint: disable=g-import-not-at-top
  from ptjf import checkpoint  # pylint: disable=g-import-not-at-top
  state = epath.Path(os.path.join(path, 'state'))
  ocdbt = ocp.type_handlers.is_ocdbt_checkpoint(state)
  params = [a for a in checkpoint._arrays(path)  # pylint: disable=protected-access
            if a.name.startswith('target.')]
  chosen = (next(a for a in params if a.name == name) if name else
            max(params, key=lambda a: np.prod(a.shape)))
  store = ts.open(ocp.type_handlers.get_json_tspec_read(
      ocp.type_handlers.ParamInfo(name=chosen.name, parent_dir=state,
                                  is_ocdbt_checkpoint=ocdbt), ocdbt),
                  context=ocp.type_handlers.get_ts_context(use_ocdbt=ocdbt),
                  read=True, write=True).result()
  store[:store.shape[0] // 2 or 1] = np.nan
  return chosen.name.removeprefix('target.').replace('.', '/')


@pytest.fixture(scope='session')
def poison():
  """poison_parameter: `poison(checkpoint_dir)` or `poison(dir, 'target.x')`."""
  return poison_parameter


def write_scalar_events(directory, tags: dict[str, dict[int, float]]) -> None:
  """One TF event file under `directory`: {tag: {step: value}}, as
  tf.summary.scalar writes it, without needing TensorBoard installed."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  plugin = tf.compat.v1.SummaryMetadata.PluginData(plugin_name='scalars')
  scalars = tf.compat.v1.SummaryMetadata(plugin_data=plugin)
  writer = tf.summary.create_file_writer(str(directory))
  with writer.as_default():
    for tag, values in tags.items():
      for step, value in values.items():
        tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                         metadata=scalars)
  writer.close()


@pytest.fixture(scope='session')
def write_events():
  """write_scalar_events:
  `write_events(run / 'training_eval/task', {'loss': {10: 3.5}})`."""
  return write_scalar_events
