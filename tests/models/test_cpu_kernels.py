"""oneDNN-packed linear layers: the same products as torch's, chosen per model, recorded in the identity."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from safetylens.errors import ConfigError  # noqa: E402
from safetylens.models.base import Decoding, GenerationRequest, LoglikelihoodRequest  # noqa: E402
from safetylens.models.cpu_kernels import (  # noqa: E402
    MIN_WEIGHT_ELEMENTS,
    PackedLinear,
    onednn_available,
    pack_linears,
    resolve_kernel,
)

pytestmark = pytest.mark.skipif(not onednn_available(), reason="this torch build has no oneDNN")


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 576), (8, 576), (3, 7, 576), (2, 130, 576)])
def test_a_packed_layer_computes_the_same_product(shape: tuple[int, ...], bias: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(576, 1536, bias=bias)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(1536, 576, generator=gen) / 24)
    x = torch.randn(*shape, generator=gen)
    want = lin(x)
    packed = PackedLinear(lin)
    with torch.inference_mode():
        got = packed(x)
    assert got.shape == want.shape == (*shape[:-1], 1536)
    # Another summation order: the last bits differ, nothing more.
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4)
    assert "kernel=onednn" in repr(packed)


def test_only_large_float32_layers_are_packed() -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(576, 1536),  # 884,736 elements: packed
        torch.nn.Linear(1536, 192),  # 294,912: packed
        torch.nn.Linear(192, 576),  # 110,592: below the threshold, torch's kernel is faster
        torch.nn.Sequential(torch.nn.Linear(576, 576).to(torch.bfloat16)),  # not float32
    )
    assert 192 * 576 < MIN_WEIGHT_ELEMENTS <= 1536 * 192
    assert pack_linears(model) == 2
    assert [type(m).__name__ for m in model[:3]] == ["PackedLinear", "PackedLinear", "Linear"]
    assert type(model[3][0]) is torch.nn.Linear


def test_the_kernel_is_chosen_from_the_request_and_the_weights() -> None:
    f32 = torch.nn.Linear(4, 4)
    bf16 = torch.nn.Linear(4, 4).to(torch.bfloat16)
    assert resolve_kernel("auto", f32) == "onednn"
    assert resolve_kernel("auto", bf16) == "torch"
    assert resolve_kernel("torch", f32) == "torch"
    with pytest.raises(ValueError, match="float32 weights on a CPU"):
        resolve_kernel("onednn", bf16)
    with pytest.raises(ValueError, match="unknown cpu_kernel"):
        resolve_kernel("fast", f32)


def _requests() -> tuple[list[GenerationRequest], list[LoglikelihoodRequest]]:
    dec = Decoding(temperature=0.0, max_new_tokens=12)
    gen = [GenerationRequest(prompt=p, decoding=dec) for p in ("Name a colour.", "What is 2 + 2?", "Say hello.")]
    ll = [
        LoglikelihoodRequest(context="The capital of France is", continuation=" Paris"),
        LoglikelihoodRequest(context="The capital of France is", continuation=" Berlin"),
    ]
    return gen, ll


def test_the_builtin_model_gives_the_same_answers_on_both_kernels(builtin_backend: Any) -> None:
    from safetylens.models.hf import HFBackend
    from safetylens.spec import ModelSpec

    assert builtin_backend.identity.extra["cpu_kernel"] == "onednn"
    assert builtin_backend.identity.info["packed_linear_layers"] > 0
    plain = HFBackend.from_spec(ModelSpec(name="builtin", batch_size=8, threads=2, cpu_kernel="torch"))
    try:
        assert plain.identity.extra["cpu_kernel"] == "torch"
        assert plain.identity.info["packed_linear_layers"] == 0
        # The kernel is part of the cache key: results of one are never served for the other.
        assert plain.identity.fingerprint() != builtin_backend.identity.fingerprint()
        gen, ll = _requests()
        assert [r.text for r in builtin_backend.generate(gen)] == [r.text for r in plain.generate(gen)]
        for a, b in zip(builtin_backend.loglikelihood(ll), plain.loglikelihood(ll), strict=True):
            assert a.logprob == pytest.approx(b.logprob, rel=1e-4, abs=1e-4)
            assert a.is_greedy == b.is_greedy
    finally:
        plain.close()


def test_asking_for_onednn_on_bfloat16_weights_is_a_config_error() -> None:
    from safetylens.models.hf import HFBackend
    from safetylens.spec import ModelSpec

    with pytest.raises(ConfigError, match="float32 weights on a CPU"):
        HFBackend.from_spec(ModelSpec(name="builtin", dtype="bfloat16", threads=2, cpu_kernel="onednn"))


def test_a_spec_that_leaves_the_kernel_unset_keeps_its_old_hash() -> None:
    from safetylens.spec import RunSpec, build_spec

    unset = build_spec({"model": {"name": "builtin"}})
    assert "cpu_kernel" not in unset.model_dump(mode="json")["model"]
    assert unset.spec_hash() == RunSpec.model_validate(unset.model_dump(mode="json")).spec_hash()
    chosen = build_spec({"model": {"name": "builtin", "cpu_kernel": "torch"}})
    assert chosen.model_dump(mode="json")["model"]["cpu_kernel"] == "torch"
    assert chosen.spec_hash() != unset.spec_hash()
    with pytest.raises(ConfigError, match=r"model\.cpu_kernel"):
        build_spec({"model": {"cpu_kernel": "fast"}})
