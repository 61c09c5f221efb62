"""WMT mixtures: the paper's two-task grids, and temperature over all pairs.

  ptjf_wmt.<low>_fr.high<r>  En->Fr at rate r, En-><low> at 1 - r, for
                             low in ro, hi, zh and r in 0.1 ... 0.9
  ptjf_wmt.tau<t>            all four pairs at temperature t
"""

from mixtures import registry
from mixtures import sizes
from tasks import wmt

HIGH_RESOURCE = 'en_fr'
LOW_RESOURCE = ('en_ro', 'en_hi', 'en_zh')


ALL = registry.Family(
    prefix=wmt.PREFIX,
    sizes={wmt.task_name(pair): sizes.WMT_EXAMPLES[pair] for pair in wmt.PAIRS},
    unit='sentence pairs (Choi et al., Table 1)')
ALL.register()

for _low in LOW_RESOURCE:
  registry.register_pair_grid(wmt.task_name(HIGH_RESOURCE), wmt.task_name(_low),
                              ALL.sizes, ALL.unit)
