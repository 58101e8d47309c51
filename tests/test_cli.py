"""The command-line plumbing every task script shares (`tasks.cli`)."""

import dataclasses
import os
import platform
import subprocess
import sys

import pytest

from tasks import cli


@dataclasses.dataclass
class Config:
    epochs: int = 2
    learning_rate: float = 1e-3
    lowercase: bool = True
    cell: str = "lstm"
    seed: int = 0


PRESETS = {"default": Config(), "tiny": Config(epochs=1)}


def parse(*argv):
    parser = cli.parser("demo", "A demo.\n\n    python -m tasks.demo train", ["train", "predict"],
                        PRESETS, "default")
    return parser.parse_intermixed_args(list(argv))


def test_inputs_may_come_after_options_and_defaults_follow_the_task_name():
    args = parse("predict", "--model", "m.keras", "first text", "--verbose", "second")
    assert args.inputs == ["first text", "second"] and args.model == "m.keras" and args.verbose
    args = parse("train")
    assert args.model == "saved_models/demo.keras" and args.out == "saved_models/demo"


def test_config_applies_preset_flags_and_set_overrides_in_order():
    args = parse("train", "--preset", "tiny", "--epochs", "5", "--set", "learning_rate=0.5",
                 "lowercase=false", "cell=gru")
    config = cli.config(args, PRESETS, cell="simple_rnn", seed=None)
    assert config == Config(epochs=5, learning_rate=0.5, lowercase=False, cell="gru", seed=0)
    assert cli.config(parse("train", "--seed", "3"), PRESETS).seed == 3
    assert cli.config(parse("train", "--cell", "qrnn"), PRESETS).cell == "qrnn"
    variant = "lstm:layer_norm=true,weight_drop=0.5"
    assert cli.config(parse("train", "--cell", variant), PRESETS).cell == variant


def test_a_bad_cell_variant_is_one_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        parse("train", "--cell", "lstm:weight_drop=2")
    assert stop.value.code == 2
    assert "Received: weight_drop=2.0" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["language_model", "tagger", "sentiment", "translator",
                                  "char_classifier"])
def test_every_script_takes_every_cell(task):
    """`--cell` is one shared flag: every task script lists every cell of tasks/cells.py."""
    import subprocess
    import sys

    from tasks.cells import CELLS

    done = subprocess.run([sys.executable, "-m", f"tasks.{task}", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "{" + ",".join(sorted(CELLS)) + "}" in done.stdout.replace("\n", "").replace(" ", "")


@pytest.mark.parametrize("item,message", [("epoch=3", "FIELD one of"), ("epochs", "FIELD one of"),
                                          ("epochs=two", "type int. Received: 'two'"),
                                          ("lowercase=maybe", "true or false")])
def test_bad_overrides_are_named(item, message):
    with pytest.raises(ValueError, match=message):
        cli.config(parse("train", "--set", item), PRESETS)


def test_the_model_path_is_checked_before_training(tmp_path):
    cli.check_model_path(str(tmp_path / "new" / "folders" / "model.keras"))  # created on save
    with pytest.raises(ValueError, match="must name a .keras file. Received: --model .*m.h5"):
        cli.check_model_path(str(tmp_path / "m.h5"))
    (tmp_path / "dir.keras").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        cli.check_model_path(str(tmp_path / "dir.keras"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="cannot write into"):
        cli.check_model_path(str(tmp_path / "file" / "model.keras"))
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ValueError, match="cannot write into"):
            cli.check_model_path(str(locked / "model.keras"))


def test_a_bad_model_path_fails_before_any_data_is_read_and_keeps_the_backup(tmp_path):
    from tasks import char_classifier

    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "checkpoint").write_text("weights of an interrupted run")
    missing = str(tmp_path / "no_such_file.tsv")  # never read: the path check comes first
    for bad in ("model.h5", "folder_that_is_a_file/model.keras"):
        (tmp_path / "folder_that_is_a_file").write_text("x")
        with pytest.raises(ValueError, match="--model"):
            char_classifier.main(["train", "--train", missing, "--dev", missing, "--model",
                                  str(tmp_path / bad), "--backup-dir", str(backup)])
    assert (backup / "checkpoint").read_text() == "weights of an interrupted run"


def test_the_backup_is_deleted_only_after_the_model_is_saved(tmp_path):
    class Model:
        def __init__(self, fails):
            self.fails = fails

        def save(self, path):
            if self.fails:
                raise OSError("disk full")
            open(path, "w").close()

    backup = tmp_path / "backup"
    backup.mkdir()
    args = parse("train", "--model", str(tmp_path / "m.keras"), "--backup-dir", str(backup))
    with pytest.raises(OSError):
        cli.save(Model(fails=True), args)
    assert backup.exists()
    cli.save(Model(fails=False), args)
    assert not backup.exists() and (tmp_path / "m.keras").exists()
    [callback] = cli.train_callbacks(args)
    assert callback.delete_checkpoint is False  # training's end leaves it to `save`


FAULTS = """
import resource, sys, threading
import numpy as np
{setup}
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():
    np.ones(16 * 2**20).sum()  # allocates, fills and frees 128 MB, as a training step does
def in_a_thread():  # as XLA:CPU runs a step: on a thread other than the main one
    thread = threading.Thread(target=step)
    thread.start()
    thread.join()
run = in_a_thread if {threads} else step
run()  # glibc's first block of that size
start = faults()
for _ in range(10):
    run()
print(faults() - start)
"""


def _page_faults(setup, env, threads=False):
    out = subprocess.run([sys.executable, "-c", FAULTS.format(setup=setup, threads=threads)],
                         env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_keep_freed_memory_stops_each_step_faulting_its_memory_in_again():
    env = {k: v for k, v in os.environ.items() if k not in cli.MALLOC_SETTINGS}
    block = 16 * 2**20 * 8 // 2**21  # the 128 MB block's pages, at most 2 MB each (huge pages)
    plain = _page_faults("", env)
    kept = _page_faults("from tasks.cli import keep_freed_memory\n"
                        "assert keep_freed_memory()", env)
    assert plain >= 10 * block  # glibc maps every step's block anew (the control)
    assert kept < block  # the first block's memory is reused
    # ... also when other threads allocate (a thread's own arena could not hold the block)
    assert _page_faults("", env, threads=True) >= 10 * block
    assert _page_faults("from tasks.cli import keep_freed_memory\n"
                        "assert keep_freed_memory()", env, threads=True) < block
    # a user's own allocator settings are left alone
    assert _page_faults("from tasks.cli import keep_freed_memory\n"
                        "assert not keep_freed_memory()",
                        dict(env, MALLOC_TOP_PAD_="0")) >= 10 * block
