"""How many inputs each fuzz test tries: a few in ``make test``, as many as asked in ``make fuzz``.

``SENSORFUSE_FUZZ_EXAMPLES`` (default 40) sets hypothesis' ``max_examples`` for every fuzz test; ``make fuzz
FUZZ_EXAMPLES=20000`` runs a long campaign. The only outcomes a fuzzed reader may have are a valid result or the
project's own named error (:class:`sensorfuse.errors.SensorfuseError`).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("SENSORFUSE_FUZZ_EXAMPLES", "40"))

#: decorator for every fuzz test
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
    database=None,
)
