"""`python -m tasks.tagger`: train, evaluate, predict, export.

    python -m tasks.tagger train --scheme pos --train ud_english_ewt/en_ewt-ud-train.conllu \
        --dev ud_english_ewt/en_ewt-ud-dev.conllu --data-dir ../shared/data
    python -m tasks.tagger train --scheme ner --train conll2003/eng.train \
        --dev conll2003/eng.testa --data-dir ../shared/data --head crf
    python -m tasks.tagger evaluate --model saved_models/tagger.keras --dev ...
    python -m tasks.tagger predict --model ... "John lives in New York ."
    python -m tasks.tagger export --model ... --out saved_models/tagger
"""

import dataclasses

from tasks import cli
from tasks.tagger import recipe

COMMANDS = ("train", "evaluate", "predict", "export")


def main(argv=None):
    parser = cli.parser("tagger", __doc__, COMMANDS, recipe.PRESETS, None)
    parser.add_argument("--scheme", choices=["pos", "ner"], help="default: the preset's")
    parser.add_argument("--head", choices=["softmax", "crf"], help="override the preset's")
    parser.add_argument("--tag-column", choices=["upos", "xpos"], help="pos: which tags")
    args = cli.arguments(parser, argv)
    args.preset = args.preset or args.scheme or "pos"

    if args.command == "train":
        config = cli.config(args, recipe.PRESETS, scheme=args.scheme, head=args.head,
                            tag_column=args.tag_column)
        if not (args.train and args.dev):
            parser.error("train needs --train and --dev")
        cli.check_model_path(args.model)
        cli.banner("tagger", config)
        train_data = recipe.load(args.train, config, args.data_dir)
        dev_data = recipe.load(args.dev, config, args.data_dir)
        model, _, results = recipe.train(config, train_data, dev_data, cli.train_callbacks(args),
                                         cli.keras_verbosity(args))
        cli.save(model, args)
        _report(results)
        return results

    model = cli.load(args)
    if args.command == "evaluate":
        if not args.dev:
            parser.error("evaluate needs --dev")
        # The scheme and tag format are the model's: read them off its tags.
        scheme = "ner" if any("-" in t for t in model.tags) else "pos"
        iobes = any(t.startswith(("E-", "S-")) for t in model.tags)
        config = dataclasses.replace(recipe.PRESETS[scheme], tag_column=args.tag_column or "upos",
                                     tag_format="iobes" if iobes else "bio")
        results = recipe.evaluate(model, *recipe.load(args.dev, config, args.data_dir), scheme)
        _report(results)
        return results
    if args.command == "predict":
        sentences = args.inputs or ["John Smith lives in New York .", "The cat sat on the mat ."]
        tags = model.predict_tags(sentences)
        for s, t in zip(sentences, tags):
            print(" ".join(f"{w}/{tag}" for w, tag in zip(s.split(), t)))
        return tags
    return cli.export(model, args)


def _report(results):
    print(f"dev token accuracy: {100 * results['accuracy']:.2f}")
    if "entities" in results:
        print(recipe.score_table(results["entities"]))
