from funcatron_wf.cli import run

run()
