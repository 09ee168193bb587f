from funcatron_wf.engine.cli import main

main()
