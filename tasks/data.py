"""Readers for the real formats the four tasks use, with one clear error per bad input.

Every reader returns plain Python values (a UTF-8 byte-order mark is dropped), and raises
`DataError` ("path:line: what was expected, what was found") on bad input: missing or empty
file, undecodable bytes, wrong column count, unknown label, unbalanced tree, parallel files of
different lengths. Readers of line-based
formats take `skip_malformed=True` to skip bad lines instead; they then warn once with the
count and the first few line numbers, so nothing is lost silently.

    resolve(name_or_path, data_dir=None)      a file, or a name inside $KERASRNN_DATA
    read_text(path)                           PTB style: sentences of tokens + "<eos>"
    read_raw(path)                            the whole text, for character models
    read_conllu(path)                         UD: words with UPOS and XPOS
    read_conll(path)                          CoNLL-2003 / 2-column token-tag files
    read_labelled(path, text, label)          CSV / TSV with chosen columns
    read_sst(path, classes=2|5, phrases=False) PTB-style sentiment trees
    read_parallel(src, tgt) / read_pairs(path) parallel text
"""

import csv
import html
import os
import re
import warnings

DATA_ENV = "KERASRNN_DATA"


class DataError(ValueError):
    """Bad input data; the message starts with `path:line:` (or `path:` for a whole file)."""

    def __init__(self, path, line, message):
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


def resolve(name_or_path, data_dir=None):
    """An existing path as is; otherwise `name_or_path` inside `data_dir` or $KERASRNN_DATA."""
    if os.path.exists(name_or_path):
        return name_or_path
    base = data_dir or os.environ.get(DATA_ENV)
    if base and os.path.exists(os.path.join(base, name_or_path)):
        return os.path.join(base, name_or_path)
    looked = f" nor in {base!r}" if base else f" (no data directory: pass one or set ${DATA_ENV})"
    raise DataError(name_or_path, None, f"no such file or dataset here{looked}")


def _lines(path):
    """(line number, line without its newline) for every line; checks existence, emptiness and
    encoding with the file and line named."""
    if not os.path.isfile(path):
        raise DataError(path, None, "no such file")
    if os.path.getsize(path) == 0:
        raise DataError(path, None, "the file is empty")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # no BOM
            except UnicodeDecodeError as e:
                message = f"not valid UTF-8 ({e.reason} at byte {e.start})"
                raise DataError(path, number, message) from None
            yield number, line.rstrip("\r\n")


def _some(path, items, what):
    """`items`, or a DataError: a file that holds none of what it should is not a data set
    (a later "unknown tag" or "nothing to batch" would not say why)."""
    if not items:
        raise DataError(path, None, f"no {what} in the file")
    return items


class _Skipper:
    """Raises on a malformed line, or (skip_malformed=True) counts it and warns once at the end."""

    def __init__(self, path, skip):
        self.path, self.skip, self.lines = path, skip, []

    def bad(self, line, message):
        if not self.skip:
            raise DataError(self.path, line, message)
        self.lines.append((line, message))

    def report(self):
        if self.lines:
            first = "; ".join(f"line {n}: {m}" for n, m in self.lines[:3])
            warnings.warn(
                f"{self.path}: skipped {len(self.lines)} malformed line(s) ({first})",
                stacklevel=3,
            )


def read_text(path, eos="<eos>"):
    """PTB-style text: one sentence per line, whitespace-separated tokens, `eos` appended
    (None for no end token). Blank lines are skipped. Returns a list of token lists."""
    sentences = []
    for _, line in _lines(path):
        words = line.split()
        if words:
            sentences.append(words + ([eos] if eos else []))
    return sentences


def read_raw(path):
    """The whole file as one string (for character-level models), checked like every file."""
    return "\n".join(line for _, line in _lines(path)) + "\n"


def read_conllu(path, skip_malformed=False):
    """CoNLL-U (Universal Dependencies). Returns [{"words", "upos", "xpos"}] per sentence;
    comments, multiword-token lines (`1-2`) and empty nodes (`1.1`) are skipped."""
    sentences, current, skipper = [], None, _Skipper(path, skip_malformed)

    def close():
        if current and current["words"]:
            sentences.append(current)

    for number, line in _lines(path):
        if not line.strip():
            close()
            current = None
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            skipper.bad(number, f"expected 10 tab-separated columns, found {len(cols)}")
            continue
        if "-" in cols[0] or "." in cols[0]:
            continue  # multiword token or empty node
        if not cols[0].isdigit():
            skipper.bad(number, f"expected a word index in column 1, found {cols[0]!r}")
            continue
        current = current or {"words": [], "upos": [], "xpos": []}
        current["words"].append(cols[1])
        current["upos"].append(cols[3])
        current["xpos"].append(cols[4])
    close()
    skipper.report()
    return _some(path, sentences, "sentences (word lines between blank lines)")


