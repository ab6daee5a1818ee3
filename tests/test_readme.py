"""The README's Python examples run as written (those that need no local checkpoint)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index):
    code = BLOCKS[index]
    if "torch.load(" in code:
        pytest.skip("needs the authors' checkpoint file")
    from tagnet.graphs.edge_sets import EDGE_SETS
    from tagnet.graphs.topology import TOPOLOGIES
    from tagnet.models.readouts import READOUTS
    from tagnet.propagation import OPERATORS
    edge_sets, topologies = set(EDGE_SETS.names()), set(TOPOLOGIES.names())
    operators, readouts = set(OPERATORS.names()), set(READOUTS.names())
    try:
        exec(compile(code, f"README.md block {index}", "exec"), {"tagnet": __import__("tagnet")})
    finally:  # leave the registries as they were
        for name in set(EDGE_SETS.names()) - edge_sets:
            EDGE_SETS.unregister(name)
        for name in set(TOPOLOGIES.names()) - topologies:
            TOPOLOGIES.unregister(name)
        for name in set(OPERATORS.names()) - operators:
            OPERATORS.unregister(name)
        for name in set(READOUTS.names()) - readouts:
            READOUTS.unregister(name)
