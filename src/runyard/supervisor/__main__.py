import sys

from runyard.supervisor.main import main

sys.exit(main(sys.argv[1:]))
