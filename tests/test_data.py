"""The readers on small fixtures written here: good input, and every kind of bad input (the
error names the file and the line)."""

import pytest

from tasks import data, datasets, tag_schemes


def write(tmp_path, name, text, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def test_read_text_appends_eos_and_skips_blank_lines(tmp_path):
    path = write(tmp_path, "lm.txt", " the cat sat \n\n a dog <unk> N \n")
    assert data.read_text(path) == [
        ["the", "cat", "sat", "<eos>"], ["a", "dog", "<unk>", "N", "<eos>"]
    ]
    assert data.read_text(path, eos=None)[0] == ["the", "cat", "sat"]


@pytest.mark.parametrize("reader", [data.read_text, data.read_conllu, data.read_conll,
                                    data.read_sst, data.read_pairs, data.read_labelled])
def test_missing_and_empty_files(reader, tmp_path):
    with pytest.raises(data.DataError, match="nope.txt: no such file"):
        reader(str(tmp_path / "nope.txt"))
    with pytest.raises(data.DataError, match="empty.txt: the file is empty"):
        reader(write(tmp_path, "empty.txt", ""))


def test_undecodable_bytes_name_the_line(tmp_path):
    path = write(tmp_path, "bad.txt", b"fine line\nbad \xff byte\n", mode="wb")
    with pytest.raises(data.DataError, match=r"bad.txt:2: not valid UTF-8"):
        data.read_text(path)


CONLLU = """# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
3.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def test_a_byte_order_mark_is_not_part_of_the_first_token_or_header(tmp_path):
    bom = "\ufeff"
    text = tmp_path / "bom.txt"
    text.write_text(bom + "the cat\n", encoding="utf-8")
    assert data.read_text(str(text)) == [["the", "cat", "<eos>"]]
    assert data.read_raw(str(text)) == "the cat\n"
    table = tmp_path / "bom.csv"
    table.write_text(bom + "text,label\ngood film,pos\n", encoding="utf-8")
    assert data.read_labelled(str(table)) == (["good film"], ["pos"])
    conll = tmp_path / "bom.conll"
    conll.write_text(bom + "John B-PER\n", encoding="utf-8")
    assert data.read_conll(str(conll))[0]["words"] == ["John"]


def test_files_without_any_example_say_so(tmp_path):
    cases = {"docstart.conll": ("-DOCSTART- -X- -X- O\n\n", data.read_conll, "no sentences"),
             "comments.conllu": ("# sent_id = 1\n\n", data.read_conllu, "no sentences"),
             "header.csv": ("text,label\n", data.read_labelled, "no labelled rows")}
    for name, (content, reader, message) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(data.DataError, match=f"{name}: {message}"):
            reader(str(tmp_path / name))


def test_read_conllu_skips_comments_multiword_and_empty_nodes(tmp_path):
    sentences = data.read_conllu(write(tmp_path, "a.conllu", CONLLU))
    assert sentences[0]["words"] == ["I", "do", "n't", "know", "."]
    assert sentences[0]["upos"] == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert sentences[0]["xpos"] == ["PRP", "VBP", "RB", "VB", "."]
    assert sentences[1] == {"words": ["Hi"], "upos": ["INTJ"], "xpos": ["UH"]}


def test_read_conllu_wrong_column_count(tmp_path):
    path = write(tmp_path, "b.conllu", CONLLU.replace("5\t.\t.\tPUNCT", "5\t.\tPUNCT"))
    expected = r"b.conllu:9: expected 10 tab-separated columns, found 9"
    with pytest.raises(data.DataError, match=expected):
        data.read_conllu(path)
    with pytest.warns(UserWarning, match=r"skipped 1 malformed line\(s\) \(line 9"):
        sentences = data.read_conllu(path, skip_malformed=True)
    assert sentences[0]["words"] == ["I", "do", "n't", "know"]


CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
"""


def test_read_conll_2003_and_two_columns(tmp_path):
    sentences = data.read_conll(write(tmp_path, "eng.train", CONLL2003))
    assert sentences == [
        {"words": ["EU", "rejects", "German", "call"], "tags": ["I-ORG", "O", "I-MISC", "O"]},
        {"words": ["Peter", "Blackburn"], "tags": ["I-PER", "I-PER"]},
    ]
    two = data.read_conll(write(tmp_path, "wnut.txt", "@paul O\nParis B-location\n"))
    assert two == [{"words": ["@paul", "Paris"], "tags": ["O", "B-location"]}]


def test_read_conll_wrong_column_count(tmp_path):
    path = write(tmp_path, "eng.bad", CONLL2003.replace("call NN I-NP O", "call NN O"))
    with pytest.raises(data.DataError, match=r"eng.bad:6: expected 4 columns .* found 3"):
        data.read_conll(path)


@pytest.mark.parametrize(
    "iob1, bio, iobes",
    [
        (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"],
         ["B-PER", "E-PER", "O", "S-LOC"]),
        # two adjacent entities of one type: the only place IOB1 uses B-
        (["I-LOC", "B-LOC", "I-LOC", "I-ORG"], ["B-LOC", "B-LOC", "I-LOC", "B-ORG"],
         ["S-LOC", "B-LOC", "E-LOC", "S-ORG"]),
        (["O", "O"], ["O", "O"], ["O", "O"]),
    ],
)
def test_tag_schemes_convert_and_round_trip(iob1, bio, iobes):
    forms = {"iob1": iob1, "bio": bio, "iobes": iobes}
    for source, tags in forms.items():
        for target, expected in forms.items():
            assert tag_schemes.convert_tags(tags, source, target) == expected, (source, target)


def test_tag_scheme_errors():
    with pytest.raises(ValueError, match="Received: target='bilou'"):
        tag_schemes.convert_tags(["O"], "bio", "bilou")
    with pytest.raises(ValueError, match="not a BIO tag. Received: 'E-PER'"):
        tag_schemes.convert_tags(["E-PER"], "bio", "iobes")


CSV = '''id,review,sentiment
1,"Great film.<br /><br />Loved it, truly",pos
2,"A ""bad"" one
over two lines",neg
3,Fine &amp; dandy,pos
'''


def test_read_labelled_csv_by_name_and_tsv_by_index(tmp_path):
    texts, labels = data.read_labelled(write(tmp_path, "r.csv", CSV), "review", "sentiment")
    assert texts == ["Great film. Loved it, truly", 'A "bad" one over two lines', "Fine & dandy"]
    assert labels == ["pos", "neg", "pos"]
    texts, labels = data.read_labelled(write(tmp_path, "r.tsv", "a b\t1\nc\t0\n"), 0, 1)
    assert (texts, labels) == (["a b", "c"], ["1", "0"])


def test_read_labelled_errors(tmp_path):
    path = write(tmp_path, "r.csv", CSV)
    with pytest.raises(data.DataError, match=r"r.csv:1: header has no column 'text'"):
        data.read_labelled(path)
    with pytest.raises(data.DataError, match=r"r.csv:3: unknown label 'neg'; expected one of"):
        data.read_labelled(path, "review", "sentiment", labels=["pos", "neu"])
    short = write(tmp_path, "s.tsv", "a\t1\nonly-one-column\n")
    with pytest.raises(data.DataError, match=r"s.tsv:2: expected at least 2 columns, found 1"):
        data.read_labelled(short, 0, 1)


SST = """(3 (2 (2 The) (2 Rock)) (4 (2 is) (4 great)))
(1 (2 A) (1 (1 dull) (2 film)))
(2 (2 It) (2 is))
(4 (2 Singer\\/composer) (4 rocks))
"""


def test_read_sst_binary_fine_and_phrases(tmp_path):
    path = write(tmp_path, "train.txt", SST)
    texts, labels = data.read_sst(path, classes=5)
    assert texts[0] == "The Rock is great" and labels == [3, 1, 2, 4]
    assert texts[3] == "Singer/composer rocks"
    texts, labels = data.read_sst(path, classes=2)
    assert labels == [1, 0, 1] and "It is" not in texts  # neutral dropped
    texts, labels = data.read_sst(path, classes=5, phrases=True)
    assert ("dull film", 1) in zip(texts, labels) and ("great", 4) in zip(texts, labels)
    assert texts.count("The Rock is great") == 1


@pytest.mark.parametrize("tree, message", [
    ("(3 (2 a) (2 b)", "unbalanced tree: 1 '\\(' left open"),
    ("(3 (2 a)) (2 b))", "text after the end of the tree"),
    ("(x (2 a))", "expected a label"),
])
def test_read_sst_bad_trees(tree, message, tmp_path):
    path = write(tmp_path, "bad.txt", "(2 (2 ok))\n" + tree + "\n")
    with pytest.raises(data.DataError, match="bad.txt:2: " + message):
        data.read_sst(path)


def test_parallel_files_and_pairs(tmp_path):
    de = write(tmp_path, "train.de", "Ein Hund .\nZwei Katzen .\n")
    en = write(tmp_path, "train.en", "A dog .\nTwo cats .\n")
    assert data.read_parallel(de, en) == [
        ("Ein Hund .", "A dog ."), ("Zwei Katzen .", "Two cats .")
    ]
    short = write(tmp_path, "short.en", "A dog .\n")
    with pytest.raises(data.DataError, match="short.en: has 1 lines but .*train.de has 2"):
        data.read_parallel(de, short)
    pairs = write(tmp_path, "deu.txt", "Go.\tGeh.\tCC-BY attribution\nHi.\tHallo!\n")
    assert data.read_pairs(pairs) == [("Go.", "Geh."), ("Hi.", "Hallo!")]
    bad = write(tmp_path, "bad.txt", "Go.\tGeh.\nno tab here\n")
    with pytest.raises(data.DataError, match=r"bad.txt:2: expected source<TAB>target"):
        data.read_pairs(bad)


def test_resolve_path_or_name_in_data_dir(tmp_path, monkeypatch):
    path = write(tmp_path, "ptb.train.txt", "a b\n")
    assert data.resolve(path) == path
    monkeypatch.setenv("KERASRNN_DATA", str(tmp_path))
    assert data.resolve("ptb.train.txt") == path
    with pytest.raises(data.DataError, match="no such file or dataset here nor in"):
        data.resolve("missing.txt")
    monkeypatch.delenv("KERASRNN_DATA")
    with pytest.raises(data.DataError, match=r"set \$KERASRNN_DATA"):
        data.resolve("missing.txt")


def test_fetch_puts_files_in_the_data_dir_layout(tmp_path, monkeypatch):
    """The download mechanism, offline: a file:// origin stands in for the canonical URL."""
    source = write(tmp_path, "origin.txt", "a b\n")
    monkeypatch.setitem(datasets.PUBLIC, "toy", {"toy/toy.train.txt": "file://" + source})
    store = tmp_path / "store"
    paths = datasets.fetch("toy", str(store))
    assert paths == [str(store / "toy" / "toy.train.txt")]
    assert data.read_text(data.resolve("toy/toy.train.txt", str(store))) == [["a", "b", "<eos>"]]
    with pytest.raises(ValueError, match="Received: name='imdb'"):
        datasets.fetch("imdb", str(store))
