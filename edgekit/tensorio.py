"""The two conversions every verb needs: example inputs -> tuple of tensors, outputs -> list of arrays.

Before this module each verb had its own copy (quantize, export, parity, the noise floor, prune) and
they disagreed: ``ek.prune(m, [x])`` and ``ek.prune(m, x.numpy())`` failed inside conv2d while
``ek.export`` took both. Torch is imported inside the functions so ``edgekit.runtime`` and
``edgekit.converters.parity`` can import this on a machine without torch.

>>> import numpy as np
>>> [a.shape for a in to_numpy_list((np.zeros((1, 2)), np.ones(3)))]
[(1, 2), (3,)]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.errors import EdgekitError, InputSpecError


def as_example_tuple(
    example_inputs: Any, *, error: type[EdgekitError] = InputSpecError, device: Any = None
) -> tuple[Any, ...]:
    """One example batch per model input, as a tuple of torch tensors.

    Accepts a tensor, a numpy array, or a list / tuple of them (one per input). Numpy arrays become
    tensors (sharing memory where numpy allows); tensors are moved to ``device`` when given. Anything
    else, or an empty sequence, raises ``error`` (default :class:`~edgekit.errors.InputSpecError`) naming
    what was given and what to give instead.

    >>> import torch
    >>> [tuple(t.shape) for t in as_example_tuple([np.zeros((1, 3), np.float32)])]
    [(1, 3)]
    >>> as_example_tuple(torch.ones(2, 2))[0].dtype
    torch.float32
    """
    import torch

    items = example_inputs if isinstance(example_inputs, tuple | list) else (example_inputs,)
    if not items:
        raise error(
            "example_inputs is empty: give one example batch per model input, e.g. torch.randn(1, 3, 224, 224)"
        )
    out = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(np.ascontiguousarray(item))
        if not isinstance(item, torch.Tensor):
            raise error(
                f"example input {i} is a {type(item).__name__}; give torch tensors or numpy arrays (one batch "
                "per model input, e.g. torch.randn(1, 3, 224, 224))"
            )
        out.append(item if device is None else item.to(device))
    return tuple(out)


def to_numpy_list(outputs: Any) -> list[np.ndarray]:
    """A model's outputs as a list of numpy arrays, in output order.

    One tensor / array gives a list of one; a list or tuple keeps its order; a dict gives its values in
    insertion order. Torch tensors are detached and copied to the CPU.
    """
    items = (
        list(outputs.values())
        if isinstance(outputs, dict)
        else list(outputs)
        if isinstance(outputs, list | tuple)
        else [outputs]
    )
    arrays = []
    for item in items:
        if hasattr(item, "detach"):  # a torch tensor (without importing torch here)
            arrays.append(item.detach().cpu().numpy())
        else:
            arrays.append(np.asarray(item))
    return arrays
