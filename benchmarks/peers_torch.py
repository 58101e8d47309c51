"""The four task models written in PyTorch, for `benchmarks/peers.py` (torch is optional and
never a dependency of kerasrnn).

Run by `peers.py` as its own process, so that no TensorFlow or JAX runtime shares the CPU
with torch's (in one process with TensorFlow, torch's steps ran up to 2x slower):

    python benchmarks/peers_torch.py BATCHES.pkl --rounds 3

reads what the Keras side wrote (per task: the preset's sizes and training settings as a
`spec`, its batches as numpy arrays, their real tokens) and prints tokens/s per task as JSON.
Each task function below takes a `spec` and returns `step(batch)`, one training step on one
batch of the Keras task's own features: the same batches, shapes, losses, optimizer and
clipping as the task, written the way a PyTorch user would write them (`nn.LSTM` with packed
sequences for padded batches, the decoder as a Python loop over `nn.LSTMCell`).

- language model: embedding -> `nn.LSTM` -> tied output layer; the state carried over
  batches (truncated BPTT, detached); SGD with global-norm clipping, as pytorch/examples'
  `word_language_model` (and the `default` preset).
- tagger: word, casing and character-BiLSTM vectors -> 2-layer `nn.LSTM(bidirectional)` ->
  potentials -> CRF negative log-likelihood (forward algorithm) or token cross-entropy; word
  dropout; Adam with each weight's gradient clipped to norm 5 (Keras' `clipnorm`).
- sentiment: embedding -> `nn.LSTM(bidirectional)` -> max over real steps -> classes;
  Adam, clipnorm and a 0.999 moving average of the weights (Keras' `use_ema`).
- translator: bidirectional encoder, bridges to the decoder's start state, an
  `nn.LSTMCell` decoder with input feeding and "general" attention, label-smoothed
  cross-entropy over real target tokens; Adam with clipnorm.
"""

import json
import math
import os
import pickle
import sys
import time
from types import SimpleNamespace

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

UNK_ID = 1  # tasks.tokenizers: [PAD] 0, [UNK] 1


def _tensors(batch):
    """A Keras batch (features dict, y[, sample_weight]) of numpy arrays -> the features and y
    as torch tensors. The sample weight is the padding mask, which the features hold too."""
    features, y = batch[:2]
    return {k: torch.tensor(v) for k, v in features.items()}, torch.tensor(y)


def _clip_each(parameters, norm):
    """Keras' `clipnorm`: each weight's gradient to at most `norm` (not all together)."""
    for p in parameters:
        if p.grad is not None:
            nn.utils.clip_grad_norm_([p], norm)


def _packed_lstm(lstm, x, mask):
    """A padded batch through `lstm` as packed sequences: (outputs (B, T, H) zero on padding,
    h_n). Rows with no real step give zeros."""
    lengths = mask.sum(1)
    real = lengths > 0
    out = x.new_zeros(x.shape[0], x.shape[1], lstm.hidden_size * (1 + lstm.bidirectional))
    h_n = x.new_zeros(lstm.num_layers * (1 + lstm.bidirectional), x.shape[0], lstm.hidden_size)
    if real.any():
        packed = pack_padded_sequence(x[real], lengths[real].cpu(), batch_first=True,
                                      enforce_sorted=False)
        y, (h, _) = lstm(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        out[real], h_n[:, real] = y, h
    return out, h_n


def _train_step(model, optimizer, loss_fn, clip, after=None):
    def step(batch):
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(*_tensors(batch))
        loss.backward()
        clip(list(model.parameters()))
        optimizer.step()
        if after is not None:
            after()
        return float(loss.detach())

    return step


# -- language model -------------------------------------------------------------------------
class LanguageModel(nn.Module):
    def __init__(self, k, init_scale):
        super().__init__()
        vocab = k.vocab
        self.embedding = nn.Embedding(vocab, k.embed_dim)
        self.lstm = nn.LSTM(k.embed_dim, k.units, k.num_layers, batch_first=True)
        if k.tie_embeddings and k.units != k.embed_dim:
            raise ValueError("peers: a tied torch LM needs units == embed_dim.")
        self.decoder = None if k.tie_embeddings else nn.Linear(k.units, vocab, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab))
        for p in self.parameters():
            nn.init.uniform_(p, -init_scale, init_scale)

    def forward(self, ids, state):
        h, state = self.lstm(self.embedding(ids), state)
        weight = self.embedding.weight if self.decoder is None else self.decoder.weight
        return h @ weight.T + self.bias, state


