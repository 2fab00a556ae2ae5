import pytest

from tests.support.cluster_fixtures import BACKENDS, Backend
from tests.support.slurm import Unavailable


@pytest.fixture(params=BACKENDS)
def cluster(request, backends) -> Backend:
    """Each back end in turn: the local executor, Slurm on this host, Slurm over SSH."""
    made = backends[request.param]
    if isinstance(made, Unavailable):
        pytest.skip(str(made).splitlines()[0])
    return made
