"""`python -m ptjf COMMAND ...`: the `ptjf` command with this interpreter."""

import sys

from ptjf import cli

if __name__ == '__main__':
  sys.argv[0] = 'ptjf'
  cli.main()