def language_model(config, evaluate=False):
    """pytorch/examples `word_language_model` in the task's shape (SGD, global-norm clip),
    its state carried over batches. `evaluate`: also returns `perplexity(batches)`."""
    if config.optimizer != "sgd" or config.batching != "bptt" or config.cell != "lstm":
        raise ValueError("peers: the torch LM is an LSTM trained by SGD on BPTT batches.")
    model = LanguageModel(config, config.init_scale)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate)
    carried = [None]

    def loss_fn(features, y):
        logits, state = model(features["token_ids"].long(), carried[0])
        carried[0] = tuple(s.detach() for s in state)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           y.reshape(-1).long())

    def clip(parameters):
        nn.utils.clip_grad_norm_(parameters, config.global_clipnorm)

    step = _train_step(model, optimizer, loss_fn, clip)
    if not evaluate:
        return step

    def perplexity(batches):
        model.eval()
        carried[0], total, count = None, 0.0, 0
        with torch.no_grad():
            for batch in batches:
                features, y = _tensors(batch)
                total += float(loss_fn(features, y)) * y.numel()
                count += y.numel()
        carried[0] = None
        return math.exp(total / count)

    return step, perplexity


# -- tagger -----------------------------------------------------------------------------------
class CRF(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(k, k))
        self.start, self.end = nn.Parameter(torch.zeros(k)), nn.Parameter(torch.zeros(k))

    def log_likelihood(self, phi, tags, mask):
        """Per sentence: score(tags) - log Σ exp score(any), over each row's real steps."""
        b, steps, _ = phi.shape
        rows = torch.arange(b)
        m = mask.float()
        gold = self.start[tags[:, 0]] + phi[rows, 0, tags[:, 0]]
        alpha = self.start + phi[:, 0]
        for t in range(1, steps):
            gold = gold + m[:, t] * (phi[rows, t, tags[:, t]]
                                     + self.transitions[tags[:, t - 1], tags[:, t]])
            nxt = torch.logsumexp(alpha[:, :, None] + self.transitions, dim=1) + phi[:, t]
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        last = tags[rows, mask.sum(1).clamp(min=1) - 1]
        return gold + self.end[last] - torch.logsumexp(alpha + self.end, dim=1)


