"""Fixtures of the corruption tests (builders in corrupt_fixtures.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from corrupt_fixtures import make_sample

from sensorfuse.structures import SensorSample


@pytest.fixture
def sample() -> SensorSample:
    return make_sample()


@pytest.fixture
def reload_from() -> Callable[[SensorSample], Callable[[str, int], SensorSample]]:
    """A fake ``reload``: the 'late' stream is a second sample drawn with another seed."""

    def make(sample: SensorSample) -> Callable[[str, int], SensorSample]:
        late = make_sample(seed=99, token=sample.meta.sample_token)

        def reload(_modality: str, _delay_us: int) -> SensorSample:
            return late

        return reload

    return make
