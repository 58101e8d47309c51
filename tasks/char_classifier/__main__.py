from tasks.char_classifier.script import main

main()
