"""The README's permission matrix is the one the code enforces."""

import re
from pathlib import Path

from accounts.access import PERMISSIONS
from accounts.models import Role

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_permission_matrix_matches_the_code():
    text = README.read_text()
    block = re.search(
        r"<!-- permission-matrix:start -->(.*?)<!-- permission-matrix:end -->", text, re.S
    ).group(1)
    rows = [line for line in block.strip().splitlines() if line.startswith("| `")]
    roles = list(Role)
    documented = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        action = cells[0].strip("`")
        documented[action] = {
            role for role, cell in zip(roles, cells[1:], strict=True) if cell == "yes"
        }
    assert documented == {action: set(allowed) for action, allowed in PERMISSIONS.items()}
