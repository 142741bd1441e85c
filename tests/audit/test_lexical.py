from __future__ import annotations

import re
from pathlib import Path

import pytest

from safetylens.audit import lexical
from safetylens.errors import ConfigError
from tests.conftest import REPO


def _cats(text: str) -> set[str]:
    return lexical.pronoun_categories(set(lexical.tokens(text)))


def test_pronoun_lists_are_the_papers() -> None:
    # protocol.md §4 "Term lists (following PaLM 2)".
    assert lexical.PRONOUN_LISTS["she"] == ("she", "her", "hers", "herself")
    assert lexical.PRONOUN_LISTS["he"] == ("he", "him", "his", "himself")
    assert set(lexical.PRONOUN_LISTS["unspecified"]) == {
        "they", "them", "their", "theirs", "theirself", "themself", "themselves"
    }  # fmt: skip
    assert set(lexical.PRONOUN_LISTS["first"]) == {
        "i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves"
    }  # fmt: skip
    assert set(lexical.PRONOUN_LISTS["second"]) == {"you", "your", "yours", "yourself", "yourselves"}
    third = set(lexical.PRONOUN_LISTS["third"])
    assert third == {*lexical.PRONOUN_LISTS["she"], *lexical.PRONOUN_LISTS["he"],
                     *lexical.PRONOUN_LISTS["unspecified"], "it", "its", "itself"}  # fmt: skip


def test_pronouns_match_whole_words_case_insensitively() -> None:
    assert _cats("HER book") == {"she", "third", "gendered", "any"}
    assert _cats("The hermit and the theme park") == set()  # no "her", "he", "them" inside words
    assert "first" in _cats("I'm here")  # the apostrophe splits I'm
    assert "second" in _cats("you're right")
    assert _cats("They said it") == {"unspecified", "third", "any"}
    assert _cats("") == set()
    assert _cats("HIS, hers.") == {"she", "he", "third", "gendered", "any"}


@pytest.fixture(scope="module")
def descriptors(shared_data_dir: Path) -> Path:
    return shared_data_dir / "holistic_bias" / "descriptors-v1.1.json"


def test_lexicon_follows_the_papers_rules(descriptors: Path) -> None:
    lex = lexical.load_lexicon(descriptors)
    assert lex.axes == lexical.PAPER_AXES
    all_terms = [t for a in lex.axes for t in lex.terms[a]]
    assert len(all_terms) == len(set(all_terms)), "terms must be de-duplicated across axes"
    for dropped in ("straight", "white", "black"):
        assert dropped not in all_terms
    assert set(lex.dropped) == {"straight", "white", "black"}
    # Table 9b reports lgbt, lgbtq and queer under Sexual Orientation.
    for term in ("lgbt", "lgbtq", "queer"):
        assert term in lex.terms["sexual_orientation"]
        assert term not in lex.terms["gender_and_sex"]
        assert lex.moved[term] == ("sexual_orientation", ("gender_and_sex",))
    # Every top term of the paper's table is in our lexicon under the paper's axis.
    from safetylens.reference.audit import TABLE_9B

    for axis, ref in TABLE_9B.items():
        for term, _ in ref["top"]:
            assert term in lex.terms[axis], (axis, term)


def test_lexicon_matching(descriptors: Path) -> None:
    lex = lexical.load_lexicon(descriptors)
    toks = lexical.tokens("A Chinese-American, LGBTQ+ and Native American writer; not white or straight. Jewish?")
    found = lex.match(toks, set(toks))
    assert found == {
        ("nationality", "chinese"),
        ("nationality", "american"),
        ("nationality", "chinese american"),
        ("sexual_orientation", "lgbtq"),
        ("race_ethnicity", "native american"),
        ("religion", "jewish"),
    }
    # A multi-word term needs its words in order and adjacent.
    toks = lexical.tokens("American natives are native to America")
    assert ("race_ethnicity", "native american") not in lex.match(toks, set(toks))


def test_all_axes_and_bad_axes(descriptors: Path) -> None:
    lex = lexical.load_lexicon(descriptors, axes=("all",))
    assert len(lex.axes) == 13 and "age" in lex.axes
    with pytest.raises(ConfigError, match="unknown HolisticBias axes"):
        lexical.load_lexicon(descriptors, axes=("genders",))
    kept = lexical.load_lexicon(descriptors, drop=())
    assert "straight" in kept.terms["sexual_orientation"]


def test_reference_numbers_match_protocol_md() -> None:
    """The reference module transcribes protocol.md §4; check the numbers against the document."""
    from safetylens.reference import audit as ref

    doc = REPO.parent / "shared" / "docs" / "protocol.md"
    if not doc.is_file():
        pytest.fail(f"protocol.md not found at {doc} (the shared docs folder sits beside the checkout)")
    text = doc.read_text(encoding="utf-8")
    section = text[text.index("## 4. Pretraining-data notes") : text.index("## 5. Reference numbers")]
    assert f"She {ref.TABLE_9A['she']:.2f}%" in section
    assert f"He {ref.TABLE_9A['he']:.2f}%" in section
    assert f"Unspecified (they…) {ref.TABLE_9A['unspecified']:.2f}%" in section
    assert f"1st person {ref.TABLE_9A['first']:.2f}%" in section
    assert f"2nd {ref.TABLE_9A['second']:.2f}%" in section and f"3rd {ref.TABLE_9A['third']:.2f}%" in section
    assert f"({ref.TABLE_9A['gendered']:.2f}%)" in section and f"({ref.TABLE_9A['any']:.2f}%)" in section
    labels = {"gender_and_sex": "Gender and Sex", "sexual_orientation": "Sexual Orientation",
              "nationality": "Nationality", "race_ethnicity": "Race and Ethnicity", "religion": "Religion"}  # fmt: skip
    for axis, v in ref.TABLE_9B.items():
        line = next(ln for ln in section.splitlines() if f"{labels[axis]} ({v['documents']:.2f}%)" in ln)
        got = re.findall(r"([a-z]+) (\d+\.\d)", line.split(":", 1)[1])
        assert [(t, float(s)) for t, s in got] == v["top"], axis
    lang = section[section.index("**Language ID**") :]
    for code, pct in ref.TABLE_10.items():
        written = "zh/es/ru" if code in ("zh", "es", "ru") else code  # the note groups these three
        assert f"{written} {pct:.2f}%" in lang, code
