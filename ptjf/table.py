"""Tables of results: printed as aligned text, or written as CSV beside the
figure drawn from them."""

import csv
import io
from typing import Sequence

from matplotlib.figure import Figure

from ptjf import outputs


def aligned(lines: Sequence[Sequence[str]], right: bool = False,
            indent: str = '') -> str:
  """The lines' cells in columns two spaces apart, each column as wide as its
  widest cell: the first left-aligned, the others too or, with `right`,
  right-aligned (columns of numbers); no line ends in spaces."""
  widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
  return '\n'.join(
      (indent + '  '.join(cell.rjust(w) if right and i else cell.ljust(w)
                          for i, (cell, w) in enumerate(zip(line, widths)))
       ).rstrip() for line in lines)


def write(fig: Figure, prefix: str, header: Sequence[str],
          lines: Sequence[Sequence[str]]) -> tuple[str, str]:
  """Writes PREFIX.png and PREFIX.csv, both or neither (outputs.write);
  returns their paths."""
  png = io.BytesIO()
  fig.savefig(png, format='png')
  text = io.StringIO()
  writer = csv.writer(text, lineterminator='\n')
  writer.writerow(header)
  writer.writerows(lines)
  paths = prefix + '.png', prefix + '.csv'
  outputs.write(dict(zip(paths, (png.getvalue(), text.getvalue()))))
  return paths
