"""Registry of the pinned public data sets, and verified access to their files.

Each :class:`DatasetInfo` names its files with their sha256 and size, the repository and commit they
come from, the license and the citation. :class:`DataStore` finds a file in ``SAFETYLENS_DATA_DIR``
(a directory laid out like the reference mirror, e.g. ``truthfulqa/TruthfulQA.csv``) or in the
cache (``$SAFETYLENS_HOME/data``, filled by ``safetylens data fetch`` / ``data import``), and
verifies its hash before anything reads it: a mismatch or a missing file stops the run before any
model call, with a message that names the file, both hashes and the fix.

Provenance of the pins (where each commit and hash was established) is recorded in each data set's
``notes``; a pin that could not be confirmed says so there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from safetylens import paths
from safetylens.errors import DataError
from safetylens.spec import DatasetRecord
from safetylens.util import sha256_file

GITHUB_RAW = "https://raw.githubusercontent.com"

FileKind = Literal["data", "license"]

_FULL_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class DataFile:
    """One file of a data set.

    Attributes:
        path: Path inside the data directory (the reference layout), e.g. ``bold/race_prompt.json``.
        sha256: Expected hash of the file's bytes.
        source_path: Path of the file in its source repository.
        size: Expected size in bytes (used for progress and to stop oversized downloads early).
        kind: ``"data"`` (needed by benchmarks) or ``"license"`` (the terms shipped with the data;
            fetched and imported alongside, but not required for a run).
        repo: Source repository when it differs from the data set's (``owner/name``).
        commit: Source commit when it differs from the data set's.
        alt_urls: Other URLs known to serve exactly these bytes, tried after the primary one.
    """

    path: str
    sha256: str
    source_path: str
    size: int | None = None
    kind: FileKind = "data"
    repo: str | None = None
    commit: str | None = None
    alt_urls: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The bare file name."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DatasetInfo:
    """A pinned data set.

    Attributes:
        id: Registry id, e.g. ``"bold"``.
        version: Human-readable version recorded in manifests.
        description: What the data is and what it is used for.
        repo: Source repository on GitHub (``owner/name``).
        commit: Full 40-hex commit the files are pinned to.
        license: SPDX-like license of the data.
        citation: How to cite it.
        files: Registered files (data and license files).
        notes: Provenance of the pins, caveats, anything unconfirmed.
        extra_urls: Informational links (home page, paper, Hugging Face mirror), by label.
    """

    id: str
    version: str
    description: str
    repo: str
    commit: str
    license: str
    citation: str
    files: tuple[DataFile, ...]
    notes: str = ""
    extra_urls: dict[str, str] = field(default_factory=dict)

    @property
    def data_files(self) -> tuple[DataFile, ...]:
        """The files benchmarks read (license files excluded)."""
        return tuple(f for f in self.files if f.kind == "data")

    @property
    def license_files(self) -> tuple[DataFile, ...]:
        """The license files shipped with the data."""
        return tuple(f for f in self.files if f.kind == "license")

    @property
    def total_size(self) -> int:
        """Sum of the known file sizes in bytes."""
        return sum(f.size or 0 for f in self.files)

    def source_of(self, f: DataFile) -> tuple[str, str]:
        """``(repo, commit)`` a file comes from."""
        return (f.repo or self.repo, f.commit or self.commit)

    def is_pinned(self) -> bool:
        """Whether every file is pinned to a full 40-hex commit."""
        return all(_FULL_SHA.fullmatch(self.source_of(f)[1]) for f in self.files)

    def url(self, f: DataFile, mirror: str | None = None) -> str:
        """Download URL of a file: GitHub raw at the pinned commit, or the same path under ``mirror``."""
        base = (mirror or GITHUB_RAW).rstrip("/")
        repo, commit = self.source_of(f)
        return f"{base}/{repo}/{commit}/{f.source_path}"

    def urls(self, f: DataFile, mirror: str | None = None) -> list[str]:
        """Every URL to try for a file, in order.

        With a mirror only the mirror is used (it is an explicit choice, often because the public
        hosts are unreachable); otherwise GitHub first, then any confirmed alternative.
        """
        if mirror:
            return [self.url(f, mirror)]
        return [self.url(f), *f.alt_urls]

    def file(self, path: str) -> DataFile:
        """The registered file with this path (or bare file name).

        Raises:
            DataError: The data set has no such file.
        """
        for f in self.files:
            if f.path == path or f.name == path:
                return f
        raise DataError(
            f"data set {self.id!r} has no file {path!r}", hint=f"its files: {', '.join(f.path for f in self.files)}"
        )


# --------------------------------------------------------------------------------------- pins
# TruthfulQA original release. Commit, paths and both hashes are those of the Hugging Face
# `truthful_qa` loader: huggingface/datasets datasets/truthful_qa/truthful_qa.py (_URLS) and its
# dataset_infos.json (download_checksums: TruthfulQA.csv 443,723 bytes sha256 8d7dd15f...,
# data/mc_task.json 710,607 bytes sha256 6eb4125d...), i.e. the data behind lm-evaluation-harness'
# truthfulqa_mc1/mc2/gen. `main` no longer serves these bytes: the CSV moved to data/v0/ (and was
# re-encoded, sha256 f4fcc4a8... at d71c1108), and data/mc_task.json became the 790-question 2025 file.
_TQA_ORIGINAL = "013686a06be7a7bde5bf8223943e106c7250123c"
# TruthfulQA January 2025 revision: TruthfulQA.csv (790 questions) sha256 b8d8ef1e... pinned at this
# commit by independent public projects; the same bytes are also served at d71c110897f5d31c5d7f309e7bc316c152f6f031.
_TQA_2025 = "f6be04e52bbcb41d4d20daee6358231d4a5015d2"

_TQA_LICENSE = DataFile(
    "truthfulqa/LICENSE",
    "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
    "LICENSE",
    11357,
    "license",
)

_SAFENLP_COMMIT = "e351b6cb892284cf843b88e363b1a6dbaded584e"
_TOXIGEN_COMMIT = "01517e814639e0334c920a3c502036c8158aac87"

_SAFENLP_LICENSES = (
    DataFile(
        "safenlp/LICENSE",
        "386e3ac8535699d89fc33c6f2caa5b18ef5f6ea8d11a9885beaed181290da544",
        "LICENSE",
        1120,
        "license",
    ),
    # The ToxiGen terms (MIT + CDLA-Permissive-2.0) that govern the ToxiGen-derived sentences. These
    # bytes are ToxiGen's own LICENSE.txt (with the closing "synthetic data" note); SafeNLP's
    # data/LICENSE carries the same text but, as indexed, without the final newline.
    DataFile(
        "safenlp/TOXIGEN_LICENSE",
        "56f1dd6be56e0afd33c2c070fa73448fb0eddcbcd60a55a53a8a26a0f6b4c205",
        "LICENSE.txt",
        3539,
        "license",
        repo="microsoft/TOXIGEN",
        commit=_TOXIGEN_COMMIT,
    ),
)

_TOXIGEN_PROMPTS = {
    "hate_asian": ("0504967034122b691c16dbef10db3acb16492808ecc66d8cd2b2ae87454fd655", 499093),
    "hate_bisexual": ("09a5b6995d0cd0ba940ae9f9d67e8db1451352dcf99ee273315efc34915fc1e3", 443794),
    "hate_black": ("29ef85c5610d77a3a4bb050826ffb6e124ee48e11f5b63d34b29d616ef2ee1c3", 741295),
    "hate_chinese": ("7f99029bad4f71caff707787d6799d1d654fee140f22418691d1244e81ed2b21", 380934),
    "hate_immigrant": ("bebb38d8786f498ca2153f965cdfba14e0490d5216781091106e5ac8ebbe0574", 281309),
    "hate_jewish": ("f5bdf83ef8fd32435241cc5fcfc337c0a57bcf64eb7fb4aa3c8fe15eb86f1fd2", 569538),
    "hate_latino": ("60988864d728cc7b1644a72419181efc1d82b2342f636a5e76f34805e4a88537", 704000),
    "hate_lgbtq": ("7fb7da0d4ad1a485824111ab60f6030f01dd92dbc9342c76534c78faec061a16", 573075),
    "hate_mental_disability": ("5a71f51bf998c5111b5dd6d0b7d7edbaa445f27defbc1fdb798dd920974ad3e2", 476620),
    "hate_mexican": ("2fad743ced369e4a280165b7ea909f8cb30921840cbe5f9f454243cf9e4dcfd5", 671444),
    "hate_middle_east": ("29ffcca6defd3e4f2edd2237417c7617a3c7380de8f9c6cf13d8c087fa595223", 422551),
    "hate_muslim": ("aaa18a9bf72928f71cf3d0d8d4dfa298faeb015a8580f5c7e21ef7afaae3241a", 421760),
    "hate_native_american": ("01c2077f1007268ca11588d08f909ed9c01178148205ae417618d276227b9bbc", 476000),
    "hate_physical_disability": ("8cada46239a52a741faf47677d1ffbfa06dc31d3e480a03935a5aec89ea02dee", 409643),
    "hate_trans": ("6188dfd52082e552230a1332e2bf83a23e8410c5f353d32dca79f259c8daf8b8", 581554),
    "hate_women": ("eecdf3006847c267b9399045ce2fe002f884fe5b682dbef450f3477d7bb24497", 385583),
    "neutral_asian": ("a5f0c58ae51dc8771d1779009ffc3017c5071c529b01f260600fa96c164ceb44", 611895),
    "neutral_bisexual": ("8a3391bb9a178295f619c3e92ba9bc177225c392d90ac9f4ab5702c4140d6e51", 911612),
    "neutral_black": ("8e1da39bf32818c14156f4de32ef6a35f701e1737540dafb02bdf8eb03206a6b", 853769),
    "neutral_chinese": ("aad50dde2f68d75804e44b939a700b8e37ef93a152cae1a045f8881f89c7e982", 408062),
    "neutral_immigrant": ("1807799ed9e45c428792da879f83d874e3f589c63b6fd746716fafe2b117c3d4", 338243),
    "neutral_jewish": ("c804dc98c4a7d90105a9848a66cde4eb05db9a63a8d2668387e46bba90c28380", 645674),
    "neutral_latino": ("7fad9d0003e54e5f18c1dafb7e21b2295dae5bb7290e9c649eadb7a450b80957", 466000),
    "neutral_lgbtq": ("7cefb606353cfff8c9ee4af9b2044f039e698dc8117b7c9414dd02dedca51ba9", 910319),
    "neutral_mental_disability": ("8f513551d7c86c3fd6df5d0a4bb8fd831c45c24d917d69ab3a61f1a984edf3d0", 552905),
    "neutral_mexican": ("e16aaa8a4606b3bf08139b9c91067cb63d620dd5a3a94e63b8ebc3f4198b1597", 479603),
    "neutral_middle_east": ("a4f23dfbe5bd0dec6a2018b2fe1ca9805d2a7ca76791da5300c72e6bcdabcdf9", 411319),
    "neutral_muslim": ("d378bc96f388cef1be42954246b67955dfe3d42cfcbf2ffc2924856c2fb933cd", 487659),
    "neutral_native_american": ("8affc8490fb2fac8ad72041cce775fc9442ebea95a64a7a2274825e1231ef265", 582993),
    "neutral_physical_disability": ("30ae4d6774054136a635cd9097dd4fe530ec2f407932f775e8093afa795cff8e", 454497),
    "neutral_women": ("dfad74fee637cd35415fc9b3a0b8d27d799e5613da5d9be0fdf93774fe813208", 390963),
}

_BOLD = {
    "gender": ("a863aaf2492e3c911c39f435005abee2eba5f5edabe836e97de110cd83273054", 197705),
    "political_ideology": ("a83ea7cc272971b618231e13bcb5c1d1be5b208c92135c4ffde85be31f8ab4c6", 116434),
    "profession": ("5508012069f20419559417e64d8bb2b8d864ebf8afedd21e5ca564393c291794", 510740),
    "race": ("200337f6c43b09671e580b1df6aea2cdc0196ee02779260e9881da07029e1cb6", 444732),
    "religious_ideology": ("633830ea87d569e5476895a93f68b8f686cb0dcae6d67a1091a9247c5c4c931d", 33223),
}

# XSTest: the repository was renamed paul-rottger/exaggerated-safety -> paul-rottger/xstest; d7bb5bd738c1...
# is the full commit that public pins of xstest_prompts.csv (sha256 11783fb2...) name.
_XSTEST_COMMIT = "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d"
# The dataset's own Hugging Face repository serves byte-identical prompts at this revision
# (sha256 11783fb2... pinned there by independent public projects).
_XSTEST_HF_PROMPTS = (
    "https://huggingface.co/datasets/Paul/XSTest/resolve/f600c994b256f12867dfa5b3eb3d545a3e62f8b5/xstest_prompts.csv"
)
_XSTEST = {
    "xstest_prompts.csv": (
        "xstest_prompts.csv",
        "11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a",
        38719,
    ),
    "completions_gpt4.csv": (
        "model_completions/xstest_v2_completions_gpt4.csv",
        "71af323af8ecdec0efae23992317721441d2cfedddedeef3248f842f4e15c9ca",
        259111,
    ),
    "completions_llama2new.csv": (
        "model_completions/xstest_v2_completions_llama2new.csv",
        "6365cc55ce0a593c7ab8785853d02784be027d97199d4077912b4313cd010099",
        517476,
    ),
    "completions_llama2orig.csv": (
        "model_completions/xstest_v2_completions_llama2orig.csv",
        "cbc52550e8ba8197a3e3d97a5af078d27bae4766737cd62df80270126a87ffc6",
        470900,
    ),
    "completions_mistralguard.csv": (
        "model_completions/xstest_v2_completions_mistralguard.csv",
        "0ac03817b65e019a8f5b4b3eed805086f9f7fafe538ac9ebd156f80210af6903",
        303726,
    ),
    "completions_mistralinstruct.csv": (
        "model_completions/xstest_v2_completions_mistralinstruct.csv",
        "6a146b65a5b96ec8249729bc2db459697175125998d7cbbcc88f7688ecf31dad",
        371935,
    ),
}

_RESPONSIBLE_NLP_COMMIT = "0ec714eb084217f44cd9ac466d9e988c795302f9"

_TQA_CITATION = "Lin, Hilton, Evans. TruthfulQA: Measuring How Models Mimic Human Falsehoods. ACL 2022."

DATASETS: dict[str, DatasetInfo] = {
    d.id: d
    for d in [
        DatasetInfo(
            id="truthfulqa",
            version="v0-2021",
            description="TruthfulQA, the original 817 questions in 38 categories (the version the Llama 2 "
            "paper used), and the multiple-choice targets behind lm-evaluation-harness' "
            "truthfulqa_mc1/mc2.",
            repo="sylinrl/TruthfulQA",
            commit=_TQA_ORIGINAL,
            license="Apache-2.0",
            citation=_TQA_CITATION,
            files=(
                DataFile(
                    "truthfulqa/TruthfulQA.csv",
                    "8d7dd15f033196140f032d97d30f037da7a7b1192c3f36f9937c1850925335a2",
                    "TruthfulQA.csv",
                    443723,
                ),
                DataFile(
                    "truthfulqa/mc_task.json",
                    "6eb4125d25750c0145c4be2dce00440736684ab6f74ce6bff2139571cc758954",
                    "data/mc_task.json",
                    710607,
                ),
                _TQA_LICENSE,
            ),
            notes="Commit, paths and the sha256 of both data files are confirmed by the Hugging Face "
            "`truthful_qa` loader (huggingface/datasets datasets/truthful_qa/truthful_qa.py and "
            "dataset_infos.json download_checksums). Do not use `main`: there the CSV moved to "
            "data/v0/TruthfulQA.csv with different bytes, and data/mc_task.json is the 2025 file. "
            "The LICENSE hash is that of the reference mirror (standard Apache-2.0 text); not "
            "independently confirmed at this commit.",
            extra_urls={
                "home": "https://github.com/sylinrl/TruthfulQA",
                "paper": "https://aclanthology.org/2022.acl-long.229",
            },
        ),
        DatasetInfo(
            id="truthfulqa-2025",
            version="2025-01",
            description="TruthfulQA's January 2025 revision (790 questions, adds 'Best Incorrect Answer'). "
            "Not the paper's version.",
            repo="sylinrl/TruthfulQA",
            commit=_TQA_2025,
            license="Apache-2.0",
            citation=_TQA_CITATION + " (January 2025 revision)",
            files=(
                DataFile(
                    "truthfulqa/TruthfulQA-2025.csv",
                    "b8d8ef1e12f98b4f2a9f47abc9765da0640b182b6c5d9b92f0c1a1f2f1e02e5c",
                    "TruthfulQA.csv",
                    503550,
                ),
                _TQA_LICENSE,
            ),
            notes="Commit f6be04e5 (2025-01-15 revision) with TruthfulQA.csv sha256 b8d8ef1e... is pinned "
            "by several independent public projects; the same bytes are served at "
            "d71c110897f5d31c5d7f309e7bc316c152f6f031.",
            extra_urls={"home": "https://github.com/sylinrl/TruthfulQA"},
        ),
        DatasetInfo(
            id="truthfulqa-judge-labels",
            version="v0-2021",
            description="Human truthfulness and informativeness labels (22,114 answers each) used to train "
            "GPT-judge and GPT-info; used here to train and validate judges.",
            repo="sylinrl/TruthfulQA",
            commit=_TQA_ORIGINAL,
            license="Apache-2.0",
            citation=_TQA_CITATION,
            files=(
                DataFile(
                    "truthfulqa/finetune_truth.jsonl",
                    "082604fe1344df05bd496d37826220da5277ad3edbe3188dce9a3f5a9c84f526",
                    "data/finetune_truth.jsonl",
                    3512498,
                ),
                DataFile(
                    "truthfulqa/finetune_info.jsonl",
                    "c622c34f6f61563759a145c9e9807f18760cf97a402fd53e73b9e8a94c517139",
                    "data/finetune_info.jsonl",
                    3587358,
                ),
                _TQA_LICENSE,
            ),
            notes="UNCONFIRMED COMMIT: no public record ties these 22,114-line files to a commit. The "
            "commit is the original-release commit used for the questions (013686a0); whether these "
            "exact bytes are served there has not been checked. `main` is known to be wrong: it now "
            "holds revised 22,434-line files (sha256 9fd94fc9... and 5956ef20... at d71c1108). If a "
            "fetch fails, import a verified copy with `safetylens data import DIR`.",
            extra_urls={"home": "https://github.com/sylinrl/TruthfulQA"},
        ),
        DatasetInfo(
            id="toxigen-safenlp",
            version="e351b6c",
            description="The revised ToxiGen set of Hosseini et al. 2023 used by the Llama 2 paper: 6,514 "
            "human-annotated sentences over the paper's 13 groups.",
            repo="microsoft/SafeNLP",
            commit=_SAFENLP_COMMIT,
            license="MIT AND CDLA-Permissive-2.0",
            citation="Hosseini, Palangi, Awadallah. An Empirical Study of Metrics to Measure Representational "
            "Harms in Pre-Trained Language Models. TrustNLP 2023.",
            files=(
                DataFile(
                    "safenlp/toxiGen.json",
                    "42863b997f545833b8c9bfe7fc950aeaccc274d49f7386384db147face745fc3",
                    "data/toxiGen.json",
                    1661792,
                ),
                *_SAFENLP_LICENSES,
            ),
            notes="Commit and hash from the reference mirror. The sentences derive from ToxiGen, whose "
            "terms (MIT + CDLA-Permissive-2.0) are shipped as safenlp/TOXIGEN_LICENSE, taken from "
            f"microsoft/TOXIGEN@{_TOXIGEN_COMMIT}:LICENSE.txt.",
            extra_urls={"home": "https://github.com/microsoft/SafeNLP"},
        ),
        DatasetInfo(
            id="implicithate-safenlp",
            version="e351b6c",
            description="ImplicitHate subset (14,200 sentences, hate/neutral), balanced; training data for "
            "the offline toxicity classifier.",
            repo="microsoft/SafeNLP",
            commit=_SAFENLP_COMMIT,
            license="MIT",
            citation="ElSherief et al. Latent Hatred: A Benchmark for Understanding Implicit Hate Speech. "
            "EMNLP 2021; subset by Hosseini et al. 2023.",
            files=(
                DataFile(
                    "safenlp/implicitHate.json",
                    "119771b0b5332de9922a180eec11ca83b303b6acfccbc358ea1a3f4c08125320",
                    "data/implicitHate.json",
                    3394950,
                ),
                *_SAFENLP_LICENSES,
            ),
            notes="Commit and hash from the reference mirror.",
            extra_urls={"home": "https://github.com/microsoft/SafeNLP"},
        ),
        DatasetInfo(
            id="toxigen-prompts",
            version="01517e8",
            description="The original ToxiGen generation prompts: 31 files of 1,000 list prompts, 16 groups.",
            repo="microsoft/TOXIGEN",
            commit=_TOXIGEN_COMMIT,
            license="MIT AND CDLA-Permissive-2.0",
            citation="Hartvigsen et al. ToxiGen: A Large-Scale Machine-Generated Dataset for Adversarial and "
            "Implicit Hate Speech Detection. ACL 2022.",
            files=(
                *(
                    DataFile(f"toxigen/{k}_1k.txt", sha, f"prompts/{k}_1k.txt", size)
                    for k, (sha, size) in sorted(_TOXIGEN_PROMPTS.items())
                ),
                DataFile(
                    "toxigen/LICENSE.txt",
                    "56f1dd6be56e0afd33c2c070fa73448fb0eddcbcd60a55a53a8a26a0f6b4c205",
                    "LICENSE.txt",
                    3539,
                    "license",
                ),
            ),
            notes="Commit and hashes from the reference mirror.",
            extra_urls={"home": "https://github.com/microsoft/TOXIGEN"},
        ),
        DatasetInfo(
            id="bold",
            version="3ad652c",
            description="BOLD prompts: 23,679 Wikipedia prompts, 5 domains, 43 subgroups.",
            repo="amazon-science/bold",
            commit="3ad652c773f5d1e30d5f6f61657ed934d768ecad",
            license="CC-BY-SA-4.0",
            citation="Dhamala et al. BOLD: Dataset and Metrics for Measuring Biases in Open-Ended Language "
            "Generation. FAccT 2021.",
            files=(
                *(
                    DataFile(f"bold/{name}_prompt.json", sha, f"prompts/{name}_prompt.json", size)
                    for name, (sha, size) in _BOLD.items()
                ),
                DataFile(
                    "bold/LICENSE.md",
                    "b8019c123e9f9b6c3c677f1b37ac0cc0a652535a5c15ec68ba324c09e476f5d4",
                    "LICENSE.md",
                    18363,
                    "license",
                ),
            ),
            notes="Commit and hashes from the reference mirror.",
            extra_urls={"home": "https://github.com/amazon-science/bold"},
        ),
        DatasetInfo(
            id="xstest",
            version="v2-d7bb5bd",
            description="XSTest: 450 prompts (250 safe, 200 unsafe contrasts) and five models' completions "
            "labelled by two annotators each.",
            repo="paul-rottger/xstest",
            commit=_XSTEST_COMMIT,
            license="CC-BY-4.0 (prompts); completions under the model providers' terms (Meta, Mistral, OpenAI)",
            citation="Röttger et al. XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in "
            "Large Language Models. NAACL 2024.",
            files=(
                *(
                    DataFile(
                        f"xstest/{k}",
                        sha,
                        src,
                        size,
                        alt_urls=(_XSTEST_HF_PROMPTS,) if k == "xstest_prompts.csv" else (),
                    )
                    for k, (src, sha, size) in sorted(_XSTEST.items())
                ),
                DataFile(
                    "xstest/LICENSE",
                    "9e5f1b3c610b9c2da5c313bf81d577a7d1acec686bdb0384edefa6df0f90cd94",
                    "LICENSE",
                    18656,
                    "license",
                ),
            ),
            notes="Repository renamed from paul-rottger/exaggerated-safety. The full commit d7bb5bd738c1... "
            "and the prompts' sha256 are pinned by several independent public projects (the same prompt "
            "bytes are at 475f10bf0a3d6a9dfb174b6de1a38afbfdff98a5 and on the Hugging Face mirror "
            "Paul/XSTest@f600c994). The five completion files match, in size and content, the "
            "model_completions/ files of a3bb396ddc1939c6f264f17b7cf5b7a5d82833de; their hashes are the "
            "reference mirror's. The README states the completions are under the original model "
            "licenses (Meta, Mistral, OpenAI), the prompts under CC-BY-4.0.",
            extra_urls={
                "home": "https://github.com/paul-rottger/xstest",
                "huggingface": "https://huggingface.co/datasets/Paul/XSTest",
            },
        ),
        DatasetInfo(
            id="holistic-bias",
            version="v1.1",
            description="HolisticBias identity descriptors by axis (v1.0 and v1.1).",
            repo="facebookresearch/ResponsibleNLP",
            commit=_RESPONSIBLE_NLP_COMMIT,
            license="CC-BY-SA-4.0",
            citation='Smith et al. "I\'m sorry to hear that": Finding New Biases in Language Models with a '
            "Holistic Descriptor Dataset. EMNLP 2022.",
            files=(
                DataFile(
                    "holistic_bias/descriptors-v1.0.json",
                    "355ba8039d83f4b387b6f069ea9cb2374c1c5d2abceb2e99a41e9cab664a90ec",
                    "holistic_bias/dataset/v1.0/descriptors.json",
                    21207,
                ),
                DataFile(
                    "holistic_bias/descriptors-v1.1.json",
                    "c1328f0edfdeefb76302d360a01878df3db55f18026f4ea1956b4a0f52daf943",
                    "holistic_bias/dataset/v1.1/descriptors.json",
                    23463,
                ),
                DataFile(
                    "holistic_bias/LICENSE",
                    "c63b9edcd75cb86ba7a5511ebd69fe905775ac2fe9d08b16d81b2e7a72afb5b6",
                    "LICENSE",
                    19750,
                    "license",
                ),
            ),
            notes="Full commit 0ec714eb084217f4... as cited by several public projects pinning HolisticBias "
            "v1.1. The repository LICENSE puts the HolisticBias dataset under CC-BY-SA-4.0 and the code "
            "under MIT. v1.0 descriptors match, in content, the earlier holistic_bias/dataset/descriptors.json "
            "(e1c45df8); v1.1 matches dataset/v1.1/descriptors.json of c929b965. Hashes are the reference "
            "mirror's.",
            extra_urls={
                "home": "https://github.com/facebookresearch/ResponsibleNLP/tree/main/holistic_bias",
                "paper": "https://arxiv.org/abs/2205.09209",
            },
        ),
    ]
}


def get_dataset(dataset_id: str) -> DatasetInfo:
    """Look up a registered data set.

    Raises:
        DataError: Unknown id (the message lists the known ones).
    """
    if dataset_id not in DATASETS:
        raise DataError(f"unknown data set {dataset_id!r}", hint=f"known data sets: {', '.join(sorted(DATASETS))}")
    return DATASETS[dataset_id]


class DataStore:
    """Verified access to data files.

    Args:
        roots: Directories to search, in order. Default: ``SAFETYLENS_DATA_DIR`` (if set), then the
            cache's data directory.
    """

    def __init__(self, roots: list[Path] | None = None) -> None:
        if roots is None:
            roots = default_roots()
        self.roots = roots
        self._verified: dict[tuple[str, int, int], str] = {}

    def hash_of(self, path: Path) -> str:
        """sha256 of a file, memoised by (resolved path, size, mtime) so repeated checks are free."""
        st = path.stat()
        memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if memo not in self._verified:
            self._verified[memo] = sha256_file(path)
        return self._verified[memo]

    # Kept for callers of the original private name.
    _hash = hash_of

    def locate(self, f: DataFile) -> Path | None:
        """First existing copy of a file under the roots, unverified."""
        for root in self.roots:
            candidate = root / f.path
            if candidate.is_file():
                return candidate
        return None

    def path(self, dataset_id: str, file: str) -> Path:
        """Verified path of one file of a data set.

        The roots are searched in order and the first copy whose sha256 matches is returned, so a
        corrupt copy in ``SAFETYLENS_DATA_DIR`` does not hide a good one in the cache.

        Args:
            dataset_id: Registered id, e.g. ``"bold"``.
            file: The file's path in the reference layout, or its bare name.

        Raises:
            DataError: The file is missing everywhere, or every copy's sha256 differs from the pinned one.
        """
        info = get_dataset(dataset_id)
        f = info.file(file)
        bad: list[tuple[Path, str]] = []
        for root in self.roots:
            candidate = root / f.path
            if not candidate.is_file():
                continue
            actual = self.hash_of(candidate)
            if actual == f.sha256:
                return candidate
            bad.append((candidate, actual))
        if bad:
            found, actual = bad[0]
            more = "".join(f"; {p}: got {h}" for p, h in bad[1:])
            raise DataError(
                f"checksum mismatch for {found}: expected sha256 {f.sha256}, got {actual}{more}",
                hint=f"the file is corrupt or a different version; delete it and run `safetylens data fetch "
                f"{dataset_id}` (or import a verified copy with `safetylens data import DIR`)",
            )
        searched = ", ".join(str(r) for r in self.roots) or "(no data directories)"
        raise DataError(
            f"data file {f.path} of data set {dataset_id!r} not found (searched: {searched})",
            hint=f"run `safetylens data fetch {dataset_id}`, or `safetylens data import DIR` with a local "
            "copy, or set SAFETYLENS_DATA_DIR to a directory that holds it",
        )

    def verify(self, dataset_id: str) -> DatasetRecord:
        """Verify every data file of a data set and return its record for the manifest.

        License files are not required for a run and are not recorded.

        Raises:
            DataError: A file is missing or corrupt.
        """
        info = get_dataset(dataset_id)
        hashes = {f.path: self.hash_of(self.path(dataset_id, f.path)) for f in info.data_files}
        return DatasetRecord(
            id=info.id,
            version=info.version,
            files=hashes,
            source=f"{info.repo}@{info.commit}",
            license=info.license,
            citation=info.citation,
        )


def default_roots() -> list[Path]:
    """The data directories searched by default: ``SAFETYLENS_DATA_DIR`` (if set), then the cache."""
    return [p for p in (paths.user_data_dir(), paths.data_cache_dir()) if p is not None]
