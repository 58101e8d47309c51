from tasks.translator.script import main

main()
