"""Seeds and random generators: the one place csgene turns a ``random_state`` into randomness.

- :func:`check_seed`: an int seed ``0 .. MAX_SEED`` or :class:`~csgene.exceptions.InputError`
  naming the parameter (command line, ``ExperimentConfig.seed``, model seeds).
- :func:`root_seed`: a nonnegative int root seed, or fresh entropy for None (block runners).
- :func:`as_generator`: a numpy ``Generator`` (data, designs, noise).
- :func:`check_random_state`: a legacy ``RandomState`` (scikit-learn's convention; learners
  whose draws must match scikit-learn's); a Generator is accepted too.

Every public ``random_state`` parameter takes the same four kinds of value: an int seed, None
(fresh entropy), a numpy ``Generator`` or a legacy ``RandomState``. An int gives the same
result on every call; a Generator or RandomState is drawn from, so repeated calls differ.
- :func:`draw_seed`: one int seed drawn from any ``random_state`` (torch, NMF initialisation).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state as _sklearn_check_random_state

from ._validation import check_positive_int
from .exceptions import InputError

__all__ = ["MAX_SEED", "as_generator", "check_random_state", "check_seed", "draw_seed", "root_seed"]

#: Seeds numpy's generators accept: 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def check_seed(value, name: str = "seed") -> int:
    """Return ``value`` as an int seed in ``[0, 2**32 - 1]`` or raise :class:`InputError`."""
    return check_positive_int(value, name, minimum=0, maximum=MAX_SEED)


def root_seed(random_state) -> int:
    """Return ``random_state`` as a nonnegative int root seed; None draws fresh entropy."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)) \
            or random_state < 0:
        raise InputError(
            f"random_state must be a nonnegative int (the root seed of the per-group noise), got "
            f"{random_state!r}."
        )
    return int(random_state)


def as_generator(random_state) -> np.random.Generator:
    """A numpy Generator from an int seed, a Generator, a legacy RandomState, or None.

    None draws fresh entropy; a RandomState (scikit-learn's convention) seeds a Generator
    from its own stream, so results still follow that RandomState's seed.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return np.random.default_rng(random_state)
    legacy = check_random_state(random_state)
    return np.random.default_rng(legacy.randint(0, 2**31 - 1, size=4))


def check_random_state(random_state) -> np.random.RandomState:
    """A legacy ``RandomState`` from an int seed, a RandomState, a numpy Generator, or None.

    An int or None behaves as in scikit-learn's ``check_random_state`` (so draws match
    scikit-learn's); a RandomState is returned as it is; a Generator seeds a new RandomState
    from its own stream (results follow the Generator's seed, and it advances).

    Raises
    ------
    InputError
        For anything else (a float, a string, a negative or too large int seed).
    """
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(random_state.integers(0, MAX_SEED, endpoint=True, dtype=np.uint32))
    try:
        if isinstance(random_state, (bool, np.bool_)):  # not taken as the seed 0 or 1
            raise ValueError("a bool is no seed")
        return _sklearn_check_random_state(random_state)
    except ValueError as exc:
        raise InputError(
            f"random_state must be an int seed from 0 to {MAX_SEED}, a numpy Generator or RandomState, "
            f"or None; got {random_state!r}."
        ) from exc


def draw_seed(random_state) -> int:
    """Draw one int seed in ``[0, 2**31 - 1)`` from ``random_state`` (None, int, RandomState, Generator)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return int(check_random_state(random_state).randint(2**31 - 1))
