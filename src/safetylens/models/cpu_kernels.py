"""Linear layers on oneDNN's pre-packed weights, for float32 inference on a CPU.

torch's default float32 ``linear`` on x86 calls MKL's sgemm on the weight as stored. For the few rows
of a decoding step (one per sequence in the batch) that kernel runs far below the CPU's peak; oneDNN
on a weight re-laid once into its blocked format does the same product in about half the time. On
the 2-core reference machine (AMD EPYC, 2 threads), per call:

==================  ============  ============
weight (out x in)   8 rows, MKL   8 rows, oneDNN
==================  ============  ============
1536 x 576          0.263 ms      0.134 ms
576 x 576           0.147 ms      0.088 ms
49152 x 576 (head)  20.7 ms       7.5 ms
576 x 192 (k, v)    0.034 ms      0.070 ms
==================  ============  ============

so small weights (below :data:`MIN_WEIGHT_ELEMENTS`) keep torch's kernel. The two kernels sum in a
different order: logits differ in the last bits (about 1e-5 relative), which the model identity
records (``cpu_kernel``) and the cache key therefore separates.

The packed weight replaces the original (no second copy in memory); packing is one pass over the
weights when the model is loaded. A packed layer's weight is an opaque oneDNN tensor, kept out of
``state_dict()``; ``weight.to_dense()`` gives it back bit for bit.
"""

from __future__ import annotations

from typing import Any

import torch

MIN_WEIGHT_ELEMENTS = 1 << 18
"""Weights smaller than this keep torch's kernel, faster for them at every row count measured."""

ROWS_HINT = 8
"""The row count oneDNN lays the weight out for (a decoding batch); any row count is accepted."""


def onednn_available() -> bool:
    """Whether this torch build can run packed float32 linear layers through oneDNN."""
    ops = getattr(torch.ops, "mkldnn", None)
    return bool(
        torch.backends.mkldnn.is_available()
        and ops is not None
        and hasattr(ops, "_reorder_linear_weight")
        and hasattr(ops, "_linear_pointwise")
    )


class PackedLinear(torch.nn.Module):
    """``y = x W^T + b`` on a weight packed for oneDNN (float32, CPU).

    Args:
        linear: The layer to replace; its weight is re-laid out, not copied beside the original.
    """

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), ROWS_HINT)
        self.register_buffer("weight", weight, persistent=False)
        bias = None if linear.bias is None else linear.bias.detach()
        self.register_buffer("bias", bias, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output, shaped like ``torch.nn.Linear``'s."""
        out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return out

    def extra_repr(self) -> str:
        """Shown in ``print(model)``."""
        return f"in_features={self.in_features}, out_features={self.out_features}, kernel=onednn"


def resolve_kernel(requested: str, model: Any) -> str:
    """The kernel a model will use: ``torch`` or ``onednn``.

    Raises:
        ValueError: ``onednn`` was asked for where it cannot run (not float32 on a CPU, or no oneDNN).
    """
    param = next(model.parameters())
    fits = param.device.type == "cpu" and param.dtype == torch.float32
    if requested == "torch":
        return "torch"
    if requested == "onednn":
        if not fits:
            raise ValueError(f"cpu_kernel=onednn needs float32 weights on a CPU (here {param.dtype} on {param.device})")
        if not onednn_available():
            raise ValueError("cpu_kernel=onednn: this torch build has no oneDNN linear kernels")
        return "onednn"
    if requested != "auto":
        raise ValueError(f"unknown cpu_kernel {requested!r} (auto, torch or onednn)")
    return "onednn" if fits and onednn_available() else "torch"


def pack_linears(model: torch.nn.Module, min_elements: int = MIN_WEIGHT_ELEMENTS) -> int:
    """Replace every large float32 ``torch.nn.Linear`` of a CPU model by a :class:`PackedLinear`.

    A weight shared with another module (an output layer tied to the input embeddings) stays shared
    with that module; the packed layer holds its own re-laid copy.

    Returns:
        How many layers were packed.
    """
    packed = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (
                type(child) is torch.nn.Linear
                and child.weight.dtype == torch.float32
                and child.weight.device.type == "cpu"
                and child.weight.numel() >= min_elements
            ):
                setattr(parent, name, PackedLinear(child))
                packed += 1
    return packed


__all__ = ["MIN_WEIGHT_ELEMENTS", "PackedLinear", "onednn_available", "pack_linears", "resolve_kernel"]
