"""Registry of the pinned public data sets, and verified access to their files.

Each :class:`DatasetInfo` names its files with their sha256, the repository and commit they come
from, the license and the citation. :class:`DataStore` finds a file in ``SAFETYLENS_DATA_DIR`` (a
directory laid out like the reference mirror, e.g. ``truthfulqa/TruthfulQA.csv``) or in the
cache (``$SAFETYLENS_HOME/data``, filled by ``safetylens data fetch`` / ``data import``), and
verifies its hash before anything reads it: a mismatch or a missing file stops the run before any
model call, with a message that names the file, both hashes and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from safetylens import paths
from safetylens.errors import DataError
from safetylens.spec import DatasetRecord
from safetylens.util import sha256_file

GITHUB_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class DataFile:
    """One file of a data set.

    Attributes:
        path: Path inside the data directory (the reference layout), e.g. ``bold/race_prompt.json``.
        sha256: Expected hash of the file's bytes.
        source_path: Path of the file in its source repository.
    """

    path: str
    sha256: str
    source_path: str


@dataclass(frozen=True)
class DatasetInfo:
    """A pinned data set."""

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

    def url(self, f: DataFile, mirror: str | None = None) -> str:
        """Download URL of a file: GitHub raw at the pinned commit, or the same path under ``mirror``."""
        base = (mirror or GITHUB_RAW).rstrip("/")
        return f"{base}/{self.repo}/{self.commit}/{f.source_path}"

    def file(self, path: str) -> DataFile:
        """The registered file with this path (or bare file name).

        Raises:
            DataError: The data set has no such file.
        """
        for f in self.files:
            if f.path == path or f.path.rsplit("/", 1)[-1] == path:
                return f
        raise DataError(
            f"data set {self.id!r} has no file {path!r}", hint=f"its files: {', '.join(f.path for f in self.files)}"
        )


_TOXIGEN_PROMPTS = {
    "hate_asian": "0504967034122b691c16dbef10db3acb16492808ecc66d8cd2b2ae87454fd655",
    "hate_bisexual": "09a5b6995d0cd0ba940ae9f9d67e8db1451352dcf99ee273315efc34915fc1e3",
    "hate_black": "29ef85c5610d77a3a4bb050826ffb6e124ee48e11f5b63d34b29d616ef2ee1c3",
    "hate_chinese": "7f99029bad4f71caff707787d6799d1d654fee140f22418691d1244e81ed2b21",
    "hate_immigrant": "bebb38d8786f498ca2153f965cdfba14e0490d5216781091106e5ac8ebbe0574",
    "hate_jewish": "f5bdf83ef8fd32435241cc5fcfc337c0a57bcf64eb7fb4aa3c8fe15eb86f1fd2",
    "hate_latino": "60988864d728cc7b1644a72419181efc1d82b2342f636a5e76f34805e4a88537",
    "hate_lgbtq": "7fb7da0d4ad1a485824111ab60f6030f01dd92dbc9342c76534c78faec061a16",
    "hate_mental_disability": "5a71f51bf998c5111b5dd6d0b7d7edbaa445f27defbc1fdb798dd920974ad3e2",
    "hate_mexican": "2fad743ced369e4a280165b7ea909f8cb30921840cbe5f9f454243cf9e4dcfd5",
    "hate_middle_east": "29ffcca6defd3e4f2edd2237417c7617a3c7380de8f9c6cf13d8c087fa595223",
    "hate_muslim": "aaa18a9bf72928f71cf3d0d8d4dfa298faeb015a8580f5c7e21ef7afaae3241a",
    "hate_native_american": "01c2077f1007268ca11588d08f909ed9c01178148205ae417618d276227b9bbc",
    "hate_physical_disability": "8cada46239a52a741faf47677d1ffbfa06dc31d3e480a03935a5aec89ea02dee",
    "hate_trans": "6188dfd52082e552230a1332e2bf83a23e8410c5f353d32dca79f259c8daf8b8",
    "hate_women": "eecdf3006847c267b9399045ce2fe002f884fe5b682dbef450f3477d7bb24497",
    "neutral_asian": "a5f0c58ae51dc8771d1779009ffc3017c5071c529b01f260600fa96c164ceb44",
    "neutral_bisexual": "8a3391bb9a178295f619c3e92ba9bc177225c392d90ac9f4ab5702c4140d6e51",
    "neutral_black": "8e1da39bf32818c14156f4de32ef6a35f701e1737540dafb02bdf8eb03206a6b",
    "neutral_chinese": "aad50dde2f68d75804e44b939a700b8e37ef93a152cae1a045f8881f89c7e982",
    "neutral_immigrant": "1807799ed9e45c428792da879f83d874e3f589c63b6fd746716fafe2b117c3d4",
    "neutral_jewish": "c804dc98c4a7d90105a9848a66cde4eb05db9a63a8d2668387e46bba90c28380",
    "neutral_latino": "7fad9d0003e54e5f18c1dafb7e21b2295dae5bb7290e9c649eadb7a450b80957",
    "neutral_lgbtq": "7cefb606353cfff8c9ee4af9b2044f039e698dc8117b7c9414dd02dedca51ba9",
    "neutral_mental_disability": "8f513551d7c86c3fd6df5d0a4bb8fd831c45c24d917d69ab3a61f1a984edf3d0",
    "neutral_mexican": "e16aaa8a4606b3bf08139b9c91067cb63d620dd5a3a94e63b8ebc3f4198b1597",
    "neutral_middle_east": "a4f23dfbe5bd0dec6a2018b2fe1ca9805d2a7ca76791da5300c72e6bcdabcdf9",
    "neutral_muslim": "d378bc96f388cef1be42954246b67955dfe3d42cfcbf2ffc2924856c2fb933cd",
    "neutral_native_american": "8affc8490fb2fac8ad72041cce775fc9442ebea95a64a7a2274825e1231ef265",
    "neutral_physical_disability": "30ae4d6774054136a635cd9097dd4fe530ec2f407932f775e8093afa795cff8e",
    "neutral_women": "dfad74fee637cd35415fc9b3a0b8d27d799e5613da5d9be0fdf93774fe813208",
}

_XSTEST = {
    "xstest_prompts.csv": ("xstest_prompts.csv", "11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a"),
    "completions_gpt4.csv": (
        "model_completions/xstest_v2_completions_gpt4.csv",
        "71af323af8ecdec0efae23992317721441d2cfedddedeef3248f842f4e15c9ca",
    ),
    "completions_llama2new.csv": (
        "model_completions/xstest_v2_completions_llama2new.csv",
        "6365cc55ce0a593c7ab8785853d02784be027d97199d4077912b4313cd010099",
    ),
    "completions_llama2orig.csv": (
        "model_completions/xstest_v2_completions_llama2orig.csv",
        "cbc52550e8ba8197a3e3d97a5af078d27bae4766737cd62df80270126a87ffc6",
    ),
    "completions_mistralguard.csv": (
        "model_completions/xstest_v2_completions_mistralguard.csv",
        "0ac03817b65e019a8f5b4b3eed805086f9f7fafe538ac9ebd156f80210af6903",
    ),
    "completions_mistralinstruct.csv": (
        "model_completions/xstest_v2_completions_mistralinstruct.csv",
        "6a146b65a5b96ec8249729bc2db459697175125998d7cbbcc88f7688ecf31dad",
    ),
}

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
            commit="main",
            license="Apache-2.0",
            citation="Lin, Hilton, Evans. TruthfulQA: Measuring How Models Mimic Human Falsehoods. ACL 2022.",
            files=(
                DataFile(
                    "truthfulqa/TruthfulQA.csv",
                    "8d7dd15f033196140f032d97d30f037da7a7b1192c3f36f9937c1850925335a2",
                    "data/v0/TruthfulQA.csv",
                ),
                DataFile(
                    "truthfulqa/mc_task.json",
                    "6eb4125d25750c0145c4be2dce00440736684ab6f74ce6bff2139571cc758954",
                    "data/mc_task.json",
                ),
            ),
        ),
        DatasetInfo(
            id="truthfulqa-2025",
            version="2025-01",
            description="TruthfulQA's January 2025 revision (790 questions, adds 'Best Incorrect Answer'). "
            "Not the paper's version.",
            repo="sylinrl/TruthfulQA",
            commit="main",
            license="Apache-2.0",
            citation="Lin, Hilton, Evans. TruthfulQA. ACL 2022 (2025 revision).",
            files=(
                DataFile(
                    "truthfulqa/TruthfulQA-2025.csv",
                    "b8d8ef1e12f98b4f2a9f47abc9765da0640b182b6c5d9b92f0c1a1f2f1e02e5c",
                    "TruthfulQA.csv",
                ),
            ),
        ),
        DatasetInfo(
            id="truthfulqa-judge-labels",
            version="v0-2021",
            description="Human truthfulness and informativeness labels (22,114 answers each) used to train "
            "GPT-judge and GPT-info; used here to train and validate judges.",
            repo="sylinrl/TruthfulQA",
            commit="main",
            license="Apache-2.0",
            citation="Lin, Hilton, Evans. TruthfulQA. ACL 2022.",
            files=(
                DataFile(
                    "truthfulqa/finetune_truth.jsonl",
                    "082604fe1344df05bd496d37826220da5277ad3edbe3188dce9a3f5a9c84f526",
                    "data/finetune_truth.jsonl",
                ),
                DataFile(
                    "truthfulqa/finetune_info.jsonl",
                    "c622c34f6f61563759a145c9e9807f18760cf97a402fd53e73b9e8a94c517139",
                    "data/finetune_info.jsonl",
                ),
            ),
        ),
        DatasetInfo(
            id="toxigen-safenlp",
            version="e351b6c",
            description="The revised ToxiGen set of Hosseini et al. 2023 used by the Llama 2 paper: 6,514 "
            "human-annotated sentences over the paper's 13 groups.",
            repo="microsoft/SafeNLP",
            commit="e351b6cb892284cf843b88e363b1a6dbaded584e",
            license="MIT",
            citation="Hosseini, Palangi, Awadallah. An Empirical Study of Metrics to Measure Representational "
            "Harms in Pre-Trained Language Models. TrustNLP 2023.",
            files=(
                DataFile(
                    "safenlp/toxiGen.json",
                    "42863b997f545833b8c9bfe7fc950aeaccc274d49f7386384db147face745fc3",
                    "data/toxiGen.json",
                ),
            ),
        ),
        DatasetInfo(
            id="implicithate-safenlp",
            version="e351b6c",
            description="ImplicitHate subset (14,200 sentences, hate/neutral), balanced; training data for "
            "the offline toxicity classifier.",
            repo="microsoft/SafeNLP",
            commit="e351b6cb892284cf843b88e363b1a6dbaded584e",
            license="MIT",
            citation="ElSherief et al. Latent Hatred: A Benchmark for Understanding Implicit Hate Speech. "
            "EMNLP 2021; subset by Hosseini et al. 2023.",
            files=(
                DataFile(
                    "safenlp/implicitHate.json",
                    "119771b0b5332de9922a180eec11ca83b303b6acfccbc358ea1a3f4c08125320",
                    "data/implicitHate.json",
                ),
            ),
        ),
        DatasetInfo(
            id="toxigen-prompts",
            version="01517e8",
            description="The original ToxiGen generation prompts: 31 files of 1,000 list prompts, 16 groups.",
            repo="microsoft/TOXIGEN",
            commit="01517e814639e0334c920a3c502036c8158aac87",
            license="MIT",
            citation="Hartvigsen et al. ToxiGen: A Large-Scale Machine-Generated Dataset for Adversarial and "
            "Implicit Hate Speech Detection. ACL 2022.",
            files=tuple(
                DataFile(f"toxigen/{k}_1k.txt", v, f"prompts/{k}_1k.txt") for k, v in sorted(_TOXIGEN_PROMPTS.items())
            ),
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
            files=tuple(
                DataFile(f"bold/{name}_prompt.json", sha, f"prompts/{name}_prompt.json")
                for name, sha in [
                    ("gender", "a863aaf2492e3c911c39f435005abee2eba5f5edabe836e97de110cd83273054"),
                    ("political_ideology", "a83ea7cc272971b618231e13bcb5c1d1be5b208c92135c4ffde85be31f8ab4c6"),
                    ("profession", "5508012069f20419559417e64d8bb2b8d864ebf8afedd21e5ca564393c291794"),
                    ("race", "200337f6c43b09671e580b1df6aea2cdc0196ee02779260e9881da07029e1cb6"),
                    ("religious_ideology", "633830ea87d569e5476895a93f68b8f686cb0dcae6d67a1091a9247c5c4c931d"),
                ]
            ),
        ),
        DatasetInfo(
            id="xstest",
            version="v2-d7bb5bd",
            description="XSTest: 450 prompts (250 safe, 200 unsafe contrasts) and five models' completions "
            "labelled by two annotators each.",
            repo="paul-rottger/exaggerated-safety",
            commit="d7bb5bd",
            license="CC-BY-4.0",
            citation="Röttger et al. XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in "
            "Large Language Models. NAACL 2024.",
            files=tuple(DataFile(f"xstest/{k}", sha, src) for k, (src, sha) in sorted(_XSTEST.items())),
        ),
        DatasetInfo(
            id="holistic-bias",
            version="v1.1",
            description="HolisticBias identity descriptors by axis (v1.0 and v1.1).",
            repo="facebookresearch/ResponsibleNLP",
            commit="0ec714eb",
            license="MIT",
            citation='Smith et al. "I\'m sorry to hear that": Finding New Biases in Language Models with a '
            "Holistic Descriptor Dataset. EMNLP 2022.",
            files=(
                DataFile(
                    "holistic_bias/descriptors-v1.0.json",
                    "355ba8039d83f4b387b6f069ea9cb2374c1c5d2abceb2e99a41e9cab664a90ec",
                    "holistic_bias/dataset/v1.0/descriptors.json",
                ),
                DataFile(
                    "holistic_bias/descriptors-v1.1.json",
                    "c1328f0edfdeefb76302d360a01878df3db55f18026f4ea1956b4a0f52daf943",
                    "holistic_bias/dataset/v1.1/descriptors.json",
                ),
            ),
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
        roots: Directories to search, first match wins. Default: ``SAFETYLENS_DATA_DIR`` (if set),
            then the cache's data directory.
    """

    def __init__(self, roots: list[Path] | None = None) -> None:
        if roots is None:
            roots = [p for p in (paths.user_data_dir(), paths.data_cache_dir()) if p is not None]
        self.roots = roots
        self._verified: dict[tuple[str, int, int], str] = {}

    def _hash(self, path: Path) -> str:
        st = path.stat()
        memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if memo not in self._verified:
            self._verified[memo] = sha256_file(path)
        return self._verified[memo]

    def locate(self, f: DataFile) -> Path | None:
        """First existing copy of a file under the roots, unverified."""
        for root in self.roots:
            candidate = root / f.path
            if candidate.is_file():
                return candidate
        return None

    def path(self, dataset_id: str, file: str) -> Path:
        """Verified path of one file of a data set.

        Args:
            dataset_id: Registered id, e.g. ``"bold"``.
            file: The file's path in the reference layout, or its bare name.

        Raises:
            DataError: The file is missing or its sha256 differs from the pinned one.
        """
        info = get_dataset(dataset_id)
        f = info.file(file)
        found = self.locate(f)
        if found is None:
            searched = ", ".join(str(r) for r in self.roots) or "(no data directories)"
            raise DataError(
                f"data file {f.path} of data set {dataset_id!r} not found (searched: {searched})",
                hint=f"run `safetylens data fetch {dataset_id}`, or `safetylens data import DIR` with a local "
                "copy, or set SAFETYLENS_DATA_DIR to a directory that holds it",
            )
        actual = self._hash(found)
        if actual != f.sha256:
            raise DataError(
                f"checksum mismatch for {found}: expected sha256 {f.sha256}, got {actual}",
                hint=f"the file is corrupt or a different version; delete it and run `safetylens data fetch "
                f"{dataset_id}` (or import a verified copy)",
            )
        return found

    def verify(self, dataset_id: str) -> DatasetRecord:
        """Verify every file of a data set and return its record for the manifest.

        Raises:
            DataError: A file is missing or corrupt.
        """
        info = get_dataset(dataset_id)
        hashes = {f.path: self._hash(self.path(dataset_id, f.path)) for f in info.files}
        return DatasetRecord(
            id=info.id,
            version=info.version,
            files=hashes,
            source=f"{info.repo}@{info.commit}",
            license=info.license,
            citation=info.citation,
        )
