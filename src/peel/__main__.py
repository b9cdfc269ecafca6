from peel.cli import main

main()
