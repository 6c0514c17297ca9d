"""The neural model-file format ``csgene.neural/1``: weights only, no pickled objects.

A file is a ``torch.save`` of a dict of tensors and plain types, readable with
``torch.load(..., weights_only=True)``:

``format``
    ``"csgene.neural/1"``.
``kind``
    The class name (``MeasurementMLP``, ``VAEPrior``, ``GANPrior``).
``params``, ``config``
    JSON strings: constructor parameters, and fitted scalars and training history.
``arrays``
    Name -> tensor of fitted arrays (standardisers, design, ...).
``modules``
    Module name -> ``state_dict``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..exceptions import InputError, ModelFileError
from ._torch import import_torch

FILE_FORMAT = "csgene.neural/1"


def jsonable_params(params: dict) -> dict:
    """Constructor parameters as JSON-able values.

    Tuples become lists; a value JSON cannot hold (a RandomState or Generator) is saved as None.
    """
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value)
        except TypeError:
            value = None
        out[key] = value
    return out


def save_file(path, *, kind: str, params: dict, config: dict, arrays: dict, modules: dict) -> None:
    """Write a model file.

    Parameters
    ----------
    path : str, Path or binary file object
        A path is written atomically (the old file stays until the new one is complete).
    kind : str
        The class name, checked by :func:`load_file`.
    params : dict
        Constructor parameters (see :func:`jsonable_params`).
    config : dict
        JSON-able fitted scalars.
    arrays : dict of str to ndarray or None
        Fitted arrays; None values are left out.
    modules : dict of str to torch.nn.Module
        Their ``state_dict`` is saved, on the CPU.
    """
    torch = import_torch()
    payload = {
        "format": FILE_FORMAT,
        "kind": kind,
        "params": json.dumps(jsonable_params(params)),
        "config": json.dumps(config),
        "arrays": {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items() if v is not None},
        "modules": {name: {k: v.detach().cpu() for k, v in m.state_dict().items()} for name, m in modules.items()},
    }
    if hasattr(path, "write"):
        torch.save(payload, path)
        return
    with atomic_path(path) as tmp:
        torch.save(payload, Path(tmp))


def load_file(path, kind: str) -> tuple[dict, dict, dict, dict]:
    """Read a file written by :func:`save_file`.

    Parameters
    ----------
    path : str, Path or binary file object
    kind : str
        The class name the file must hold.

    Returns
    -------
    params, config : dict
    arrays : dict of str to ndarray
    state_dicts : dict of str to dict

    Raises
    ------
    InputError
        The path does not exist.
    ModelFileError
        The file is not a weights-only csgene neural model of this format, or holds another kind.
    """
    torch = import_torch()
    if not hasattr(path, "read"):
        path = Path(path)
        if not path.exists():
            raise InputError(f"model file {path} does not exist. Check the path, or save a model first.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or non-weights files
        raise ModelFileError(
            f"{path} could not be read as a csgene neural model ({type(exc).__name__}: {exc}). "
            f"Re-save it with {kind}.save(path)."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise ModelFileError(
            f"{path} is not a csgene neural model file of format {FILE_FORMAT!r}. "
            f"Re-save it with this csgene version's {kind}.save(path)."
        )
    if payload.get("kind") != kind:
        raise ModelFileError(
            f"{path} holds a {payload.get('kind')}, not a {kind}. Load it with {payload.get('kind')}.load."
        )
    arrays = {k: v.numpy() for k, v in payload["arrays"].items()}
    return json.loads(payload["params"]), json.loads(payload["config"]), arrays, payload["modules"]


def load_state_dicts(modules: dict, states: dict, path) -> None:
    """Load each module's saved ``state_dict``.

    Parameters
    ----------
    modules : dict of str to torch.nn.Module
        Freshly built modules, by the names they were saved under.
    states : dict
        The state dicts :func:`load_file` returned.
    path : str, Path or file object
        Named in the error.

    Raises
    ------
    ModelFileError
        A module is missing, or its weights do not fit the saved configuration.
    """
    for name, module in modules.items():
        try:
            module.load_state_dict(states[name])
        except (RuntimeError, KeyError) as exc:
            raise ModelFileError(f"{path}: weights of {name!r} do not match the saved "
                                 f"configuration ({exc}). Re-save the model.") from exc
