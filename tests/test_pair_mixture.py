"""The pair mixture a recipe's HIGH_RESOURCE_RATE names."""

import pytest
import seqio

from mixtures import registry


def test_pair_prefix_names_the_low_pair_first():
  assert registry.pair_prefix('ptjf_wmt.en_fr', 'ptjf_wmt.en_ro') == (
      'ptjf_wmt.ro_fr')
  # Everything before the task's last dot leads, so cut copies keep apart.
  assert registry.pair_prefix('a.cut.en_fr', 'a.cut.en_ro') == 'a.cut.ro_fr'


def test_a_grid_rate_returns_the_registered_grid_mixture():
  before = seqio.get_mixture_or_task('ptjf_wmt.zh_fr.high0.3')
  name = registry.pair_mixture('ptjf_wmt.en_fr', 'ptjf_wmt.en_zh', 0.3)
  assert name == 'ptjf_wmt.zh_fr.high0.3'
  assert seqio.get_mixture_or_task(name) is before


def test_a_rate_off_the_grid_is_registered_with_its_rates():
  name = registry.pair_mixture('ptjf_synth.en_fr', 'ptjf_synth.en_ro', 0.85)
  assert name == 'ptjf_synth.ro_fr.high0.85'
  mixture = seqio.get_mixture_or_task(name)
  rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  assert rates == pytest.approx({'ptjf_synth.en_fr': 0.85,
                                 'ptjf_synth.en_ro': 0.15})


@pytest.mark.parametrize('rate', [0, 1, 1.5, -0.1])
def test_a_rate_outside_0_1_names_itself_and_registers_nothing(rate):
  before = set(seqio.MixtureRegistry.names())
  with pytest.raises(ValueError, match=rf'high_rate \(HIGH_RESOURCE_RATE\) is {rate!r}:'):
    registry.pair_mixture('ptjf_wmt.en_fr', 'ptjf_wmt.en_hi', rate)
  assert set(seqio.MixtureRegistry.names()) == before


def test_an_unknown_task_is_named():
  with pytest.raises(ValueError, match="unknown task 'ptjf_wmt.en_xx'"):
    registry.pair_mixture('ptjf_wmt.en_fr', 'ptjf_wmt.en_xx', 0.5)
