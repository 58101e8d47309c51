"""Every reader on malformed input: one `DataError` naming the file and the line, never another
exception, never a line dropped without being counted."""

import warnings

import numpy as np
import pytest
from test_data import write

from tasks import data

VALID = {  # a small valid file per reader
    "read_text": ("ptb.txt", "the cat sat\na dog ran\n"),
    "read_raw": ("raw.txt", "Some text.\nMore text.\n"),
    "read_conllu": ("ud.conllu", "# sent_id = 1\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n"
                                 "1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n"),
    "read_conll": ("ner.conll", "-DOCSTART- -X- -X- O\n\nJohn NNP B-NP I-PER\nran VBD B-VP O\n"),
    "read_labelled": ("rows.csv", 'text,label\n"good, really",pos\nbad,neg\n'),
    "read_sst": ("sst.txt", "(3 (2 The) (4 great))\n(1 (1 dull) (2 film))\n"),
    "read_pairs": ("pairs.tsv", "ein Hund\ta dog\nzwei\ttwo\n"),
}

MALFORMED = [  # reader, file name, content, the error's start
    ("read_conllu", "cols.conllu", "1\tHi\thi\tINTJ\n", "cols.conllu:1: expected 10"),
    ("read_conllu", "index.conllu", "x\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n",
     "index.conllu:1: expected a word index"),
    ("read_conll", "width.conll", "John B-PER\nran O x\n", "width.conll:2: expected 2 columns"),
    ("read_conll", "one.conll", "John\n", "one.conll:1: expected 2 columns"),
    ("read_labelled", "short.csv", "text,label\nno label here\n",
     "short.csv:2: expected at least 2 columns"),
    ("read_labelled", "header.csv", "review,stars\nfine,5\n", "header.csv:1: header has no"),
    # a quoted field spanning lines: the error names the physical line (4), not the record (3)
    ("read_labelled", "lines.csv", 'text,label\n"one\ntwo",a\nthree\n',
     "lines.csv:4: expected at least 2 columns"),
    ("read_labelled", "open.csv", 'text,label\nfine,a\n"never closed,b\nx,c\n',
     "open.csv:3: malformed ','-separated record: a quoted field opened on this line is never"),
    ("read_labelled", "after.csv", 'text,label\n"abc"def,a\n', "after.csv:2: malformed"),
    ("read_sst", "tree.txt", "(3 (2 The) (4 great)\n", "tree.txt:1: "),
    ("read_sst", "label.txt", "(9 (2 The) (4 great))\n", "label.txt:1: "),
    ("read_pairs", "pairs.tsv", "ein Hund\ta dog\nno tab here\n", "pairs.tsv:2: "),
]


@pytest.mark.parametrize("reader,name,content,message", MALFORMED,
                         ids=[f"{m[0]}-{m[1]}" for m in MALFORMED])
def test_malformed_files_name_the_file_and_line(tmp_path, reader, name, content, message):
    with pytest.raises(data.DataError) as error:
        getattr(data, reader)(write(tmp_path, name, content))
    assert str(error.value).startswith(str(tmp_path / message.split(":")[0]) + ":"), error.value
    assert message.split(":", 1)[1] in str(error.value), error.value


def test_a_stray_quote_does_not_swallow_the_rows_after_it(tmp_path):
    rows = [f"row {i},{'pos' if i % 2 else 'neg'}" for i in range(600)]
    rows[10] = '"a stray quote,pos'  # closed, by chance, by the quote on row 510
    rows[510] = 'row 510",neg'
    path = write(tmp_path, "stray.csv", "text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(data.DataError, match=r"stray.csv:12: a quoted field opened on this "
                                             r"line runs over 501 lines"):
        data.read_labelled(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts, labels = data.read_labelled(path, skip_malformed=True)
    # Only the opening line is lost, and it is counted; the rows after it are read again (a
    # quote inside an unquoted field, as on row 510, is a plain character).
    assert len(texts) == 600 - 1 and texts[10] == "row 11" and texts[509] == 'row 510"'
    assert "skipped 1 malformed line(s) (line 12: a quoted field" in str(caught[0].message)


def test_an_unterminated_quote_under_skip_malformed_loses_one_line(tmp_path):
    rows = ["text,label", '"never closed,a'] + [f"row {i},b" for i in range(1000)]
    path = write(tmp_path, "open.csv", "\n".join(rows) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts, _ = data.read_labelled(path, skip_malformed=True)
    assert len(texts) == 1000
    assert "skipped 1 malformed line(s) (line 2:" in str(caught[0].message)


@pytest.mark.parametrize("reader", sorted(VALID))
def test_fuzzed_files_give_data_or_a_data_error(tmp_path, reader):
    name, content = VALID[reader]
    read = getattr(data, reader)
    read(write(tmp_path, name, content))  # the fixture itself is valid
    rng = np.random.default_rng(sum(map(ord, reader)))
    raw = content.encode()
    for case in range(150):
        kind = case % 3
        if kind == 0:  # random bytes
            blob = rng.integers(0, 256, rng.integers(1, 80)).astype(np.uint8).tobytes()
        elif kind == 1:  # a truncation
            blob = raw[: rng.integers(1, len(raw))]
        else:  # a few bytes of the valid file replaced by random ones (quotes, tabs, ...)
            blob = bytearray(raw)
            for i in rng.integers(0, len(raw), 3):
                blob[i] = rng.choice(list(b'"\t\n ()-#,\xff0123456789aZ'))
            blob = bytes(blob)
        path = write(tmp_path, name, blob, mode="wb")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read(path)
                read(path, **({"skip_malformed": True} if reader not in (
                    "read_text", "read_raw") else {}))
        except data.DataError:
            pass
        except Exception as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{reader} raised {type(error).__name__}: {error} on {blob!r}")
