"""What the benchmark scripts share: the time budget (a Keras callback that prints each epoch's
results and stops training before an epoch that would end past `minutes` of wall time).
`--set FIELD=VALUE` overrides are the task scripts' own (`tasks.cli.with_overrides`)."""

import time

import keras


class Budget(keras.callbacks.Callback):
    """Prints `describe(logs)` after every epoch with the wall minutes so far, keeps
    `rows` = [(epoch, logs, wall minutes, process CPU minutes)], and stops training when one
    more epoch, as long as the slowest so far after the first (which also compiles), would end
    past `minutes` (0: no limit). Training time stays within the budget."""

    def __init__(self, minutes, describe):
        super().__init__()
        self.minutes, self.describe, self.rows = minutes, describe, []

    def on_train_begin(self, logs=None):
        self.start, self.cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        wall = (time.perf_counter() - self.start) / 60
        cpu = (time.process_time() - self.cpu) / 60
        self.rows.append((epoch + 1, dict(logs), wall, cpu))
        print(f"  epoch {epoch + 1}: {self.describe(logs)} ({wall:.1f} min)", flush=True)
        durations = [b[2] - a[2] for a, b in zip(self.rows, self.rows[1:])] or [wall]
        if self.minutes and wall + max(durations) > self.minutes:
            self.model.stop_training = True
