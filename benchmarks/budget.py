"""The time budget the benchmark scripts share: a Keras callback that prints each epoch's
results and stops training at the first epoch end past `minutes` of wall time."""

import time

import keras


class Budget(keras.callbacks.Callback):
    """Prints `describe(logs)` after every epoch with the wall minutes so far, keeps
    `rows` = [(epoch, logs, wall minutes, process CPU minutes)], and stops training at the
    first epoch end past `minutes` (0: no limit)."""

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
        if self.minutes and wall >= self.minutes:
            self.model.stop_training = True
