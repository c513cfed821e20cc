import sys

from bench.load.runner import main

raise SystemExit(main(sys.argv[1:]))
