from funcatron_wf.cli import main

main()
