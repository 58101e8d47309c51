"""Entity tag schemes: the spans a tag sequence marks, and conversion between schemes.

    spans(tags, scheme)                    [(type, start, end)] read in "iob1", "bio" or "iobes"
    convert_tags(tags, source, target)     IOB1 <-> BIO <-> IOBES
"""

_SCHEMES = ("iob1", "bio", "iobes")


def spans(tags, scheme):
    """[(type, start, end)] of the entities in `tags` read in `scheme` (end exclusive)."""
    found, start, kind = [], None, None
    prefixes = ("B", "I", "E", "S") if scheme == "iobes" else ("B", "I")
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, label = tag.partition("-")
        if tag != "O" and (prefix not in prefixes or not label):
            raise ValueError(f"tag {i} is not a {scheme.upper()} tag. Received: {tag!r}")
        begins = (
            prefix in ("B", "S")
            or (prefix == "I" and kind != label)
            or (prefix == "E" and kind != label)
        )
        if start is not None and (tag == "O" or begins):
            found.append((kind, start, i))
            start, kind = None, None
        if tag != "O" and start is None:
            start, kind = i, label
        if prefix in ("E", "S"):
            found.append((kind, start, i + 1))
            start, kind = None, None
    return found


def convert_tags(tags, source, target):
    """Converts one sentence's tags between IOB1 (CoNLL-2003: B- only between two adjacent
    entities of one type), BIO (IOB2: B- at every entity start) and IOBES (S- single, E- end).

    >>> convert_tags(["I-PER", "I-PER", "O", "I-LOC"], "iob1", "iobes")
    ['B-PER', 'E-PER', 'O', 'S-LOC']
    """
    for name, value in (("source", source), ("target", target)):
        if value not in _SCHEMES:
            raise ValueError(f"`{name}` must be one of {_SCHEMES}. Received: {name}={value!r}")
    out = ["O"] * len(tags)
    previous_end, previous_kind = None, None
    for kind, start, end in spans(tags, source):
        for i in range(start, end):
            out[i] = f"I-{kind}"
        if target == "bio":
            out[start] = f"B-{kind}"
        elif target == "iobes":
            if end - start == 1:
                out[start] = f"S-{kind}"
            else:
                out[start], out[end - 1] = f"B-{kind}", f"E-{kind}"
        elif previous_end == start and previous_kind == kind:  # iob1: B- only to separate
            out[start] = f"B-{kind}"
        previous_end, previous_kind = end, kind
    return out
