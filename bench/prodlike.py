"""What the production benchmarks share: the prod-like topology, CPU from /proc, sources.

``running_topology()`` starts exactly what ``ispeks-idp prod-like up`` starts
(PostgreSQL, two Keycloak nodes, Redis, two sidecars under gunicorn, nginx with TLS) in
a throw-away folder, with the development inbox as the SMTP relay, and stops it all.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from requests.adapters import HTTPAdapter

from idp_extension.keycloak_server import free_port
from idp_extension.mail.inbox import MailInbox
from idp_extension.prodlike.topology import Topology
from idp_extension.settings import load_settings
from tests.deploy.support import CALLBACK


@contextlib.contextmanager
def running_topology(say=print, **options) -> Iterator[Topology]:
    # The login bench's code flow comes back to the tests' callback, as in tests/deploy.
    options.setdefault("extra_redirect_uris", (CALLBACK,))
    inbox = MailInbox(port=free_port()).start()
    with tempfile.TemporaryDirectory(prefix="ispeks-bench-") as folder:
        topology = Topology(load_settings(), Path(folder), smtp_port=inbox.port, say=say,
                            **options)
        topology.up()
        try:
            yield topology
        finally:
            topology.down()
            inbox.stop()


class ProcessCpu:
    """CPU seconds used so far by some processes and all their descendants, from /proc.

    The tree is walked at each reading (PostgreSQL forks a backend per connection); a
    descendant that has exited counts through its parent's reaped-children time.
    """

    def __init__(self, pids: list[int]) -> None:
        self._tick = os.sysconf("SC_CLK_TCK")
        self._roots = list(pids)

    @staticmethod
    def _tree(pid: int) -> list[int]:
        found = [pid]
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    found += ProcessCpu._tree(int(child))
        return found

    def seconds(self) -> float:
        total = 0
        for pid in {p for root in self._roots for p in self._tree(root)}:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime + stime + the reaped children's cutime + cstime
            total += sum(int(value) for value in fields[11:15])
        return total / self._tick


class SourceAddressAdapter(HTTPAdapter):
    """Connect from one loopback address (127.x.y.z), so each client is a person of its own."""

    def __init__(self, address: str, **kwargs) -> None:
        self._address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        return super().init_poolmanager(*args, **kwargs)


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, load average {one:.1f} (1 min) / {five:.1f} (5 min) "
            "before the run")
