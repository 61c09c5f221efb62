"""The files ptjf writes for the user (figures, tables, gin files), whole or
not at all.

A local file is written under a temporary name in its own directory and
renamed to its name once every byte is written, so a full disk or an
interrupt leaves the old file or none, never part of one. gs:// objects
appear whole when their upload ends, so they are written in place.
"""

import os
import secrets
from typing import Mapping, Union


class WriteError(ValueError):
  """A file could not be written; the message is one line and nothing
  partial is left."""


def _remote(path: str) -> bool:
  return '://' in path


def check(path: str, flag: str) -> None:
  """Refuses, before any compute, a local `path` that cannot become a file:
  a directory, one under a file, or one under a directory this user cannot
  write, or a path without a name before its extension ('.png' from an
  empty --output, or one ending in '/'). `flag` is how the user gave it,
  e.g. '--output=plots/front'."""
  if not os.path.basename(path).rsplit('.', 1)[0]:
    raise ValueError(f'{flag}: {path!r} has no file name before its '
                     'extension: give a path that ends in a name.')
  if _remote(path):
    return  # a bucket has no files that block a name, nor local permissions
  if os.path.isdir(path):
    raise ValueError(f'{flag}: {path} is a directory: give the path of a file '
                     'to write.')
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise ValueError(f'{flag}: {parent} is a file, so {path} cannot be '
                     'created under it: give a path in a directory.')
  if not os.access(parent, os.W_OK | os.X_OK):
    raise ValueError(f'{flag}: {path} cannot be written: {parent} is on a '
                     'read-only file system or not writable by this user.')


def _reason(error: OSError) -> str:
  """'no space left on device', as the OS words it, lower-cased."""
  reason = error.strerror or str(error) or type(error).__name__
  return reason[:1].lower() + reason[1:]


def _missing_parents(paths) -> list[str]:
  """The local directories that writing `paths` creates, outermost first."""
  missing = set()
  for path in paths:
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
      missing.add(parent)
      parent = os.path.dirname(parent)
  return sorted(missing, key=lambda d: d.count(os.sep))


def _upload(path: str, content: bytes) -> None:
  """Writes a gs:// object; TensorFlow's error as an OSError."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  # slow, for gs:// alone
  try:
    with tf.io.gfile.GFile(path, 'wb') as f:
      f.write(content)
  except tf.errors.OpError as e:
    raise OSError(str(e).strip().splitlines()[0][:200]) from e


def _temporary_name(path: str) -> str:
  """A new name beside `path`, hidden, that no other write takes."""
  directory, name = os.path.split(os.path.abspath(path))
  return os.path.join(directory, f'.{name[:200]}.{secrets.token_hex(4)}.tmp')


def _fill(temp: str, content: bytes) -> None:
  """Creates `temp` with `content`. Closing it reports a full disk that
  writing did not (NFS); no fsync, which guards against power loss, not a
  full disk, and costs a sweep's thousands of gin files seconds."""
  fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
  with os.fdopen(fd, 'wb') as f:
    f.write(content)


def write(contents: Mapping[str, Union[str, bytes]]) -> None:
  """Writes each path's content (text as UTF-8), creating parent
  directories. Local files are all written before any is renamed into
  place: when one fails, none replaces anything and what was created is
  removed. Raises WriteError naming the path and the OS's reason."""
  data = {p: c.encode() if isinstance(c, str) else c for p, c in contents.items()}
  made = _missing_parents(p for p in data if not _remote(p))
  temps, done, current = {}, [], ''
  try:
    for directory in made:
      current = directory
      try:
        os.mkdir(directory)
      except FileExistsError:  # another process made it meanwhile
        pass
    for path, content in data.items():
      current = path
      if _remote(path):
        _upload(path, content)
        done.append(path)
      else:
        temps[path] = _temporary_name(path)  # named first: an interrupt removes it
        _fill(temps[path], content)
    for path, temp in temps.items():
      current = path
      os.replace(temp, path)
      done.append(path)
  except BaseException as e:
    for path, temp in temps.items():
      if path not in done and os.path.lexists(temp):
        os.unlink(temp)
    for directory in reversed(made):
      try:
        os.rmdir(directory)
      except OSError:  # it holds what was written, or another's files
        pass
    if not isinstance(e, OSError):
      raise
    written = (f'{len(done)} of {len(data)} were written' if done else
               'nothing was written')
    raise WriteError(f'cannot write {current}: {_reason(e)}; {written}.') from None
