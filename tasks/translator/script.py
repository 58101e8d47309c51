"""`python -m tasks.translator`: train, evaluate, translate, export.

    python -m tasks.translator train --data multi30k --src de --tgt en --data-dir ../shared/data
    python -m tasks.translator train --train pairs.tsv --dev dev.tsv     # source<TAB>target
    python -m tasks.translator evaluate --model saved_models/translator.keras --data multi30k
    python -m tasks.translator translate --model ... "Ein Mann fährt Fahrrad." --beam-size 5
    python -m tasks.translator export --model ... --out saved_models/translator
"""

from tasks import cli
from tasks.translator import recipe
from tasks.translator.model import ATTENTIONS

COMMANDS = ("train", "evaluate", "translate", "export")


def main(argv=None):
    parser = cli.parser("translator", __doc__, COMMANDS, recipe.PRESETS, "default")
    parser.add_argument("--src", default="de", help="--data: the source language")
    parser.add_argument("--tgt", default="en", help="--data: the target language")
    parser.add_argument("--dev-split", default="val", help="--data: the dev split's name")
    parser.add_argument("--attention", choices=ATTENTIONS, help="override the preset's")
    parser.add_argument("--beam-size", type=int, default=1, help="1: greedy")
    args = cli.arguments(parser, argv)

    def pairs(split, path):
        if not (path or args.data):
            parser.error(f"{args.command} needs --data, or --train and --dev")
        return recipe.load(path or args.data, args.src, args.tgt, args.data_dir, split)

    if args.command == "train":
        config = cli.config(args, recipe.PRESETS, attention=args.attention)
        cli.check_model_path(args.model)
        cli.banner("translator", config)
        dev = pairs(args.dev_split, args.dev)
        model, _ = recipe.train(config, pairs("train", args.train), dev,
                                cli.train_callbacks(args), cli.keras_verbosity(args))
        cli.save(model, args)
        score, _ = recipe.bleu(model, dev, args.beam_size)
        print(f"dev {score}")
        return score.score
    model = cli.load(args)
    if args.command == "evaluate":
        score, _ = recipe.bleu(model, pairs(args.dev_split, args.dev), args.beam_size)
        print(score)
        return score.score
    if args.command == "translate":
        texts = args.inputs or ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
        out = model.translate(texts, beam_size=args.beam_size)
        for source, translation in zip(texts, out):
            print(f"{source}\n  -> {translation}")
        return out
    return cli.export(model, args)
