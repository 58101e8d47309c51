"""`python -m tasks.serve` as a client sees it: every task's tiny model exported by this module,
served in a subprocess (where JAX, kerasrnn and the task code cannot be imported), answering
TF Serving's REST requests with the SavedModels' own outputs; bad requests get a 4xx with a
message and the server goes on; concurrent clients get their own answers; the page works in
headless Chromium."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading

import keras
import pytest
from conftest import serve_in_fresh_process
from test_task_contract import PAIRS, TASKS, TEXTS

from benchmarks.serving import fill_page, request, start_server, stop_server
from tasks import export
from tasks import sentiment as st
from tasks import translator as tr

pytestmark = pytest.mark.slow  # a server process and a browser, end to end

LIMITS = ["--max-instances", "8", "--max-text-length", "200", "--max-body-bytes", "20000"]
SENTENCES = ["John met Mary in Paris", "the cat sat", "a good film", "Acme sold it today"]
# Every string signature with the inputs a client sends, as columns. The row format sends the
# same texts one instance each, but for UNBATCHED signatures, which take scalar inputs too.
CALLS = {
    "tagger": {"tag": {"sentences": SENTENCES},
               "tag_tokens": {"tokens": [["John", "met"], ["Mary", ""]]}},
    "sentiment": {"serve": {"texts": SENTENCES}, "attention": {"texts": SENTENCES}},
    "translator": {name: {"texts": ["a b c", "d e", "f"]}
                   for name in ("translate", "translate_beam", "attention")},
    "language_model": {"generate": {"texts": ["the cat", "a dog ran"]},
                       "score": {"texts": ["the cat sat", "a dog"]},
                       "sample": {"texts": ["the cat", "a"], "seed": 3, "temperature": 0.7}},
}
UNBATCHED = {"sample"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The four task kinds exported (the classifier with attention pooling, the translator
    with WordPiece), from a fixed seed whatever ran before in this process."""
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("models")
    for name in ("tagger", "translator", "language_model"):
        model = TASKS[name]()[0]
        if name == "translator":  # WordPiece, as the default presets: TF Text ops in the graph
            config = dataclasses.replace(tr.PRESETS["tiny"], tokenization="wordpiece")
            model = tr.build_model(config, PAIRS)
        options = {"tagger": {"max_input_length": 16},
                   "language_model": {"max_length": 4}}.get(name, {})
        export.export(model, str(folder / name), **options)
    config = dataclasses.replace(st.PRESETS["tiny"], pooling="attention")
    model = st.build_model(config, st.make_preprocessor(TEXTS, config), ["negative", "positive"])
    export.export(model, str(folder / "sentiment"))
    return str(folder)


@pytest.fixture(scope="module")
def expected(models):
    """Each signature's outputs for CALLS' column inputs, from the SavedModel called directly
    in a TensorFlow-only process."""
    code = f"""
import json, numpy as np, tensorflow as tf, tensorflow_text
def plain(a):
    a = np.asarray(a)
    if a.dtype.kind in "SO":
        return np.vectorize(lambda b: b.decode())(a).tolist() if a.size else a.tolist()
    return a.tolist()

calls, out = json.loads({json.dumps(CALLS)!r}), {{}}
for model, signatures in calls.items():
    m = tf.saved_model.load({models!r} + "/" + model)
    for name, inputs in signatures.items():
        fn = m.signatures[name]
        specs = fn.structured_input_signature[1]
        answer = fn(**{{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()}})
        out[model + "/" + name] = {{k: plain(v) for k, v in answer.items()}}
print(json.dumps(out))
"""
    return serve_in_fresh_process(code)


@pytest.fixture(scope="module")
def server(models):
    process, port = start_server(models, *LIMITS)
    yield port
    log = stop_server(process)
    assert "Traceback" not in log, log[-3000:]


def predict(port, model, body, version=None):
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    return request(port, "POST", path, body)