def read_conll(path, tag_column=-1, skip_malformed=False):
    """CoNLL column files: CoNLL-2003 (`token POS chunk NER`) or 2-column `token tag` (WNUT).
    Whitespace-separated columns, blank lines between sentences, `-DOCSTART-` lines skipped.
    Every token line must have as many columns as the file's first one. Tags are returned as
    found (CoNLL-2003 is IOB1: see `tasks.tag_schemes.convert_tags`).
    Returns [{"words", "tags"}]."""
    sentences, words, tags = [], [], []
    width, skipper = None, _Skipper(path, skip_malformed)
    for number, line in _lines(path):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if words:
                sentences.append({"words": words, "tags": tags})
            words, tags = [], []
            continue
        width = width or len(cols)
        if len(cols) != width or width < 2:
            skipper.bad(number, f"expected {max(width, 2)} columns (token ... tag), "
                                f"found {len(cols)}")
            continue
        words.append(cols[0])
        tags.append(cols[tag_column])
    if words:
        sentences.append({"words": words, "tags": tags})
    skipper.report()
    return _some(path, sentences, "sentences (token lines between blank lines)")


_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def read_labelled(path, text_column="text", label_column="label", delimiter=None,
                  labels=None, skip_malformed=False, max_record_lines=20):
    """Labelled text from CSV or TSV (delimiter from the extension unless given; quoted fields
    may hold delimiters, doubled quotes and newlines). Columns are chosen by header name or by
    0-based index (then the file has no header). HTML line breaks (`<br />`) become spaces and
    HTML entities are unescaped. `labels`: the allowed label names (others are an error).
    Errors name the physical line where the record starts. A quoted field that is never
    closed, or that runs over more than `max_record_lines` lines (a stray quote would silently
    swallow the rows after it), is an error naming the line where it opened; with
    `skip_malformed` only that line is skipped and the rows after it are read again.
    Returns (texts, labels)."""
    if delimiter is None:
        delimiter = "\t" if path.endswith((".tsv", ".tab")) else ","
    list(zip(range(1), _lines(path)))  # existence, emptiness
    by_name = isinstance(text_column, str) or isinstance(label_column, str)
    texts, out_labels, skipper = [], [], _Skipper(path, skip_malformed)
    allowed = None if labels is None else set(map(str, labels))
    header, width = None, None if by_name else max(text_column, label_column) + 1
    for number, row in _records(path, delimiter, max_record_lines, skipper):
        if not row:
            continue
        if by_name and header is None:
            header = row
            missing = [c for c in (text_column, label_column)
                       if isinstance(c, str) and c not in header]
            if missing:
                raise DataError(path, number, f"header has no column {missing[0]!r}; "
                                f"found {header}")
            text_column, label_column = (header.index(c) if isinstance(c, str) else c
                                         for c in (text_column, label_column))
            width = max(text_column, label_column) + 1
            continue
        if len(row) < width:
            skipper.bad(number, f"expected at least {width} columns, found {len(row)}")
            continue
        label = row[label_column].strip()
        if allowed is not None and label not in allowed:
            skipper.bad(number, f"unknown label {label!r}; expected one of {sorted(allowed)}")
            continue
        texts.append(" ".join(html.unescape(_BR.sub(" ", row[text_column])).split()))
        out_labels.append(label)
    skipper.report()
    _some(path, texts, "labelled rows")
    return texts, out_labels


class _LineFeed:
    """The file's lines for `csv.reader`, from a position that can be set back."""

    def __init__(self, lines):
        self.lines, self.position = lines, 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]


def _records(path, delimiter, max_record_lines, skipper):
    """(physical line number where the record starts, fields) for every record."""
    with open(path, newline="", encoding="utf-8-sig", errors="strict") as f:  # no BOM
        try:
            lines = f.read().splitlines(keepends=True)
        except UnicodeDecodeError as e:
            raise DataError(path, None, f"not valid UTF-8 ({e.reason})") from None
    feed = _LineFeed(lines)
    while feed.position < len(lines):
        start = feed.position
        reader = csv.reader(feed, delimiter=delimiter, strict=True)
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            message = str(e)
            if "unexpected end of data" in message:
                message = "a quoted field opened on this line is never closed"
            skipper.bad(start + 1, f"malformed {delimiter!r}-separated record: {message}")
            feed.position = start + 1  # skip this line, read the next one afresh
            continue
        if feed.position - start > max_record_lines:
            skipper.bad(start + 1, f"a quoted field opened on this line runs over "
                        f"{feed.position - start} lines (to line {feed.position}): a stray "
                        f"quote? (`max_record_lines` is {max_record_lines})")
            feed.position = start + 1
            continue
        yield start + 1, row


