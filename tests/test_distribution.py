"""Data-parallel training on 2 virtual CPU devices or 2 local processes (tasks/distribution.py):
the backend's own engine (JAX `keras.distribution`, TF `MirroredStrategy` and
`MultiWorkerMirroredStrategy`) gives what one device gives. Each distributed run is a fresh
process, since devices are fixed when a backend starts; the one-device oracle runs the same
code with `--devices 1` (or in this process)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from test_char_classifier import corpus as names_corpus
from test_language_model import corpus as lm_corpus
from test_sentiment import corpus as sentiment_corpus
from test_tagger import ner_corpus
from test_translator import reverse_pairs

from tasks import char_classifier, distribution, language_model, sentiment, tagger, translator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code):
    """`code` in a new Python process on this backend; the JSON its last line prints."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


STEP = """
import json, sys
from tasks import distribution
distribution.configure({devices})
import keras, numpy as np, kerasrnn

keras.utils.set_random_seed(0)
tokens = keras.Input((None,), dtype="int32")
x = keras.layers.Embedding(50, 8, mask_zero=True)(tokens)
x = kerasrnn.LSTM(8, num_layers=2, residual=True, return_sequences=True)(x)
x = kerasrnn.Bidirectional(kerasrnn.GRU(8, return_sequences=True))(x)
x = kerasrnn.LSTM(8)(x)
model = keras.Model(tokens, keras.layers.Dense(3)(x))
model.compile(keras.optimizers.SGD(0.5, clipnorm=1.0),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              jit_compile=keras.backend.backend() == "jax")  # TF: no XLA under MirroredStrategy
rng = np.random.default_rng(1)
ids = rng.integers(1, 50, (8, 7)).astype("int32")
for row, length in enumerate([7, 1, 3, 5, 7, 2, 6, 4]):  # right padding, one row of 1 token
    ids[row, length:] = 0
model.fit(ids, rng.integers(0, 3, 8), batch_size=8, epochs=2, shuffle=False, verbose=0)
print(json.dumps([w.tolist() for w in model.get_weights()]))
"""


def test_two_steps_on_two_devices_equal_one_device():
    one, two = (run(STEP.format(devices=n)) for n in (1, 2))
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def _files(tmp_path, task):
    """The task's training and dev files, and the flags that name them."""
    def write(name, lines):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        return str(tmp_path / name)

    if task == "language_model":
        return ["--data", write("toy.txt", lm_corpus(200, 0))]
    if task == "tagger":
        flags = ["--scheme", "ner"]
        for name, (sentences, tags) in (("train", ner_corpus(60, 0)), ("dev", ner_corpus(13, 1))):
            blocks = ["\n".join(f"{w} {t}" for w, t in zip(s, ts))
                      for s, ts in zip(sentences, tags)]
            flags += [f"--{name}", write(f"{name}.txt", ["\n\n".join(blocks)])]
        return flags
    if task == "translator":
        return ["--train", write("train.tsv", [f"{s}\t{t}" for s, t in reverse_pairs(60, 0)]),
                "--dev", write("dev.tsv", [f"{s}\t{t}" for s, t in reverse_pairs(13, 1)])]
    corpus, header = {"sentiment": (sentiment_corpus, "text\tlabel"),
                      "char_classifier": (names_corpus, "name\tscript")}[task]
    flags = ["--text-column", "name", "--label-column", "script"] * (task == "char_classifier")
    for name, n in (("train", 60), ("dev", 13)):  # 13: a last dev batch of odd size
        texts, labels = corpus(n, n)
        flags += [f"--{name}", write(f"{name}.tsv", [header] + [f"{t}\t{y}" for t, y in
                                                                zip(texts, labels)])]
    return flags


SCORE = {"language_model": "perplexity", "tagger": "f1", "translator": "bleu",
         "sentiment": "accuracy", "char_classifier": "accuracy"}
MODULES = {"language_model": language_model, "tagger": tagger, "translator": translator,
           "sentiment": sentiment, "char_classifier": char_classifier}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(SCORE))
def test_each_task_trains_on_two_devices_and_evaluates_the_same_on_one(task, tmp_path):
    flags = _files(tmp_path, task) + ["--model", str(tmp_path / "m.keras")]
    batch = ["--set", "batch_size=4"] if task == "language_model" else []
    code = f"""
import json
from tasks.{task} import main
results = main(["train", "--preset", "tiny", "--devices", "2", *{flags + batch!r}])
print(json.dumps(float(results if isinstance(results, float) else results[{SCORE[task]!r}])))
"""
    distributed = run(code)
    again = MODULES[task].main(["evaluate", *flags])
    again = float(again if isinstance(again, float) else again[SCORE[task]])
    assert np.isclose(again, distributed, rtol=1e-4), (again, distributed)
    if task == "language_model":  # the carried BPTT state: the same run on one device
        alone = MODULES[task].main(["train", "--preset", "tiny", *flags, *batch])
        assert np.isclose(alone["perplexity"], distributed, rtol=1e-3)


