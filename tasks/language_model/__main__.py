from tasks.language_model.script import main

main()