_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{",
                "-RCB-": "}", "\\/": "/", "\\*": "*"}


def _parse_tree(line):
    """(label, [words], [(label, [words]) for every phrase]) of one `(3 (2 a) (4 b))` tree."""
    tokens = re.findall(r"\(|\)|[^\s()]+", line)
    stack, phrases, pos = [], [], 0
    root = None
    while pos < len(tokens):
        tok = tokens[pos]
        if tok == "(":
            if pos + 1 >= len(tokens) or not tokens[pos + 1].isdigit():
                raise ValueError(f"expected a label after '(' at token {pos + 1}")
            stack.append([int(tokens[pos + 1]), []])
            pos += 2
        elif tok == ")":
            if not stack:
                raise ValueError(f"unbalanced tree: ')' without '(' at token {pos + 1}")
            label, words = stack.pop()
            phrases.append((label, words))
            if stack:
                stack[-1][1].extend(words)
            else:
                root = (label, words)
                if pos != len(tokens) - 1:
                    raise ValueError("text after the end of the tree")
            pos += 1
        else:
            if not stack:
                raise ValueError(f"word {tok!r} outside the tree")
            word = tok
            for escaped, plain in _PTB_ESCAPES.items():
                word = word.replace(escaped, plain)
            stack[-1][1].append(word)
            pos += 1
    if stack or root is None:
        raise ValueError(f"unbalanced tree: {len(stack)} '(' left open")
    return root[0], root[1], phrases


def read_sst(path, classes=2, phrases=False, skip_malformed=False):
    """Stanford Sentiment Treebank trees, one per line, labels 0-4 at every node.
    classes=5: the labels as they are; classes=2: 0-1 -> 0 (negative), 3-4 -> 1 (positive),
    neutral (2) dropped. phrases=True also yields every labelled phrase (each distinct phrase
    once per sentence), as the literature trains on. Returns (texts, labels)."""
    if classes not in (2, 5):
        raise ValueError(f"`classes` must be 2 or 5. Received: classes={classes!r}")
    texts, labels, skipper = [], [], _Skipper(path, skip_malformed)
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            label, words, nodes = _parse_tree(line)
        except ValueError as e:
            skipper.bad(number, str(e))
            continue
        items = [(label, words)]
        if phrases:
            seen = {" ".join(words)}
            for node_label, node_words in nodes:
                text = " ".join(node_words)
                if text not in seen:
                    seen.add(text)
                    items.append((node_label, node_words))
        for item_label, item_words in items:
            if not 0 <= item_label <= 4:
                skipper.bad(number, f"label must be 0-4, found {item_label}")
                break
            if classes == 2:
                if item_label == 2:
                    continue
                item_label = int(item_label > 2)
            texts.append(" ".join(item_words))
            labels.append(item_label)
    skipper.report()
    return texts, labels


def read_parallel(source_path, target_path):
    """Two line-aligned files -> [(source, target)]; both must have the same number of lines,
    and no pair may have an empty side."""
    src = [line for _, line in _lines(source_path)]
    tgt = [line for _, line in _lines(target_path)]
    if len(src) != len(tgt):
        raise DataError(
            target_path, None,
            f"has {len(tgt)} lines but {source_path} has {len(src)}: parallel files must align"
        )
    for number, (s, t) in enumerate(zip(src, tgt), start=1):
        if not s.strip() or not t.strip():
            empty = source_path if not s.strip() else target_path
            raise DataError(empty, number, "empty line in a parallel file")
    return [(s.strip(), t.strip()) for s, t in zip(src, tgt)]


def read_pairs(path, skip_malformed=False):
    """One file of tab-separated pairs (`source<TAB>target`, extra columns ignored, as in the
    Tatoeba/Anki files) -> [(source, target)]."""
    pairs, skipper = [], _Skipper(path, skip_malformed)
    for number, line in _lines(path):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            skipper.bad(number, f"expected source<TAB>target, found {len(cols)} column(s)")
            continue
        pairs.append((cols[0].strip(), cols[1].strip()))
    skipper.report()
    return pairs
