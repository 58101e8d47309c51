"""`python -m tasks.sentiment`: train, evaluate, predict, export.

    python -m tasks.sentiment train --data sst --classes 2 --data-dir ../shared/data
    python -m tasks.sentiment train --train reviews.csv --dev dev.csv --text-column review \
        --label-column stars
    python -m tasks.sentiment train --data sst --preset ulmfit --set lm=word_lm.keras
    python -m tasks.sentiment evaluate --model saved_models/sentiment.keras --data sst
    python -m tasks.sentiment predict --model ... "a gorgeous , witty film" "dull"
    python -m tasks.sentiment export --model ... --out saved_models/sentiment
"""

from tasks import cli
from tasks.classification import training
from tasks.classification.model import POOLINGS
from tasks.sentiment import recipe

COMMANDS = ("train", "evaluate", "predict", "export")


def main(argv=None):
    parser = cli.parser("sentiment", __doc__, COMMANDS, recipe.PRESETS, "binary")
    parser.add_argument("--text-column", default="text", help="CSV/TSV: header name or index")
    parser.add_argument("--label-column", default="label", help="CSV/TSV: header name or index")
    parser.add_argument("--classes", type=int, choices=[2, 5], help="SST: binary or 5-class")
    parser.add_argument("--no-phrases", action="store_true", help="SST: sentences only")
    parser.add_argument("--pooling", choices=POOLINGS, help="override the preset's")
    parser.add_argument("--class-weight", action="store_true", help="balance the classes")
    args = cli.arguments(parser, argv)
    config = cli.config(args, recipe.PRESETS, classes=args.classes, pooling=args.pooling,
                        class_weight=args.class_weight or None,
                        phrases=False if args.no_phrases else None)
    columns = {k: int(v) if v.isdigit() else v for k, v in
               (("text_column", args.text_column), ("label_column", args.label_column))}

    def data(split, path):
        if not (path or args.data):
            parser.error(f"{args.command} needs --data or --{split}")
        return recipe.load(path or args.data, config, args.data_dir, split, **columns)

    if args.command == "train":
        cli.check_model_path(args.model)
        cli.banner("sentiment", config)
        model, _, results = recipe.train(config, data("train", args.train), data("dev", args.dev),
                                         callbacks=cli.train_callbacks(args),
                                         verbose=cli.keras_verbosity(args),
                                         data_dir=args.data_dir)
        cli.save(model, args)
        print(recipe.report(results))
        return results
    model = cli.load(args)
    if args.command == "evaluate":
        config.classes = len(model.labels)
        results = recipe.scores(model, *data("dev", args.dev))
        print(recipe.report(results))
        return results
    if args.command == "predict":
        texts = args.inputs or ["a gorgeous , witty , seductive movie .",
                                "the plot is nothing but boilerplate clichés ."]
        return training.show_predictions(model, texts)
    return cli.export(model, args)
