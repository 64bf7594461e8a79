"""One libvirtd serves both test suites, which run at once (SQLite and
PostgreSQL). A test that uses it holds a shared lock on it for its whole
run; the test that restarts it takes the lock alone for the restart, so
the other suite's libvirt tests never see the daemon go away under them."""
import fcntl
import os
import tempfile
from contextlib import contextmanager

import pytest

PATH = os.path.join(tempfile.gettempdir(), "rsvault-test-libvirtd.lock")


class LibvirtdLock:
    def __init__(self):
        self.file = open(PATH, "a")
        fcntl.flock(self.file, fcntl.LOCK_SH)

    @contextmanager
    def alone(self):
        """Holds libvirtd alone (no other suite's libvirt test runs)."""
        fcntl.flock(self.file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.file, fcntl.LOCK_SH)

    def close(self):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


@pytest.fixture
def libvirtd():
    lock = LibvirtdLock()
    yield lock
    lock.close()
