"""python -m ptjf.demo's refusals of a --hosts it cannot rehearse a pod with
(the demo itself, minutes long, is run by hand: README, Set up)."""

import pytest


@pytest.mark.needs_t5x
@pytest.mark.parametrize('hosts,why', [
    (1, 'a pod needs 2 hosts or more (leave --hosts out to run the demo in '
        'one process)'),
    (9, 'at most 8 local hosts, each a whole ptjf run and t5x.train on this '
        'machine'),
    # read from the recipes: BATCH_SIZE 16 over a data axis of one per host
    (3, "the tiny chain's batch of 16 sequences does not split over a data "
        'axis of 3: give 2, 4 or 8'),
])
def test_a_pod_it_cannot_rehearse_is_refused_before_any_host_starts(
    tmp_path, python_m, hosts, why):
  workdir = tmp_path / 'w'
  # In a process of its own: the demo's absl flags clash with ptjf's.
  result = python_m('ptjf.demo', f'--hosts={hosts}', f'--workdir={workdir}',
                    subprocess=True)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == f'error: --hosts={hosts}: {why}.'
  assert 'host 0 |' not in result.stdout
  assert not workdir.exists()
