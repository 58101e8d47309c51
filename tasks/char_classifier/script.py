"""`python -m tasks.char_classifier`: train, evaluate, predict, export.

    python -m tasks.char_classifier train --train names.tsv --dev dev.tsv
    python -m tasks.char_classifier predict --model saved_models/char_classifier.keras "Müller"
    python -m tasks.char_classifier export --model ...
"""

from tasks import cli
from tasks.char_classifier import recipe
from tasks.classification import training

COMMANDS = ("train", "evaluate", "predict", "export")


def main(argv=None):
    parser = cli.parser("char_classifier", __doc__, COMMANDS, recipe.PRESETS, "default")
    parser.add_argument("--text-column", default="text", help="header name or index")
    parser.add_argument("--label-column", default="label", help="header name or index")
    args = cli.arguments(parser, argv)
    columns = {k: int(v) if v.isdigit() else v for k, v in
               (("text_column", args.text_column), ("label_column", args.label_column))}

    def data(path, flag):
        if not path:
            parser.error(f"{args.command} needs --{flag}")
        return recipe.load(path, args.data_dir, **columns)

    if args.command == "train":
        config = cli.config(args, recipe.PRESETS)
        cli.check_model_path(args.model)
        cli.banner("character classifier", config)
        model, _, results = recipe.train(config, data(args.train, "train"), data(args.dev, "dev"),
                                         cli.train_callbacks(args), cli.keras_verbosity(args))
        cli.save(model, args)
        print(training.report(results))
        return results
    model = cli.load(args)
    if args.command == "evaluate":
        results = training.scores(model, *data(args.dev, "dev"))
        print(training.report(results))
        return results
    if args.command == "predict":
        texts = args.inputs or ["hello", "bonjour"]
        return training.show_predictions(model, texts)
    return cli.export(model, args)
