from tasks.sentiment.script import main

main()