def same(answer, want):
    """JSON values equal, floats to 1e-5."""
    if isinstance(want, dict):
        return isinstance(answer, dict) and answer.keys() == want.keys() and all(
            same(answer[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(answer, list) and len(answer) == len(want) and all(
            same(a, w) for a, w in zip(answer, want))
    if isinstance(want, float):
        return isinstance(answer, (int, float)) and abs(answer - want) <= 1e-5
    return answer == want


def test_status_metadata_listing_health_and_page(server):
    status, listing = request(server, "GET", "/v1/models")
    assert status == 200
    kinds = {m["name"]: (m["kind"], m["signatures"]) for m in listing["models"]}
    assert kinds == {
        "tagger": ("tagger", ["serving_default", "tag", "tag_tokens"]),
        "sentiment": ("classifier", ["attention", "serve", "serving_default"]),
        "translator": ("translator", ["attention", "serving_default", "translate",
                                      "translate_beam"]),
        "language_model": ("language_model", ["generate", "sample", "score",
                                              "serving_default"])}
    for name in kinds:
        for path in (f"/v1/models/{name}", f"/v1/models/{name}/versions/1"):
            assert request(server, "GET", path) == (200, {"model_version_status": [{
                "version": "1", "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""}}]})
    status, metadata = request(server, "GET", "/v1/models/language_model/metadata")
    signature = metadata["metadata"]["signature_def"]["signature_def"]["sample"]
    assert status == 200 and metadata["model_spec"]["name"] == "language_model"
    assert {k: v["dtype"] for k, v in signature["inputs"].items()} == {
        "texts": "DT_STRING", "seed": "DT_INT32", "temperature": "DT_FLOAT"}
    assert signature["inputs"]["texts"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert request(server, "GET", "/healthz")[1]["status"] == "ok"
    status, page = request(server, "GET", "/")
    assert status == 200 and "<html" in page and "/v1/models" in page


def test_every_signature_answers_as_the_saved_model_in_both_request_shapes(server, expected):
    for model, signatures in CALLS.items():
        for name, columns in signatures.items():
            want = expected[f"{model}/{name}"]
            status, answer = predict(server, model, {"signature_name": name, "inputs": columns})
            single = want["output_0"] if list(want) == ["output_0"] else want
            assert status == 200 and same(answer["outputs"], single), (model, name, answer)
            if name in UNBATCHED:  # the row format is refused with the way out
                status, answer = predict(server, model, {"signature_name": name,
                                                         "instances": [{"texts": "a"}]})
                assert status == 400 and "\"inputs\"" in answer["error"], answer
                continue
            instances = [dict(zip(columns, r)) if i % 2 else r[0]  # named or bare, mixed
                         for i, r in enumerate(zip(*columns.values()))]
            status, answer = predict(server, model, {"signature_name": name,
                                                     "instances": instances})
            assert status == 200, answer
            for i, row in enumerate(answer["predictions"]):
                if list(want) == ["output_0"]:
                    assert same(row, want["output_0"][i]), (model, name, i, row)
                else:
                    assert same(row, {k: v[i] for k, v in want.items()}), (model, name, row)
    # No signature_name: serving_default, the task's default endpoint.
    status, answer = predict(server, "tagger", {"instances": SENTENCES}, version=1)
    assert status == 200 and [r["tags"] for r in answer["predictions"]] == \
        expected["tagger/tag"]["tags"]


BAD = [  # (model, body, status, part of the message)
    ("tagger", b"{\"instances\": [", 400, "not valid JSON"),
    ("tagger", b"\xff\xfe", 400, "not valid JSON"),
    ("tagger", ["a"], 400, "must be a JSON object"),
    ("tagger", {"signature_name": "tag"}, 400, "exactly one of"),
    ("tagger", {"instances": ["a"], "inputs": ["a"]}, 400, "exactly one of"),
    ("tagger", {"instances": "John met Mary"}, 400, "must be an array"),
    ("tagger", {"instances": [1, 2]}, 400, "takes strings. Received: a JSON int"),
    ("tagger", {"instances": [["John"]]}, 400, "1 dimension(s)"),
    ("tagger", {"instances": ["a"] * 9}, 413, "max_instances=8"),
    ("tagger", {"instances": ["a" * 201]}, 413, "max_text_length=200"),
    ("tagger", {"instances": ["w " * 17]}, 400, "max_input_length=16"),
    ("tagger", {"signature_name": "tag_tokens", "inputs": [["a", "b"], ["c"]]}, 400,
     "rows of different lengths"),
    ("tagger", {"signature_name": "tag_ids", "instances": ["a"]}, 400, "no signature 'tag_ids'"),
    ("tagger", {"instances": [{"text": "a"}]}, 400, "must name the inputs ['sentences']"),
    ("tagger", {"instances": ["x" * 100] * 250}, 413, "max_body_bytes=20000"),
    ("nothing", {"instances": ["a"]}, 404, "Servable not found"),
    ("language_model", {"signature_name": "sample", "inputs": {
        "texts": ["a"], "seed": 1, "temperature": 0.0}}, 400, "temperature"),
    ("language_model", {"signature_name": "sample", "inputs": {
        "texts": ["a"], "seed": 1, "temperature": "hot"}}, 400, "float32 numbers"),
    ("language_model", {"signature_name": "sample", "inputs": {"texts": ["a"], "seed": 1}},
     400, "must name the inputs"),
]


def test_bad_requests_get_a_4xx_with_a_message_and_the_server_goes_on(server, expected):
    for model, body, status, message in BAD:
        got, answer = predict(server, model, body)
        assert got == status and message in answer["error"], (body, got, answer)
    got, answer = predict(server, "tagger", {"instances": ["a"]}, version=2)
    assert got == 404 and "version '2'" in answer["error"]
    status, answer = predict(server, "tagger", {"inputs": SENTENCES})
    assert status == 200 and answer["outputs"]["tags"] == expected["tagger/tag"]["tags"]


def test_concurrent_clients_get_their_own_answers(server, expected):
    """8 clients x 50 requests over every model, each request one text: nothing lost, no
    answer given to the wrong request."""
    jobs = [(model, name, i) for model in ("tagger", "sentiment", "translator")
            for name in ("tag", "serve", "translate") if f"{model}/{name}" in expected
            for i in range(3)]
    answers, errors = [], []

    def client(c):
        for r in range(50):
            model, name, i = jobs[(7 * c + r) % len(jobs)]
            text = CALLS[model][name]["sentences" if model == "tagger" else "texts"][i]
            status, answer = predict(server, model, {"signature_name": name,
                                                     "instances": [text]})
            if status != 200:
                errors.append(answer)
            else:
                answers.append(((model, name, i), answer["predictions"][0]))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(answers) == 400
    for (model, name, i), got in answers:
        want = expected[f"{model}/{name}"]
        want = want["output_0"][i] if list(want) == ["output_0"] else {
            k: v[i] for k, v in want.items()}
        if model == "tagger":  # alone in its batch, a sentence's tags are not padded
            want = {"lengths": want["lengths"], "tags": want["tags"][: want["lengths"]]}
        assert same(got, want), (model, name, i, got)


def chromium_missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(path):
            return f"no {path}: apt-get install chromium chromium-driver (.ci/run does)"


@pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))
def test_the_page_in_headless_chromium(server, tmp_path):
    screenshot = tmp_path / "page.png"
    panels = fill_page(server, str(screenshot))
    assert {name: kind for name, (kind, _, _) in panels.items()} == {
        "tagger": "tagger", "sentiment": "classifier", "translator": "translator",
        "language_model": "language_model"}
    assert all(state == "done" for _, state, _ in panels.values()), panels
    # Each panel shows what the server answers for its example text.
    tags = predict(server, "tagger", {"instances": ["John lives in New York ."]})[1]
    words_and_tags = panels["tagger"][2].split("\n")[2:]  # after the title and the button
    assert words_and_tags[1::2] == tags["predictions"][0]["tags"], words_and_tags
    label = predict(server, "sentiment", {"instances": ["a gripping, beautifully acted film"]})
    assert label[1]["predictions"][0]["label"] in panels["sentiment"][2]
    assert "attention over the words" in panels["sentiment"][2]
    greedy = predict(server, "translator", {"instances": ["ein mann fährt mit dem fahrrad ."]})[1]
    shown = [line for line in panels["translator"][2].split("\n") if line.startswith("greedy:")]
    # an untrained model may translate to "": the page's text then ends at "greedy:"
    assert [line[len("greedy:"):].strip() for line in shown] == [greedy["predictions"][0].strip()]
    assert "attention of each target token" in panels["translator"][2]
    continued = predict(server, "language_model", {"instances": ["the company said"]})[1]
    assert continued["predictions"][0] in panels["language_model"][2]
    assert "per-token surprise" in panels["language_model"][2]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_folders_and_options(tmp_path, models):
    """TF Serving's numbered version folders, a SavedModel folder itself, and clear errors."""
    from tasks.serve.models import Limits, find_models

    shutil.copytree(os.path.join(models, "tagger"), tmp_path / "v" / "ner" / "3")
    (tmp_path / "v" / "ner" / "1").mkdir()
    (tmp_path / "v" / "ner" / "1" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "v" / "ner" / "notes").mkdir()
    assert find_models(str(tmp_path / "v")) == {"ner": (3, str(tmp_path / "v" / "ner" / "3"))}
    assert find_models(os.path.join(models, "tagger")) == {
        "tagger": (1, os.path.join(models, "tagger"))}
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no SavedModel in"):
        find_models(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="not a folder"):
        find_models(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="Received: max_instances=0"):
        Limits(max_instances=0)
    done = subprocess.run([sys.executable, "-m", "tasks.serve", "--models",
                           str(tmp_path / "empty")], capture_output=True, text=True)
    assert done.returncode == 2 and "no SavedModel in" in done.stderr, done.stderr[-2000:]
