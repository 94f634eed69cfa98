import sys

from runyard.serving.server import main

sys.exit(main(sys.argv[1:]))
