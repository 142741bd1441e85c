"""ToxiGen data loading, sampling and prompt construction on the real data files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from safetylens.benchmarks import get
from safetylens.benchmarks.base import BenchmarkContext
from safetylens.benchmarks.prompting import LLAMA2_SYSTEM_PROMPT
from safetylens.benchmarks.toxigen import COMPLETE_PREFIX, ToxigenOptions
from safetylens.datasets.registry import DataStore
from safetylens.datasets.toxigen import canonical_group, decode_prompt_line, load_safenlp
from safetylens.errors import ConfigError, DataError
from safetylens.models.base import Decoding, Message
from safetylens.reference.toxigen import GROUP_HATE_SIZES, GROUP_SIZES, GROUPS

README_SIZES = {
    # ../shared/datasets/README.md, verbatim order
    "asian": 883,
    "latino": 743,
    "women": 641,
    "mental_disability": 624,
    "lgbtq": 604,
    "black": 591,
    "physical_disability": 591,
    "muslim": 548,
    "jewish": 536,
    "native_american": 502,
    "mexican": 459,
    "chinese": 437,
    "middle_eastern": 431,
}


def _ctx(
    tmp_path: Path, *, chat: bool = False, limit: int | None = None, seed: int = 0, **options: Any
) -> BenchmarkContext:
    bench = get("toxigen")
    return BenchmarkContext(
        options=bench.parse_options(options),
        decoding=Decoding(temperature=0.1, top_p=0.9, max_new_tokens=128),
        chat=chat,
        limit=limit,
        data=DataStore(),
        run_dir=tmp_path,
        seed=seed,
    )


def _groups(samples: list[Any]) -> Counter[str]:
    return Counter(g for s in samples for g in s.meta["groups"])


def test_safenlp_group_sizes_match_readme_and_reference(tmp_path: Path, shared_data_dir: Path) -> None:
    samples = get("toxigen").build(_ctx(tmp_path))
    assert len(samples) == 6514
    assert dict(_groups(samples)) == README_SIZES
    assert GROUP_SIZES == README_SIZES
    hate = Counter(g for s in samples if s.meta["label"] == "hate" for g in s.meta["groups"])
    assert dict(hate) == GROUP_HATE_SIZES
    assert Counter(s.meta["label"] for s in samples) == {"hate": 2767, "neutral": 3747}
    # A sentence is generated once, even if it belongs to several groups.
    assert len({s.id for s in samples}) == 6514
    assert sum(len(s.meta["groups"]) > 1 for s in samples) == 6514 - 5497


def test_sample_ids_are_stable_and_from_the_file(tmp_path: Path, shared_data_dir: Path) -> None:
    raw = json.loads((shared_data_dir / "safenlp" / "toxiGen.json").read_text(encoding="utf-8"))
    samples = get("toxigen").build(_ctx(tmp_path, limit=3))
    assert [s.id for s in samples] == [f"safenlp-{r['id']}" for r in raw[:3]]
    assert [s.meta["text"] for s in samples] == [r["text"] for r in raw[:3]]
    again = get("toxigen").build(_ctx(tmp_path, limit=3))
    assert [s.id for s in again] == [s.id for s in samples]


def test_base_prompt_is_the_raw_sentence(tmp_path: Path, shared_data_dir: Path) -> None:
    raw = json.loads((shared_data_dir / "safenlp" / "toxiGen.json").read_text(encoding="utf-8"))
    s = get("toxigen").build(_ctx(tmp_path, limit=2))[1]
    assert s.generation is not None
    # Leading space and all: the sentence exactly as in the file.
    assert s.generation.prompt == raw[1]["text"]
    assert raw[1]["text"].startswith(" ")
    assert s.generation.decoding.stop == ()
    assert s.generation.decoding.temperature == 0.1 and s.generation.decoding.top_p == 0.9


@pytest.mark.parametrize(
    ("options", "user", "system"),
    [
        ({}, "{t}", None),
        ({"chat_user_turn": "complete"}, COMPLETE_PREFIX + "{t}", None),
        ({"system_prompt": "llama2"}, "{t}", LLAMA2_SYSTEM_PROMPT),
        ({"chat_user_turn": "complete", "system_prompt": "text:Be nice."}, "Complete the following: {t}", "Be nice."),
    ],
)
def test_chat_prompts(
    tmp_path: Path, shared_data_dir: Path, options: dict[str, Any], user: str, system: str | None
) -> None:
    s = get("toxigen").build(_ctx(tmp_path, chat=True, limit=1, **options))[0]
    assert s.generation is not None
    text = s.meta["text"]
    expected = ((Message("system", system),) if system else ()) + (Message("user", user.format(t=text)),)
    assert s.generation.prompt == expected
    assert s.generation.decoding.stop == ()


def test_prompt_files_decode_literal_newlines_and_stop_for_base(tmp_path: Path, shared_data_dir: Path) -> None:
    line = (shared_data_dir / "toxigen" / "hate_asian_1k.txt").read_text(encoding="utf-8").split("\n")[0]
    assert "\\n" in line and "\n" not in line
    samples = get("toxigen").build(_ctx(tmp_path, dataset="prompts", groups=["asian"], max_prompts_per_group=None))
    assert len(samples) == 1000
    first = samples[0]
    assert first.id == "hate_asian-0000"
    assert first.generation is not None
    assert first.generation.prompt == line.strip().replace("\\n", "\n")
    assert first.generation.prompt.endswith("\n-")
    assert first.generation.prompt.count("\n") == line.count("\\n")
    assert first.generation.decoding.stop == ("\n",)
    # Chat models: "Complete the following: " by default on this set, no stop.
    chat = get("toxigen").build(_ctx(tmp_path, chat=True, dataset="prompts", groups=["asian"], limit=1))[0]
    assert chat.generation is not None
    assert chat.generation.prompt == (Message("user", COMPLETE_PREFIX + chat.meta["text"]),)
    assert chat.generation.decoding.stop == ()
    no_stop = get("toxigen").build(_ctx(tmp_path, dataset="prompts", groups=["asian"], list_item_stop=False, limit=1))
    assert no_stop[0].generation is not None and no_stop[0].generation.decoding.stop == ()


def test_decode_prompt_line() -> None:
    assert decode_prompt_line("- a\\n- b\\n-\n") == "- a\n- b\n-"
    assert decode_prompt_line("x \\\\ y") == "x \\ y"


def test_prompt_files_cap_labels_and_groups(tmp_path: Path, shared_data_dir: Path) -> None:
    samples = get("toxigen").build(_ctx(tmp_path, dataset="prompts"))
    # Default: hate prompts only, 16 groups, 500 per file, as the public replication.
    assert {s.meta["label"] for s in samples} == {"hate"}
    sizes = _groups(samples)
    assert len(sizes) == 16 and set(sizes.values()) == {500}
    assert sizes["middle_eastern"] == 500
    again = get("toxigen").build(_ctx(tmp_path, dataset="prompts"))
    assert [s.id for s in again] == [s.id for s in samples]
    other_seed = get("toxigen").build(_ctx(tmp_path, dataset="prompts", seed=1))
    assert [s.id for s in other_seed] != [s.id for s in samples]
    both = get("toxigen").build(
        _ctx(
            tmp_path, dataset="prompts", labels=["hate", "neutral"], groups=["trans", "women"], max_prompts_per_group=7
        )
    )
    by_file = Counter(s.id.rsplit("-", 1)[0] for s in both)
    # There is no neutral_trans file.
    assert by_file == {"hate_trans": 7, "hate_women": 7, "neutral_women": 7}


def test_stratified_sample(tmp_path: Path, shared_data_dir: Path) -> None:
    samples = get("toxigen").build(_ctx(tmp_path, sample=20))
    sizes = _groups(samples)
    assert set(sizes) == set(GROUPS)
    assert all(n >= 20 for n in sizes.values())
    assert len(samples) < 13 * 20 + 1
    again = get("toxigen").build(_ctx(tmp_path, sample=20))
    assert [s.id for s in again] == [s.id for s in samples]
    other = get("toxigen").build(_ctx(tmp_path, sample=20, seed=5))
    assert [s.id for s in other] != [s.id for s in samples]
    # File order is kept.
    full_order = {s.id: i for i, s in enumerate(get("toxigen").build(_ctx(tmp_path)))}
    idx = [full_order[s.id] for s in samples]
    assert idx == sorted(idx)
    limited = get("toxigen").build(_ctx(tmp_path, sample=20, limit=5))
    assert [s.id for s in limited] == [s.id for s in samples[:5]]


def test_group_and_label_filters_on_safenlp(tmp_path: Path, shared_data_dir: Path) -> None:
    samples = get("toxigen").build(_ctx(tmp_path, groups=["mental dis", "Physical-Dis"], labels=["hate"]))
    sizes = _groups(samples)
    assert set(sizes) == {"mental_disability", "physical_disability"}
    assert sizes["mental_disability"] == GROUP_HATE_SIZES["mental_disability"]
    assert {s.meta["label"] for s in samples} == {"hate"}


def test_bad_options_are_clear(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unknown ToxiGen group 'martians'"):
        get("toxigen").parse_options({"groups": ["martians"]})
    with pytest.raises(Exception, match="extra"):
        get("toxigen").parse_options({"no_such_option": 1})
    with pytest.raises(ConfigError, match="not in the safenlp set"):
        ToxigenOptions(groups=("trans",)).effective_groups()
    assert canonical_group("Middle-Eastern") == "middle_eastern"
    assert canonical_group("middle_east") == "middle_eastern"


def test_malformed_data_files(tmp_path: Path) -> None:
    bad = tmp_path / "toxiGen.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="cannot read"):
        load_safenlp(bad)
    bad.write_text(json.dumps([{"id": 1, "text": "x", "label": "hate", "target_groups": ["martians"]}]))
    with pytest.raises(DataError, match="entry 0: unknown ToxiGen group"):
        load_safenlp(bad)
    bad.write_text(json.dumps([{"id": 1, "text": "x", "label": "maybe", "target_groups": ["asian"]}]))
    with pytest.raises(DataError, match="'label' must be hate or neutral"):
        load_safenlp(bad)
    bad.write_text(json.dumps([{"id": 1, "text": "x", "label": "hate", "target_groups": ["asian"]}] * 2))
    with pytest.raises(DataError, match="duplicate id"):
        load_safenlp(bad)


def test_tampered_data_fails_before_any_model_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "safenlp").mkdir()
    (tmp_path / "safenlp" / "toxiGen.json").write_text("[]", encoding="utf-8")
    monkeypatch.setenv("SAFETYLENS_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="checksum mismatch"):
        get("toxigen").build(_ctx(tmp_path))


def test_prompt_templates_are_recorded(tmp_path: Path) -> None:
    bench = get("toxigen")
    assert bench.prompt_templates(ToxigenOptions(), chat=False) == {"prompt": "{text}"}
    chat = bench.prompt_templates(ToxigenOptions(dataset="prompts", system_prompt="llama2"), chat=True)
    assert chat == {"user": COMPLETE_PREFIX + "{text}", "system": LLAMA2_SYSTEM_PROMPT}
    names = {c.name: c for c in ToxigenOptions().open_choices()}
    assert {"chat_user_turn", "system_prompt", "max_new_tokens", "threshold", "classify"} <= set(names)
    assert names["max_new_tokens"].value == 128
    assert ToxigenOptions.scoring_fields() >= {"classifier", "threshold", "classify", "classifier_model"}
