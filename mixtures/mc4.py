"""mC4 mixtures: the paper's five languages, and every mC4 language.

  ptjf_mc4.tau<t>      en, hi, gu, gd, sw at temperature t in 1, 1.43, 2, 3.33, 5
  ptjf_mc4.unimax      the same five languages under UniMax
  ptjf_mc4.en_only     English alone: the pre-training phase of PTJF
  ptjf_mc4_all.tau<t>  all mC4 languages, sized by TFDS document counts
"""

from mixtures import registry
from mixtures import sizes
from tasks import mc4

PAPER_LANGUAGES = ('en', 'hi', 'gu', 'gd', 'sw')
HIGH_RESOURCE = 'en'

# UniMax budget in the table's unit, billions of characters. mT5 trained on
# about 1T tokens (1M steps of 1024 x 1024, mT5 paper sec. 3); a token spans at
# least one character, so 1,000B characters is a lower bound that can only
# under-sample English, never repeat a small language past its cap.
UNIMAX_BUDGET_CHARS_BILLIONS = 1000.0
UNIMAX_MAX_EPOCHS = 1.0

PAPER = registry.Family(
    prefix=mc4.PREFIX,
    sizes={mc4.task_name(lang): sizes.MC4_PAPER_CHARS_BILLIONS[lang]
           for lang in PAPER_LANGUAGES},
    unit='billion characters (Choi et al., Table 2)',
    unimax_budget=UNIMAX_BUDGET_CHARS_BILLIONS,
    unimax_max_epochs=UNIMAX_MAX_EPOCHS)
PAPER.register()
_EN = mc4.task_name(HIGH_RESOURCE)
registry.register_single(f'{mc4.PREFIX}.en_only', _EN, PAPER.sizes[_EN],
                         PAPER.unit)

ALL = registry.Family(
    prefix=f'{mc4.PREFIX}_all',
    sizes={mc4.task_name(lang): sizes.MC4_DOCUMENTS[lang]
           for lang in mc4.LANGUAGES},
    unit='documents (TFDS c4/multilingual 3.1.0)')
ALL.register()
