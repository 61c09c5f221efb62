"""The install: T5X pinned to commits, and one distribution per package."""

import importlib.metadata
import os
import re

from ptjf import recipe

PINNED = re.compile(r'^(\w+) @ git\+https://github\.com/[\w-]+/\1@([0-9a-f]{40})$')


def test_t5x_and_its_git_dependencies_are_pinned_to_commits():
  with open(os.path.join(recipe.REPO, 'requirements-t5x.txt')) as f:
    lines = [line.strip() for line in f if line.strip() and not line.startswith('#')]
  pins = dict(PINNED.match(line).groups() for line in lines)
  assert sorted(pins) == ['airio', 'jestimator', 't5x']
  with open(os.path.join(recipe.REPO, 'README.md')) as f:
    readme = f.read()
  for name, commit in pins.items():  # README names the tested commits
    assert f'{name} {commit[:7]}' in readme, name


def test_tensorflow_and_tfds_come_from_one_distribution_each():
  # T5X names tensorflow-cpu and airio a 2023 tfds-nightly: installed beside
  # ours they overwrite the same files, which pip check does not notice.
  owners = importlib.metadata.packages_distributions()
  assert sorted(set(owners['tensorflow'])) == ['tensorflow']
  assert sorted(set(owners['tensorflow_datasets'])) == ['tensorflow-datasets']