def test_batches_must_split_evenly_and_devices_be_set_first():
    import keras

    keras.ops.convert_to_numpy(keras.ops.zeros(1))  # this process's backend has started
    with pytest.raises(ValueError, match="Received: devices=0"):
        distribution.configure(0)
    with pytest.raises(ValueError, match=r"Received: workers=\['localhost'\]"):
        distribution.configure(1, ["localhost"])  # no port
    with pytest.raises(ValueError, match="Received: worker_index=2"):
        distribution.configure(1, ["a:1", "b:1"], 2)
    assert distribution.replicas() == 1
    distribution.check_batch_size(7)  # one device: anything goes
    # This process has started its backend with one device: asking for two now says so.
    with pytest.raises(RuntimeError, match="first"):
        distribution.configure(2)
    code = """
import json
from tasks import distribution
distribution.configure(2)
try:
    distribution.check_batch_size(7)
except ValueError as e:
    print(json.dumps(str(e)))
"""
    assert "Received: batch_size=7" in run(code)


TWO_WORKERS = """
import json
from tasks import cli
from tasks.tagger import main

weights = []
save = cli.save


def spy(model, args):  # the weights this worker ends with
    weights.extend(w.tolist() for w in model.get_weights())
    save(model, args)


cli.save = spy
results = main(["train", "--preset", "tiny", *{flags!r}])
print("RESULT", json.dumps({{"f1": results["f1"], "accuracy": results["accuracy"],
                            "weights": weights}}))
"""


@pytest.mark.slow
def test_two_worker_processes_train_the_tagger_to_the_same_weights(tmp_path):
    """Two processes on localhost (JAX: jax.distributed with gloo CPU collectives; TF:
    MultiWorkerMirroredStrategy from TF_CONFIG) train the tagger's tiny preset together: both
    end with the same weights, the chief alone writes the model, and that model evaluates on
    one process to the score the run reported; one process on the same global batch agrees."""
    model = tmp_path / "m.keras"
    flags = _files(tmp_path, "tagger") + ["--model", str(model), "--backup-dir",
                                          str(tmp_path / "backup")]
    workers = ",".join(distribution.local_workers(2))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    logs = [tmp_path / f"worker{index}.log" for index in (0, 1)]  # files: a full pipe
    runs = []                                                      # would stall a worker
    for index, log in enumerate(logs):
        with open(log, "w") as out:
            runs.append(subprocess.Popen(
                [sys.executable, "-c", TWO_WORKERS.format(
                    flags=flags + ["--workers", workers, "--worker-index", str(index)])],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True))
    try:
        for run in runs:
            run.wait(timeout=600)
    finally:
        for run in runs:
            run.kill()
    outputs = [log.read_text() for log in logs]
    for run, output in zip(runs, outputs):
        assert run.returncode == 0, output[-3000:]
    chief, other = (json.loads(next(line[7:] for line in output.splitlines()
                                     if line.startswith("RESULT ")))
                    for output in outputs)
    assert "not saved here: worker 0 writes" in outputs[1]
    for a, b in zip(chief["weights"], other["weights"], strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (chief["f1"], chief["accuracy"]) == (other["f1"], other["accuracy"])
    assert not [p for p in tmp_path.iterdir() if "backup" in p.name]  # each deleted its own

    again = tagger.main(["evaluate", *flags])
    assert np.isclose(again["f1"], chief["f1"], rtol=1e-4), (again["f1"], chief["f1"])
    flags[flags.index(str(model))] = str(tmp_path / "alone.keras")
    tagger.main(["train", "--preset", "tiny", *flags])
    alone = keras.saving.load_model(tmp_path / "alone.keras").get_weights()
    for a, b in zip(alone, chief["weights"], strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)


RESUMABLE = """
import json
import keras
from tasks import cli
from tasks.tagger import main


class Report(keras.callbacks.Callback):  # runs after the backup's own callback
    def on_train_begin(self, logs=None):  # after BackupAndRestore has restored, if it did
        self.start = [w.tolist() for w in self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        print("RESULT", json.dumps({{"epoch": epoch, "start": self.start,
                                    "end": [w.tolist() for w in self.model.get_weights()]}}))
        if {interrupt}:
            raise SystemExit("interrupted after the first epoch")


callbacks = cli.train_callbacks
cli.train_callbacks = lambda args: [*callbacks(args), Report()]
main(["train", "--preset", "tiny", "--devices", "2", *{flags!r}])
"""


@pytest.mark.slow
def test_an_interrupted_run_on_two_devices_resumes_from_its_backup(tmp_path):
    """BackupAndRestore under the engine: a `--devices 2` run stopped after its first epoch
    leaves a backup; the same command then starts at the second epoch from exactly the weights
    the first epoch ended with, saves the model and deletes the backup."""
    flags = _files(tmp_path, "tagger") + ["--model", str(tmp_path / "m.keras"),
                                          "--backup-dir", str(tmp_path / "backup")]

    def reports(interrupt):
        done = subprocess.run([sys.executable, "-c", RESUMABLE.format(interrupt=interrupt,
                                                                      flags=flags)],
                              capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert done.returncode == (1 if interrupt else 0), done.stderr[-3000:]
        return [json.loads(line[7:]) for line in done.stdout.splitlines()
                if line.startswith("RESULT ")]

    (first,) = reports(interrupt=True)
    assert first["epoch"] == 0 and (tmp_path / "backup").is_dir()
    assert not (tmp_path / "m.keras").exists()
    (resumed,) = reports(interrupt=False)  # the tiny preset has 2 epochs: only the second runs
    assert resumed["epoch"] == 1
    for a, b in zip(first["end"], resumed["start"], strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (tmp_path / "m.keras").exists() and not (tmp_path / "backup").exists()
