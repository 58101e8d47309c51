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
    "generate": "m.generate(texts)",
    "score": "m.score(texts)",
    "sample": "m.sample(texts, 3, 1.0)",
}


@pytest.fixture(scope="module", params=sorted(TASKS))
def exported(request, tmp_path_factory):
    model = TASKS[request.param]()[0]
    path = str(tmp_path_factory.mktemp("served") / request.param)
    options = {"max_length": 4} if request.param == "language_model" else {}
    return export.export(model, path, **options), export.ENDPOINTS[model.serving]


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
