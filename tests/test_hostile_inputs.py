"""Bad and hostile input (issue 9, item 7): one sentence naming the input, exit code 2, nothing saved is touched.

Damaged study databases, a study name taken by another search space, hand-edited genome
files, YAML with Python tags and malicious pickles, each given to the CLIs in-process. Every
case checks the same contract: return code 2, exactly one line on stderr that names the input,
no traceback, a payload that never runs, and the files of earlier runs byte for byte as before.
Searches use the ``toy`` evaluator, so the whole module runs in seconds.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import pickle
import random
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

import search_spaces as ss
from nas import evaluate, info
from nas.data.idx import read_idx
from nas.data.sources import open_dataset
from nas.latency.lut import LatencyTable
from nas.search.cli import main as search_main
from scaling import compound_cli, stagewise_cli
from search_spaces.errors import GenomeError, UserInputError
from tests import toy  # noqa: F401  (registers the toy evaluator)

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nas", "search_spaces", "scaling", "experiments", "benchmarks")
STUDY = "mbconv-flops-tpe"
Cli = Callable[[Sequence[str] | None], int]


def _search(out: Path, *extra: str, space: str = "mbconv") -> int:
    return search_main(["--space", space, "--budget", "400M", "--reward", "flops", "--evaluator", "toy",
                        "--trials", "3", "--out", str(out), "--quiet", "--no-plots", *extra])


def _grid(out: Path, *extra: str) -> int:
    return compound_cli.main(["--base", "efficientnet_b0", "--grid", "--grid-range", "1.0:1.2", "--grid-step", "0.1",
                              "--evaluator", "toy", "--phi", "0-1", "--out", str(out), "--quiet", "--no-plots", *extra])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished toy search (``search/``), a grid study and its family (``grid/``), a family of the found genome."""
    root = tmp_path_factory.mktemp("runs")
    assert _search(root / "search") == 0
    assert _grid(root / "grid") == 0
    assert compound_cli.main(["--base", str(root / "search" / "found.yaml"), "--out", str(root / "family"),
                              "--phi", "0-1", "--no-plots"]) == 0
    for db in root.rglob("study.db"):  # everything into the database file itself, so a copy is complete
        with contextlib.closing(sqlite3.connect(db)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return root


@pytest.fixture
def run(runs: Path, tmp_path: Path) -> Path:
    """This test's own copy of :func:`runs` (a test may damage it)."""
    shutil.copytree(runs, tmp_path / "runs", ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    return tmp_path / "runs"


def digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``; SQLite's ``-shm`` index and an empty ``-wal`` are not content."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith("-shm") and not (p.name.endswith("-wal") and not p.stat().st_size)}


def one_sentence(code: int, capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    """Assert exit code 2 and one stderr line holding every ``expected`` text; return the line."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


# ---------------------------------------------------------------------- (a) damaged study databases


def _sql(statement: str) -> Callable[[Path], None]:
    def damage(db: Path) -> None:
        with contextlib.closing(sqlite3.connect(db)) as connection, connection:
            connection.execute(statement)
    return damage


def _overwrite(db: Path, offset: int, data: bytes) -> None:
    raw = bytearray(db.read_bytes())
    raw[offset:offset + len(data)] = data
    db.write_bytes(bytes(raw))


def _other_app(db: Path) -> None:
    db.unlink()
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated to half": lambda db: db.write_bytes(db.read_bytes()[:len(db.read_bytes()) // 2]),
    "truncated inside the header": lambda db: db.write_bytes(db.read_bytes()[:100]),
    "random bytes": lambda db: db.write_bytes(random.Random(0).randbytes(db.stat().st_size)),
    "a text file": lambda db: db.write_text("these are my notes\n"),
    "a page header overwritten": lambda db: _overwrite(db, 2 * 4096, b"\xab" * 16),  # page 3 of 4096 bytes
    "another program's database": _other_app,
    "a table dropped": _sql("DROP TABLE trial_values"),
    "a stored JSON value cut short": _sql("UPDATE study_user_attributes SET value_json = '{\"space\": ' "
                                          "WHERE key = 'config'"),
    "an unknown trial state": _sql("UPDATE trials SET state = 'BOGUS' WHERE trial_id = 1"),
    "text that is not UTF-8": _sql("UPDATE trial_params SET distribution_json = CAST(x'ff7b' AS TEXT) "
                                   "WHERE param_id = 1"),
    "a distribution that is not Optuna's": _sql("UPDATE trial_params SET distribution_json = '{}' WHERE param_id = 1"),
    "a number stored as text": _sql("UPDATE trial_values SET value = 'abc' WHERE trial_value_id = 1"),
}


@pytest.mark.parametrize("via", ["--out", "--storage"])
@pytest.mark.parametrize("damage", DAMAGE, ids=str)
def test_resuming_a_damaged_study_database_is_refused_in_one_sentence(
        run: Path, capsys: pytest.CaptureFixture[str], damage: str, via: str) -> None:
    db = run / "search" / "study.db"
    DAMAGE[damage](db)
    before = digest(run)
    out = run / "search" if via == "--out" else run / "elsewhere"
    extra = ["--storage", f"sqlite:///{db}"] if via == "--storage" else []
    one_sentence(_search(out, "--resume", *extra), capsys, str(db))
    assert digest(run) == before
    assert not (run / "elsewhere").exists() or not any((run / "elsewhere").iterdir())


@pytest.mark.parametrize("damage", ["truncated to half", "a page header overwritten", "a stored JSON value cut short"])
def test_resuming_a_damaged_grid_study_is_refused_in_one_sentence(
        run: Path, capsys: pytest.CaptureFixture[str], damage: str) -> None:
    db = run / "grid" / "grid" / "study.db"
    DAMAGE[damage](db)
    before = digest(run)
    one_sentence(_grid(run / "grid", "--resume"), capsys, str(db))
    assert digest(run) == before


def test_an_intact_study_still_resumes(run: Path) -> None:
    assert _search(run / "search", "--resume", "--trials", "4") == 0


# ---------------------------------------------------------------------- (b) a study name taken by another space


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
def test_a_study_name_taken_by_another_space_is_refused(
        run: Path, capsys: pytest.CaptureFixture[str], resume: bool) -> None:
    before = digest(run)
    code = _search(run / "search", "--study-name", STUDY, *(["--resume"] if resume else []), space="regnet")
    line = one_sentence(code, capsys, repr(STUDY))
    assert "space = 'mbconv'" in line if resume else ("already exists" in line or "space = 'mbconv'" in line)
    assert digest(run) == before


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
def test_a_shared_storage_study_of_another_space_is_refused(
        run: Path, capsys: pytest.CaptureFixture[str], resume: bool) -> None:
    before = digest(run)
    storage = f"sqlite:///{run / 'search' / 'study.db'}"
    code = _search(run / "other", "--storage", storage, "--study-name", STUDY, *(["--resume"] if resume else []),
                   space="regnet")
    one_sentence(code, capsys, repr(STUDY))
    assert digest(run) == before
    assert not (run / "other" / "found.yaml").exists()


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
def test_a_grid_given_a_search_study_is_refused(run: Path, capsys: pytest.CaptureFixture[str], resume: bool) -> None:
    before = digest(run)
    code = _grid(run / "other", "--storage", f"sqlite:///{run / 'search' / 'study.db'}", "--study-name", STUDY,
                 *(["--resume"] if resume else []))
    one_sentence(code, capsys, repr(STUDY))
    assert digest(run) == before


# ---------------------------------------------------------------------- (c) hand-edited genome files


def _edit(change: Callable[[dict], object]) -> Callable[[str], str | bytes]:
    """found.yaml's text -> the same data with ``change`` applied."""
    def make(text: str) -> str:
        data = yaml.safe_load(text)
        change(data)
        return yaml.safe_dump(data, sort_keys=False)
    return make


def _set(*path: object, value: object) -> Callable[[dict], object]:
    def change(data: dict) -> None:
        *parents, last = path
        for key in parents:
            data = data[key]
        data[last] = value
    return change


def _deep(data: dict) -> None:
    data["depth_mult"] = 99.0
    for stage in data["stages"]:
        stage["depth"] = 900


#: name -> (turns found.yaml's text into the bad file, what the sentence must say)
GENOMES: dict[str, tuple[Callable[[str], str | bytes], str]] = {
    "a string for a depth": (_edit(_set("stages", 0, "depth", value="three")), "stages[0].depth must be an integer"),
    "a negative depth": (_edit(_set("stages", 1, "depth", value=-2)), "stages[1].depth must be a positive integer"),
    "an unknown block": (_edit(_set("stages", 1, "block", value="warpdrive")), "'warpdrive'"),
    "a missing key": (_edit(lambda d: d.pop("stages")), "missing required field 'stages'"),
    "an unknown key": (_edit(_set("colour", value="red")), "unknown field 'colour'"),
    "a list instead of a mapping": (lambda _: "- 1\n- 2\n", "must be a mapping of network fields, got list"),
    "a stage that is a list": (_edit(_set("stages", 1, value=[1, 2])), "stages[1] must be a mapping"),
    "binary garbage": (lambda _: bytes(range(256)) * 8, "not a UTF-8 text file"),
    "an empty file": (lambda _: "", "the file is empty"),
    "only a comment": (lambda _: "# nothing here\n", "the file is empty"),
    "a huge depth": (_edit(_set("stages", 1, "depth", value=10**30)), "stages[1].depth must be an integer <= 1000"),
    "a huge width": (_edit(_set("stages", 1, "channels", value=10**12)), "stages[1].channels must be an integer <="),
    "a huge resolution": (_edit(_set("resolution", value=10**18)), "resolution must be an integer <= 10000"),
    "an infinite width multiplier": (_edit(_set("width_mult", value=float("inf"))), "width_mult must be a finite"),
    "too many blocks in all": (_edit(_deep), "more than the 10000 supported"),
    "a path as the name": (_edit(_set("name", value="../../escaped")), "name must be a non-empty name without '/'"),
    "a duplicate key": (lambda t: t.replace("\nstages:", "\nresolution: 96\nresolution: 97\nstages:", 1),
                        "key 'resolution' appears twice"),
    "nesting 5000 deep": (lambda _: "a: " + "[" * 5000 + "]" * 5000 + "\n", "malformed YAML"),
    "unclosed brackets": (lambda _: "name: [unclosed\n", "malformed YAML at line"),
    "an impossible date": (lambda t: t.replace("\nstages:", "\nwhen: 2001-02-30\nstages:", 1),
                           "a value cannot be read"),
}

#: CLI -> (its main, its error prefix, its arguments for a genome file and an existing output directory)
CLIS: dict[str, tuple[Cli, str, Callable[[Path, Path], list[str]]]] = {
    "scaling.compound": (compound_cli.main, "scaling.compound: error: ",
                         lambda f, out: ["--base", str(f), "--out", str(out), "--phi", "0-1", "--no-plots"]),
    "scaling.stagewise": (stagewise_cli.main, "scaling.stagewise: error: ",
                          lambda f, out: ["--base", str(f), "--out", str(out), "--phi", "0-1", "--no-plots"]),
    "nas.info": (info.main, "nas.info: error: ", lambda f, _: [str(f)]),
    "nas.evaluate": (evaluate.main, "nas.evaluate: error: ",
                     lambda f, _: [str(f), "--evaluator", "cost", "--device", "cpu"]),
}


def _refused(run: Path, capsys: pytest.CaptureFixture[str], cli: str, content: str | bytes, *expected: str) -> str:
    """Give ``content`` as a genome file to ``cli``; assert one sentence naming it and nothing else touched."""
    bad = run / "edited.yaml"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = digest(run)
    main, prefix, argv = CLIS[cli]
    line = one_sentence(main(argv(bad, run / "family")), capsys, prefix, str(bad), *expected)
    assert digest(run) == before
    return line


@pytest.mark.parametrize("case", GENOMES, ids=str)
@pytest.mark.parametrize("cli", CLIS)
def test_a_hand_edited_genome_is_refused_in_one_sentence(
        run: Path, capsys: pytest.CaptureFixture[str], cli: str, case: str) -> None:
    make, expected = GENOMES[case]
    _refused(run, capsys, cli, make((run / "search" / "found.yaml").read_text()), expected)


def test_the_found_genome_itself_is_accepted(run: Path) -> None:
    for cli, (main, _, argv) in CLIS.items():
        assert main(argv(run / "search" / "found.yaml", run / cli)) == 0, cli


def test_duplicate_keys_are_refused_by_the_codec_but_merge_keys_still_override() -> None:
    with pytest.raises(GenomeError, match=r"f\.yaml: key 'depth' appears twice in one mapping \(line 1, col"):
        ss.from_yaml("{depth: 1, depth: 2}", "f.yaml")
    text = ss.to_yaml(ss.zoo.get("mobilenet_v2"), short=False).replace("head: {", "head: {<<: {hidden: 7}, ", 1)
    assert ss.from_yaml(text) == ss.zoo.get("mobilenet_v2")  # the explicit fields win over the merged ones


# ---------------------------------------------------------------------- (d) YAML with Python tags

#: name -> (found.yaml's text, a marker path) -> a file whose payload would create the marker if it ran
PAYLOADS: dict[str, Callable[[str, Path], str]] = {
    "os.system as the whole file": lambda _, marker: f'!!python/object/apply:os.system ["touch {marker}"]\n',
    "open() as a field's value": lambda found, marker: found.replace(
        "\nstages:", f'\nresolution: !!python/object/apply:builtins.open ["{marker}", "w"]\nstages:', 1),
    "a function by name": lambda found, _: found.replace("\nact:", "\nact: !!python/name:os.system\nx:", 1),
    "object/new inside meta": lambda found, marker: (
        found + f'  evil: !!python/object/new:os.system ["touch {marker}"]\n'),
}


@pytest.mark.parametrize("payload", PAYLOADS, ids=str)
@pytest.mark.parametrize("cli", CLIS)
def test_python_tags_are_refused_and_never_run(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], cli: str, payload: str) -> None:
    marker = tmp_path / "pwned"
    content = PAYLOADS[payload]((run / "search" / "found.yaml").read_text(), marker)
    _refused(run, capsys, cli, content, "refused YAML tag", "only safe YAML is loaded")
    assert not marker.exists()


def test_the_tag_payload_would_run_under_an_unsafe_loader(tmp_path: Path) -> None:
    """The premise of the test above: the payload is live, so only the safe loader keeps it inert."""
    marker = tmp_path / "pwned"
    yaml.load(f'!!python/object/apply:builtins.open ["{marker}", "w"]', Loader=yaml.UnsafeLoader)
    assert marker.exists()


def test_the_genome_loader_is_a_safe_loader() -> None:
    loader = ss.codec._Loader
    assert issubclass(loader, yaml.constructor.SafeConstructor)
    assert not issubclass(loader, (yaml.constructor.FullConstructor, yaml.constructor.UnsafeConstructor))


# ---------------------------------------------------------------------- (e) pickles and other loaders


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """``(module.function, call)`` for each call of a dotted name such as ``torch.load(...)``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            found.append((f"{node.func.value.id}.{node.func.attr}", node))
    return found


def _keyword(call: ast.Call, name: str) -> object:
    return next((ast.literal_eval(k.value) for k in call.keywords if k.arg == name
                 and isinstance(k.value, ast.Constant)), None)


def test_no_loader_in_the_package_can_run_code_from_a_file() -> None:
    """torch.load only with weights_only=True; no pickle.load/loads, unsafe YAML or pickled numpy arrays."""
    problems = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name, call in _calls(ast.parse(path.read_text(), str(path))):
                where = f"{path.relative_to(ROOT)}:{call.lineno} {name}"
                if name == "torch.load" and _keyword(call, "weights_only") is not True:
                    problems.append(f"{where} without weights_only=True")
                elif name in ("pickle.load", "pickle.loads", "marshal.loads", "dill.load", "joblib.load",
                              "yaml.unsafe_load", "yaml.full_load", "yaml.load_all"):
                    problems.append(where)
                elif name in ("np.load", "numpy.load") and _keyword(call, "allow_pickle") is not False:
                    problems.append(f"{where} without allow_pickle=False")
                elif name == "yaml.load" and not any(k.arg == "Loader" and isinstance(k.value, ast.Name)
                                                     and k.value.id == "_Loader" for k in call.keywords):
                    problems.append(f"{where} with a loader other than the codec's safe one")
    assert problems == []


class _Marker:
    """Unpickling this would create ``path`` (what a hostile pickle's ``__reduce__`` does)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.path), "w")


def _cifar(directory: Path, bad: bytes | None = None) -> Path:
    """A tiny CIFAR-10 python-batch directory; ``bad`` replaces ``data_batch_3``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": np.array([[rng.randrange(256) for _ in range(3072)] for _ in range(4)], dtype=np.uint8),
                 "labels": [0, 3, 7, 9], "batch_label": name}
        (directory / name).write_bytes(bad if bad is not None and name == "data_batch_3" else
                                       pickle.dumps(entry, protocol=2))
    return directory


def test_a_cifar_batch_of_arrays_still_loads(tmp_path: Path) -> None:
    data = open_dataset(f"cifar10:{_cifar(tmp_path / 'cifar')}")
    assert tuple(data.train_images.shape) == (20, 3, 32, 32) and data.test_labels.tolist() == [0, 3, 7, 9]


BAD_PICKLES: dict[str, Callable[[Path], bytes]] = {
    "a __reduce__ that opens a file": lambda marker: pickle.dumps({"data": _Marker(marker), "labels": []}),
    "a __reduce__ at protocol 2": lambda marker: pickle.dumps(_Marker(marker), protocol=2),
    "a hand-written eval": lambda marker: (b"cbuiltins\neval\n(Vopen(" + repr(str(marker)).encode() +
                                           b", 'w')\ntR."),
    "a truncated pickle": lambda _: pickle.dumps({"data": b"x" * 3072, "labels": [1]})[:40],
    "not a pickle": lambda _: b"hello world\n",
    "a list instead of a batch": lambda _: pickle.dumps([1, 2, 3]),
    "labels outside 0-9": lambda _: pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [42]}),
}


@pytest.mark.parametrize("case", BAD_PICKLES, ids=str)
def test_a_hostile_or_damaged_pickle_is_refused_and_never_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    marker = tmp_path / "pwned"
    directory = _cifar(tmp_path / "cifar", BAD_PICKLES[case](marker))
    before = digest(directory)
    code = evaluate.main(["efficientnet_b0", "--evaluator", "cost", "--device", "cpu", "--data", f"cifar10:{directory}"])
    one_sentence(code, capsys, "nas.evaluate: error: ", str(directory / "data_batch_3"), "not a CIFAR-10 python batch")
    assert not marker.exists()
    assert digest(directory) == before


@pytest.mark.parametrize("content", [b"\x00\x00\x08\x03\x00\x00", b"\x00\x00\x08\x01"], ids=["cut", "no-dims"])
def test_an_idx_file_with_a_cut_header_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match="IDX file is truncated"):
        read_idx(path)


def test_a_damaged_gzip_idx_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 64)
    with pytest.raises(UserInputError, match="cannot read IDX file"):
        read_idx(path)


def test_a_latency_table_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lut.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserInputError, match="cannot read latency table"):
        LatencyTable.load(path)


def test_a_second_search_into_a_run_directory_holding_another_studys_results_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from nas.search.cli import main

    base = ["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--trials", "2",
            "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main(base) == 0
    before = (tmp_path / "found.yaml").read_bytes()
    capsys.readouterr()
    assert main([*base, "--strategy", "random"]) == 2  # another study name, same --out
    err = capsys.readouterr().err.strip()
    assert "already holds the results of study 'mbconv-flops-tpe'" in err and len(err.splitlines()) == 1
    assert (tmp_path / "found.yaml").read_bytes() == before


def test_a_study_without_search_settings_is_not_resumed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import optuna

    from nas.search.cli import main

    optuna.create_study(study_name="foreign", storage=f"sqlite:///{tmp_path / 'study.db'}")  # made by another tool
    assert main(["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--out",
                 str(tmp_path), "--study-name", "foreign", "--resume", "--quiet"]) == 2
    assert "has no readable search settings" in capsys.readouterr().err


def test_a_journal_file_that_is_not_a_journal_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from nas.search.cli import main

    log = tmp_path / "study.log"
    log.write_text("garbage\n{\"x\": 1}\n")
    assert main(["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--out",
                 str(tmp_path / "o"), "--storage", f"journal:{log}", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"journal:{log}" in err and len(err.splitlines()) == 1
    assert log.read_text() == "garbage\n{\"x\": 1}\n"
