"""Every task's SavedModel as a server uses it: empty batches get empty answers, and requests of
many lengths reuse a few compiled programs (batch and length are padded to buckets)."""

import pytest
from conftest import serve_in_fresh_process
from test_task_contract import TASKS

from tasks import export

CALLS = {  # how a server calls each endpoint, `texts` a tf string tensor
    "serve": "m.serve(texts)",
    "tag": "m.tag(texts)",
    "tag_tokens": "m.tag_tokens(tf.reshape(texts, [-1, 1]))",
    "translate": "m.translate(texts)",
    "translate_beam": "m.translate_beam(texts)",
    "attention": "m.attention(texts)",
    "generate": "m.generate(texts)",
    "score": "m.score(texts)",
    "sample": "m.sample(texts, 3, 1.0)",
}


@pytest.fixture(scope="module", params=sorted(TASKS))
def exported(request, tmp_path_factory):
    model = TASKS[request.param]()[0]
    path = str(tmp_path_factory.mktemp("served") / request.param)
    options = {"max_length": 4} if request.param == "language_model" else {}
    return export.export(model, path, **options), export.endpoints(model)


def test_empty_batches_and_a_bounded_number_of_compiled_programs(exported):
    path, endpoints = exported
    calls = "\n".join(f"    {name!r}: {CALLS[name]}," for name in endpoints)
    code = f"""
import json, pathlib, tensorflow as tf, tensorflow_text

m = tf.saved_model.load({path!r})

def call(texts):
    texts = tf.constant(texts, tf.string)
    return {{
{calls}
    }}

def sizes(out):
    return {{name: [int(v.shape[0]) for v in tf.nest.flatten(value)]
             for name, value in out.items()}}

empty = sizes(call([]))
maps = lambda: len(pathlib.Path("/proc/self/maps").read_text().splitlines())
warm = range(1, 41, 4)  # lengths that meet every bucket up to 40 words (or 79 characters)
for n in warm:
    call([" ".join(["a"] * n)])
before = maps()
for n in set(range(1, 41)) - set(warm):  # 30 new lengths, each in a bucket met above
    call([" ".join(["b"] * n)])
print(json.dumps({{"empty": empty, "new_maps": maps() - before}}))
"""
    served = serve_in_fresh_process(code)
    assert served["empty"] == {name: [0] * len(sizes) for name, sizes in served["empty"].items()}
    assert sorted(served["empty"]) == sorted(endpoints)
    # A new compiled program maps 70-140 regions on this machine; reused ones map none.
    assert served["new_maps"] < 40, served


@pytest.mark.parametrize("task", ["language_model", "tagger"])
def test_inputs_longer_than_max_input_length(task, tmp_path):
    """Generation keeps a prompt's last `max_input_length` tokens; scoring and tagging refuse a
    longer text with an error naming the limit (never an answer for part of it)."""
    model = TASKS[task]()[0]
    path = export.export(model, str(tmp_path / task), max_input_length=8,
                         **({"max_length": 4} if task == "language_model" else {}))
    code = f"""
import json, tensorflow as tf, tensorflow_text

m = tf.saved_model.load({path!r})
words = [f"w{{i}}" for i in range(12)]
out = {{}}
def refused(call):
    try:
        call()
    except tf.errors.InvalidArgumentError as e:
        return e.message
if {task == "language_model"}:
    long, cut = m.generate(tf.constant([" ".join(words), " ".join(words[-8:])]))
    out["same_continuation"] = bool(long == cut)
    out["accepted"] = int(m.score(tf.constant([" ".join(words[:8])]))["num_tokens"][0])
    out["refused"] = refused(lambda: m.score(tf.constant([" ".join(words[:9]), "a"])))
else:
    out["accepted"] = int(m.tag(tf.constant([" ".join(words[:8])]))["lengths"][0])
    out["refused"] = refused(lambda: m.tag(tf.constant(["a", " ".join(words[:9])])))
    out["refused_tokens"] = refused(lambda: m.tag_tokens(tf.constant([words[:9]])))
print(json.dumps(out))
"""
    served = serve_in_fresh_process(code)
    assert served["accepted"] == (9 if task == "language_model" else 8)  # LM: 8 words + [EOS]
    assert "max_input_length=8" in served["refused"], served
    if task == "language_model":
        assert served["same_continuation"]
    else:
        assert "max_input_length=8" in served["refused_tokens"], served
    with pytest.raises(ValueError, match="Received: max_input_length=0"):
        export.export(model, str(tmp_path / "bad"), max_input_length=0)
