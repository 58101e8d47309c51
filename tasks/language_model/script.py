"""`python -m tasks.language_model`: train, evaluate, generate, export, compare.

    python -m tasks.language_model train                  # packaged PTB, a few minutes
    python -m tasks.language_model train --preset small --data ptb --data-dir ../shared/data
    python -m tasks.language_model train --preset encoder --init general.keras --data reviews.txt
    python -m tasks.language_model evaluate --model saved_models/language_model.keras
    python -m tasks.language_model evaluate --data ptb --data-dir ../shared/data --split test
    python -m tasks.language_model generate --model ... "the company said" --sampler top_p
    python -m tasks.language_model export --model ... --out saved_models/language_model
    python -m tasks.language_model compare                # n-gram vs window vs RNNs
"""

import keras

from tasks import cli
from tasks.language_model import recipe

COMMANDS = ("train", "evaluate", "generate", "export", "compare")


def main(argv=None):
    parser = cli.parser("language_model", __doc__, COMMANDS, recipe.PRESETS, "default")
    parser.add_argument("--level", choices=["word", "char"], help="override the preset's level")
    parser.add_argument("--sampler", default="greedy",
                        choices=["greedy", "random", "top_k", "top_p", "beam"])
    parser.add_argument("--max-length", type=int, default=30, help="tokens to generate")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--num-beams", type=int, default=5)
    parser.add_argument("--split", choices=recipe.SPLITS, default="dev",
                        help="evaluate: which part of --data (all: a whole text file)")
    parser.add_argument("--init", help="train: go on from this trained .keras LM (its vocabulary "
                        "and weights) on --data: fine-tuning on new text")
    args = cli.arguments(parser, argv)
    verbose = cli.keras_verbosity(args)

    if args.command == "compare":
        from tasks.language_model import baselines

        args.preset = args.preset if args.preset != "default" else "compare"
        config = cli.config(args, recipe.PRESETS)
        train_lines, dev_lines = recipe.load_corpus(args.data, args.data_dir)
        rows = baselines.compare(config, train_lines, dev_lines, verbose=verbose)
        print(baselines.table(rows))
        return rows

    if args.command == "train":
        config = cli.config(args, recipe.PRESETS, level=args.level)
        cli.check_model_path(args.model)
        cli.banner("language model", config)
        train_lines, dev_lines = recipe.load_corpus(args.data, args.data_dir)
        init = keras.saving.load_model(args.init, compile=False) if args.init else None
        model, _, results = recipe.train(config, train_lines, dev_lines,
                                         cli.train_callbacks(args), verbose, init=init)
        cli.save(model, args)
        unit = "bits per character" if config.level == "char" else "perplexity"
        shown = results.get("bits_per_character", results["perplexity"])
        print(f"\ntrained on {results['train_tokens']:,} tokens (vocabulary "
              f"{results['vocabulary_size']:,}, {results['parameters']:,} parameters) in "
              f"{results['train_seconds']:.0f} s\ndev {unit}: {shown:.3f}")
        prompt = "the company said" if config.level == "word" else "the "
        print(f"greedy: {model.generate([prompt], max_length=args.max_length)[0]}")
        top_p = model.generate([prompt], max_length=args.max_length, sampler="top_p",
                               top_p=args.top_p, seed=config.seed)[0]
        print(f"top-p {args.top_p} (seed {config.seed}): {top_p}")
        return results

    model = cli.load(args)
    if args.command == "evaluate":  # batched as the model trained (its own settings)
        lines = recipe.load_split(args.data, args.data_dir, args.split)
        results = model.evaluate(lines, verbose=verbose, return_dict=True)
        print(" ".join(f"{k}={v:.4f}" for k, v in results.items()))
        return results
    if args.command == "generate":
        prompts = args.inputs or ["the company said", "in the first quarter", "mr."]
        texts = model.generate(prompts, max_length=args.max_length, sampler=args.sampler,
                               seed=args.seed or 0, temperature=args.temperature,
                               top_k=args.top_k, top_p=args.top_p, num_beams=args.num_beams)
        print("\n".join(texts))
        return texts
    return cli.export(model, args, max_length=args.max_length)