class Tagger(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.word_dropout = k.word_dropout
        self.words = nn.Embedding(k.words, k.embed_dim)
        self.cases = nn.Embedding(k.cases, 8)
        self.chars = nn.Embedding(k.chars, k.char_dim)
        self.char_lstm = nn.LSTM(k.char_dim, k.char_units, batch_first=True, bidirectional=True)
        self.lstm = nn.LSTM(k.embed_dim + 8 + 2 * k.char_units, k.units, k.num_layers,
                            batch_first=True, bidirectional=True, dropout=k.dropout)
        self.drop = nn.Dropout(k.dropout)
        self.potentials = nn.Linear(2 * k.units, k.tags)
        self.crf = CRF(k.tags) if k.head == "crf" else None

    def forward(self, f):
        mask = f["padding_mask"].bool()
        ids = f["token_ids"].long()
        if self.training and self.word_dropout:
            ids = torch.where((torch.rand(ids.shape) < self.word_dropout) & mask, UNK_ID, ids)
        chars = f["char_ids"].long()
        b, steps, width = chars.shape
        flat = chars.reshape(-1, width)
        _, h_n = _packed_lstm(self.char_lstm, self.chars(flat), flat != 0)
        words = torch.cat([h_n[0], h_n[1]], -1).reshape(b, steps, -1)
        x = torch.cat([self.words(ids), self.cases(f["case_ids"].long()), words], -1)
        h, _ = _packed_lstm(self.lstm, self.drop(x), mask)
        return self.potentials(self.drop(h)), mask


def tagger(config):
    model = Tagger(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    def loss_fn(features, y):
        phi, mask = model(features)
        y = y.long()
        if model.crf is not None:
            return -model.crf.log_likelihood(phi, y, mask).sum() / mask.sum()
        loss = nn.functional.cross_entropy(phi.transpose(1, 2), y, reduction="none")
        return (loss * mask).sum() / mask.sum()

    return _train_step(model, optimizer, loss_fn, lambda ps: _clip_each(ps, config.clipnorm))


# -- sentiment ------------------------------------------------------------------------------
class Classifier(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.embedding = nn.Embedding(k.vocab, k.embed_dim)
        self.embedding_drop, self.drop = nn.Dropout(k.embedding_dropout), nn.Dropout(k.dropout)
        self.lstm = nn.LSTM(k.embed_dim, k.units, k.num_layers, batch_first=True,
                            bidirectional=True)
        self.classifier = nn.Linear(2 * k.units, k.labels)

    def forward(self, f):
        mask = f["padding_mask"].bool()
        h, _ = _packed_lstm(self.lstm, self.embedding_drop(self.embedding(f["token_ids"].long())),
                            mask)
        pooled = h.masked_fill(~mask[..., None], -1e9).max(1).values
        return self.classifier(self.drop(pooled))


def sentiment(config):
    if config.pooling != "max":
        raise ValueError(f"peers: only max pooling is written in torch. Received: "
                         f"pooling={config.pooling!r}")
    model = Classifier(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    params = list(model.parameters())
    average = [p.detach().clone() for p in params]

    def ema():
        with torch.no_grad():
            torch._foreach_lerp_(average, [p.detach() for p in params], 1 - config.ema_momentum)

    def loss_fn(features, y):
        return nn.functional.cross_entropy(model(features), y.long())

    return _train_step(model, optimizer, loss_fn, lambda ps: _clip_each(ps, config.clipnorm),
                       after=ema if config.ema_momentum else None)


# -- translator -----------------------------------------------------------------------------
class Translator(nn.Module):
    def __init__(self, k):
        super().__init__()
        if k.attention != "general" or k.num_layers != 1 or k.cell != "lstm":
            raise ValueError("peers: the torch translator is the default one (one LSTM layer "
                             "each side, general attention).")
        width = 2 * k.units
        self.source = nn.Embedding(k.source_vocab, k.embed_dim)
        self.target = nn.Embedding(k.target_vocab, k.embed_dim)
        self.encoder = nn.LSTM(k.embed_dim, k.units, batch_first=True, bidirectional=True)
        self.bridge_h, self.bridge_c = nn.Linear(width, width), nn.Linear(width, width)
        self.decoder = nn.LSTMCell(k.embed_dim + width, width)
        self.keys = nn.Linear(width, width, bias=False)
        self.combine = nn.Linear(2 * width, width, bias=False)
        self.drop = nn.Dropout(k.dropout)
        self.output = nn.Linear(width, k.target_vocab)

    def forward(self, f):
        source_mask = f["encoder_padding_mask"].bool()
        x = self.drop(self.source(f["encoder_token_ids"].long()))
        lengths = source_mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        memory, (h, c) = self.encoder(packed)
        memory, _ = pad_packed_sequence(memory, batch_first=True, total_length=x.shape[1])
        h = torch.tanh(self.bridge_h(torch.cat([h[0], h[1]], -1)))
        c = self.bridge_c(torch.cat([c[0], c[1]], -1))
        keys = self.keys(memory)
        feed = torch.zeros_like(h)
        y = self.drop(self.target(f["decoder_token_ids"].long()))
        outs = []
        for t in range(y.shape[1]):
            h, c = self.decoder(torch.cat([y[:, t], feed], -1), (h, c))
            scores = torch.bmm(keys, h[:, :, None])[..., 0].masked_fill(~source_mask, -1e9)
            weights = torch.softmax(scores, -1) * source_mask
            context = torch.bmm(weights[:, None], memory)[:, 0]
            feed = torch.tanh(self.combine(torch.cat([context, h], -1)))
            outs.append(feed)
        return self.output(self.drop(torch.stack(outs, 1)))


def translator(config):
    model = Translator(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    def loss_fn(features, y):
        logits = model(features)
        loss = nn.functional.cross_entropy(logits.transpose(1, 2), y.long(), reduction="none",
                                           label_smoothing=config.label_smoothing)
        mask = features["decoder_padding_mask"].float()
        return (loss * mask).sum() / mask.sum()

    return _train_step(model, optimizer, loss_fn, lambda ps: _clip_each(ps, config.clipnorm))


# -- the measuring process -------------------------------------------------------------------
def measure(spec, batches, tokens, rounds):
    """Tokens/s of the fastest of `rounds` passes over `batches`, after one untimed pass."""
    step = globals()[spec.task](spec)
    best = float("inf")
    for r in range(rounds + 1):
        start = time.perf_counter()
        for batch in batches:
            step(batch)
        if r:
            best = min(best, time.perf_counter() - start)
    return tokens / best


def ptb_epoch(spec, train, dev):
    """(seconds, dev perplexity) of one epoch over `train` and the dev pass."""
    step, perplexity = language_model(spec, evaluate=True)
    start = time.perf_counter()
    for batch in train:
        step(batch)
    dev_perplexity = perplexity(dev)
    return time.perf_counter() - start, dev_perplexity


def main():
    path, rounds = sys.argv[1], int(sys.argv[sys.argv.index("--rounds") + 1])
    with open(path, "rb") as f:
        data = pickle.load(f)
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    results = {}
    for task, (spec, *rest) in data.items():
        spec = SimpleNamespace(**spec)
        results[task] = ptb_epoch(spec, *rest) if task == "ptb_epoch" else measure(
            spec, *rest, rounds)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
