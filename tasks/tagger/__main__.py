from tasks.tagger.script import main

main()
