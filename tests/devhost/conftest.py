import sys
from pathlib import Path

# The fakes next to these tests, and the project itself, are imported by module name whichever way
# pytest was started (python -m pytest, plain pytest, any --import-mode).
for path in (Path(__file__).parent, Path(__file__).parents[2]):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
