"""setup-worker's host half: the programs transaction (agent/programs.py) on its files."""

from __future__ import annotations

from queueops.agent.programs import apply_programs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queueops.agent.common import Operation
    from queueops.protocol import ItemsAnswer, ProgramsApplyRequest


def apply(request: ProgramsApplyRequest) -> ItemsAnswer:
    return apply_programs(request)


OPERATIONS: dict[str, Operation] = {"apply": apply}
