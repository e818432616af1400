"""What a config kind is: one folder under queueops/kinds/ and one line in the registry.

Everything the engine does with a kind goes through the hooks of Kind below, so nothing
outside the kind's folder names it: its settings, its converge task (facts, pure plan,
apply), its lint rules, its host half, what status, metrics and verify observe and check of
it, `invoke render`, restart-queue's steps, and its Ansible role's argument specs and
filters. A kind's folder holds, side by side:

- settings.py: its role's variables validated into a frozen dataclass;
- plan.py: the pure plan, settings + facts → file changes and handler calls;
- protocol.py: its typed requests and answers;
- host.py: its host half (standard library only): the agent operations that apply the plan,
  and what it observes on a host (`observe`, `METRICS`, `metric_samples`);
- lint.py: the rules on its settings and rendered files;
- checks.py: its verify checks (testinfra);
- role.py: what its Ansible role's filters hand Ansible;
- __init__.py: its Kind, which ties them together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from queueops.health import HostHealth
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.lint.findings import Collector
from queueops.plan.changes import FileChange
from queueops.plan.report import HostResult, Planned
from queueops.protocol import Facts, RestartStep
from queueops.transport.agent import AgentSession

S = TypeVar("S")
F = TypeVar("F")
P = TypeVar("P", bound=Planned)

# A role option that is a list of mappings: the mapping default its elements take their
# fields from, and the fields each element must give itself (see roles/specs).
RoleElements = Mapping[str, tuple[str, Mapping[str, Mapping[str, Any]]]]


def observed(obs: Mapping[str, Any], key: str | None) -> Any:
    """A kind's part of a host's observation (None: it observed nothing there)."""
    return ((obs.get("kinds") or {}).get(key) or {}).get("observed") if key else None


class CheckTarget(Protocol):
    """What a verify check sees of one host (observe/verify/target.Target)."""

    name: str
    settings: HostSettings

    @property
    def obs(self) -> dict[str, Any]: ...

    def warn(self, message: str) -> None: ...


class Kind(ABC, Generic[S, F, P]):
    """One config kind. S: its validated settings, F: its facts, P: its plan."""

    # The key of its settings in HostSettings.kinds, and of its skip row ("skip horizon").
    name: ClassVar[str]
    # Its Ansible role under roles/, whose defaults/main.yml prefixes every variable.
    role: ClassVar[str]
    # Its converge task, with its help line.
    task: ClassVar[str]
    help: ClassVar[str]
    # Other kinds whose settings its lint rules read.
    needs: ClassVar[tuple[str, ...]] = ()
    # The lint rules it reports: id → one-line title (docs/lint.md explains each).
    rules: ClassVar[Mapping[str, str]]
    # Its host half: the module sent to hosts for its converge operations and observation.
    host_module: ClassVar[str]
    # The module of its verify checks (test_* functions taking `target`), or None.
    checks: ClassVar[str | None]
    # The key of its part of a host's observation (also status --json's), or None.
    observation: ClassVar[str | None]
    # The title of its column in `status`, or None.
    status_column: ClassVar[str | None]
    # Its role's list options whose elements take a mapping default's fields.
    role_elements: ClassVar[RoleElements] = {}

    # -- settings ------------------------------------------------------------------------

    @abstractmethod
    def settings(self, host: Host) -> S:
        """Validate the host's variables of this kind; raises the host's InventoryError."""

    @abstractmethod
    def of(self, settings: HostSettings) -> S:
        """Its settings of a host, validated when the host was selected."""

    # -- converge ------------------------------------------------------------------------

    @abstractmethod
    def skip(self, settings: HostSettings) -> str | None:
        """Why its converge task has nothing to do on this host (None: it has)."""

    @abstractmethod
    def facts(self, session: AgentSession, settings: HostSettings) -> F:
        """What the plan needs of the host: one round trip, changing nothing."""

    @abstractmethod
    def plan(self, settings: HostSettings, facts: F) -> P:
        """Pure: what must change on the host; refuses (QueueopsError) what must not be done."""

    @abstractmethod
    def apply(
        self, session: AgentSession, settings: HostSettings, plan: P, result: HostResult
    ) -> None:
        """Apply a plan that changes something (one round trip); may add to the host's row."""

    # -- what it puts on hosts, seen offline ----------------------------------------------

    @abstractmethod
    def lint(self, out: Collector) -> None:
        """Add its findings for one host, whose settings of every kind are validated."""

    @abstractmethod
    def render(self, host: Host, settings: HostSettings) -> dict[str, str]:
        """`invoke render`: its files for the host (path on the host → text), without
        contacting it; refuses (the host's InventoryError) what it cannot know offline."""

    @abstractmethod
    def programs(self, settings: HostSettings) -> dict[str, int]:
        """The supervisor programs it runs on the host, with their process counts."""

    @abstractmethod
    def restart_steps(self, settings: HostSettings) -> list[RestartStep]:
        """What restart-queue runs for it after a deploy, besides restarting the workers'
        programs; a step's app user "" stands for the host's web user."""

    # -- observation: status, metrics, verify ---------------------------------------------

    @abstractmethod
    def observed_paths(self, settings: HostSettings) -> list[str]:
        """Files of its own whose hash and text every observation of the host carries in its
        facts, so that `drift` can compare them."""

    @abstractmethod
    def drift(self, settings: HostSettings, facts: Facts) -> list[FileChange]:
        """Its files on the host against what the inventory renders, from an observation's
        facts (verify's managed_files_match_inventory): what its converge task would change.
        Refuses (QueueopsError) what its plan refuses."""

    @abstractmethod
    def observe_request(self, settings: HostSettings, deep: bool) -> dict[str, Any] | None:
        """Its part of the host's observation request, for `observe()` of its host module
        (None: nothing to observe here); `deep` for verify's, which may take longer."""

    @abstractmethod
    def health(self, obs: Mapping[str, Any], settings: HostSettings, out: HostHealth) -> None:
        """Grade what it sees in the host's observation (its own part is obs[observation],
        absent where it observed nothing)."""

    @abstractmethod
    def status_cell(self, obs: Mapping[str, Any]) -> str:
        """Its cell in the `status` table, from the host's observation."""
